// CUDA projector: one thread per (camera, point) in a grid-stride loop, z-buffer by the hardware's
// 64-bit atomicMin on packed keys; all cameras in one launch per layer.
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "splat.h"

namespace pcpr {
namespace {

constexpr int kThreads = 256;

__global__ void splat_layer_kernel(const float* __restrict__ points, const float* __restrict__ K,
                                   const float* __restrict__ T, const float* __restrict__ near,
                                   const float* __restrict__ far, int64_t B, int64_t N, int64_t H,
                                   int64_t W, int64_t L, int64_t layer, int max_splat,
                                   unsigned long long* keys) {
  const int64_t total = B * N;
  for (int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t b = t / N, i = t - b * N;
    Splat s;
    if (!compute_splat(points + 3 * i, K + 9 * b, T + 12 * b, near[b], far[b], max_splat, H, W, i,
                       &s))
      continue;
    unsigned long long* cur = keys + (b * L + layer) * H * W;
    for (int64_t r = max(s.row0, int64_t(0)); r < min(s.row0 + s.side, H); ++r) {
      for (int64_t c = max(s.col0, int64_t(0)); c < min(s.col0 + s.side, W); ++c) {
        const int64_t pix = r * W + c;
        if (layer > 0 && s.key <= cur[pix - H * W]) continue;
        atomicMin(cur + pix, static_cast<unsigned long long>(s.key));
      }
    }
  }
}

__global__ void unpack_kernel(int64_t* keys, float* depth, int64_t n) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t key = keys[j];
    if (key == kEmptyKey) {
      depth[j] = 0.0f;
      keys[j] = -1;
    } else {
      depth[j] = __uint_as_float(static_cast<uint32_t>(static_cast<uint64_t>(key) >> 32));
      keys[j] = key & 0xFFFFFFFFLL;
    }
  }
}

int blocks_for(int64_t n, int device) {
  int sms = 0;
  C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>((n + kThreads - 1) / kThreads,
                                                                   int64_t(sms) * 32)));
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> project_cuda(const at::Tensor& points,
                                                      const at::Tensor& K,
                                                      const at::Tensor& cam_to_world,
                                                      int64_t height, int64_t width,
                                                      int64_t num_layers, const at::Tensor& near,
                                                      const at::Tensor& far, int64_t max_splat) {
  const c10::cuda::CUDAGuard guard(points.device());
  const int64_t B = K.size(0), N = points.size(0);
  auto keys = at::full({B, num_layers, height, width}, kEmptyKey,
                          points.options().dtype(at::kLong));
  auto depth = at::empty({B, num_layers, height, width}, points.options());
  auto stream = c10::cuda::getCurrentCUDAStream();
  const int device = points.get_device();
  if (B * N > 0) {
    for (int64_t layer = 0; layer < num_layers; ++layer) {
      splat_layer_kernel<<<blocks_for(B * N, device), kThreads, 0, stream>>>(
          points.data_ptr<float>(), K.data_ptr<float>(), cam_to_world.data_ptr<float>(),
          near.data_ptr<float>(), far.data_ptr<float>(), B, N, height, width, num_layers, layer,
          static_cast<int>(max_splat),
          reinterpret_cast<unsigned long long*>(keys.data_ptr<int64_t>()));
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  }
  if (keys.numel() > 0) {
    unpack_kernel<<<blocks_for(keys.numel(), device), kThreads, 0, stream>>>(
        keys.data_ptr<int64_t>(), depth.data_ptr<float>(), keys.numel());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {depth, keys};
}

}  // namespace pcpr
