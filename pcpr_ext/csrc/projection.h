// pcpr_ext native projector: depth-peeled z-buffer of splatted points.
//
// Contract: pcpr_ext/PROJECTION.md (the pure-torch twin pcpr_ext/reference.py defines the
// answer; every backend here must give the same indices and the same depth bits).
//
// Shapes (all float32 contiguous on one device; B cameras, N points, L layers):
//   points        (N, 3)      world coordinates
//   K             (B, 3, 3)   pinhole intrinsics; u = (K00 x + K01 y) / z + K02, v = K11 y / z + K12
//   cam_to_world  (B, 3, 4)   [R | t], R's columns the camera axes in world, t its centre
//   near, far     (B,)        depth range kept, 0 < near < far < inf (values checked here only
//                             on the CPU; pcpr_ext.project checks them on every device)
// Returns
//   depth         (B, L, H, W) float32, 0 where empty
//   index         (B, L, H, W) int64, -1 where empty
//
// Algorithm: per pixel, the minimum of the packed key (float32 depth bits << 32) | point index; for
// positive float32 depths the bit pattern orders like the value. Layer l keeps the smallest key
// strictly greater than layer l-1's key at that pixel (depth peeling). All B cameras in one call.
//   CUDA: one thread per (camera, point), 64-bit atomicMin, one launch per layer.
//   CPU:  splats binned into bands of image rows, then each band resolved by one thread with plain
//         stores; small images with many points a pixel: per-thread L nearest keys of each pixel,
//         merged (projection_cpu.cpp). No locks anywhere, nothing that spins.
#pragma once

#include <cmath>
#include <cstdint>
#include <tuple>

#include <ATen/ATen.h>

#if defined(__CUDACC__)
#define PCPR_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define PCPR_HOST_DEVICE inline
#endif

namespace pcpr {

constexpr int64_t kEmptyKey = INT64_MAX;

// The splat square of one point in one camera: top-left pixel, side, packed key.
struct Splat {
  int64_t col0, row0;
  int side;
  uint64_t key;
};

// Checks every argument (dtype, device, contiguity, shapes, ranges) and runs the kernel of the
// points' device. Errors surface in Python as TypeError / ValueError / RuntimeError.
std::tuple<at::Tensor, at::Tensor> project(const at::Tensor& points, const at::Tensor& K,
                                                 const at::Tensor& cam_to_world, int64_t height,
                                                 int64_t width, int64_t num_layers,
                                                 const at::Tensor& near, const at::Tensor& far,
                                                 int64_t max_splat);

std::tuple<at::Tensor, at::Tensor> project_cpu(const at::Tensor& points,
                                                     const at::Tensor& K,
                                                     const at::Tensor& cam_to_world,
                                                     int64_t height, int64_t width,
                                                     int64_t num_layers, const at::Tensor& near,
                                                     const at::Tensor& far, int64_t max_splat);

#ifdef PCPR_WITH_CUDA
std::tuple<at::Tensor, at::Tensor> project_cuda(const at::Tensor& points,
                                                      const at::Tensor& K,
                                                      const at::Tensor& cam_to_world,
                                                      int64_t height, int64_t width,
                                                      int64_t num_layers, const at::Tensor& near,
                                                      const at::Tensor& far, int64_t max_splat);
#endif

}  // namespace pcpr
