// CPU projector: ATen's parallel_for (OpenMP in PyTorch's CPU builds) over points, z-buffer by a
// lock-free compare-and-swap minimum on 64-bit packed keys.
#include <ATen/Parallel.h>

#include <cstring>

#include "splat.h"

namespace pcpr {
namespace {

// Lowers *addr to key if key is smaller. Lock-free: a failed exchange means another thread lowered
// the value, and the loop ends once key is no longer smaller.
inline void atomic_min(uint64_t* addr, uint64_t key) {
  uint64_t old = __atomic_load_n(addr, __ATOMIC_RELAXED);
  while (key < old &&
         !__atomic_compare_exchange_n(addr, &old, key, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
}

// One depth-peeling pass: layer `layer` of every camera keeps, per pixel, the smallest key greater
// than the previous layer's key there.
void splat_layer(const float* points, const float* K, const float* T, const float* near,
                 const float* far, int64_t B, int64_t N, int64_t H, int64_t W, int64_t L,
                 int64_t layer, int max_splat, uint64_t* keys) {
  for (int64_t b = 0; b < B; ++b) {
    uint64_t* cur = keys + (b * L + layer) * H * W;
    const uint64_t* prev = layer > 0 ? cur - H * W : nullptr;
    at::parallel_for(0, N, 2048, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        Splat s;
        if (!compute_splat(points + 3 * i, K + 9 * b, T + 12 * b, near[b], far[b], max_splat, H,
                           W, i, &s))
          continue;
        for (int64_t r = s.row0; r < s.row0 + s.side; ++r) {
          if (r < 0 || r >= H) continue;
          for (int64_t c = s.col0; c < s.col0 + s.side; ++c) {
            if (c < 0 || c >= W) continue;
            const int64_t pix = r * W + c;
            if (prev != nullptr && s.key <= prev[pix]) continue;
            atomic_min(cur + pix, s.key);
          }
        }
      }
    });
  }
}

}  // namespace

std::tuple<torch::Tensor, torch::Tensor> project_cpu(const torch::Tensor& points,
                                                     const torch::Tensor& K,
                                                     const torch::Tensor& cam_to_world,
                                                     int64_t height, int64_t width,
                                                     int64_t num_layers, const torch::Tensor& near,
                                                     const torch::Tensor& far, int64_t max_splat) {
  const int64_t B = K.size(0), N = points.size(0);
  auto keys = torch::full({B, num_layers, height, width}, kEmptyKey,
                          points.options().dtype(torch::kInt64));
  auto* key_ptr = reinterpret_cast<uint64_t*>(keys.data_ptr<int64_t>());
  for (int64_t layer = 0; layer < num_layers; ++layer) {
    splat_layer(points.data_ptr<float>(), K.data_ptr<float>(), cam_to_world.data_ptr<float>(),
                near.data_ptr<float>(), far.data_ptr<float>(), B, N, height, width, num_layers,
                layer, static_cast<int>(max_splat), key_ptr);
  }
  // Unpack in place: the key tensor becomes the index output.
  auto depth = torch::empty({B, num_layers, height, width}, points.options());
  float* depth_ptr = depth.data_ptr<float>();
  int64_t* index_ptr = keys.data_ptr<int64_t>();
  at::parallel_for(0, keys.numel(), 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t j = begin; j < end; ++j) {
      const int64_t key = index_ptr[j];
      if (key == kEmptyKey) {
        depth_ptr[j] = 0.0f;
        index_ptr[j] = -1;
      } else {
        const uint32_t bits = static_cast<uint32_t>(static_cast<uint64_t>(key) >> 32);
        std::memcpy(depth_ptr + j, &bits, sizeof(float));
        index_ptr[j] = key & 0xFFFFFFFFLL;
      }
    }
  });
  return {depth, keys};
}

}  // namespace pcpr
