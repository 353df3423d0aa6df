// One point's splat in one camera, as the CUDA kernel computes it (the CPU kernel does the same
// operations a block of points at a time, vectorised: splat_block in projection_cpu.cpp).
//
// The arithmetic follows pcpr_ext/PROJECTION.md step by step, in float32 and in the same
// order as pcpr_ext/reference.py. Both builds disable contraction into fused multiply-adds
// (-ffp-contract=off, nvcc --fmad=false), so every backend lands each point on the same pixels.
#pragma once

#include <cstring>

#include "projection.h"

namespace pcpr {

PCPR_HOST_DEVICE bool finite3(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return isfinite(a) && isfinite(b) && isfinite(c);
#else
  return std::isfinite(a) && std::isfinite(b) && std::isfinite(c);
#endif
}

PCPR_HOST_DEVICE uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

// floor(x) as an integer, exactly, for |x| < 2^30 (without a libm call on the host).
PCPR_HOST_DEVICE int64_t floor_to_int(float x) {
  const int64_t i = static_cast<int64_t>(x);  // truncates towards zero
  return i - (x < static_cast<float>(i) ? 1 : 0);
}

// p: the point (3,), k: K (3x3 row-major), T: [R | t] (3x4 row-major).
// Returns false when the point is skipped (non-finite, outside [near, far], square off the image).
PCPR_HOST_DEVICE bool compute_splat(const float* p, const float* k, const float* T, float near,
                                    float far, int max_splat, int64_t height, int64_t width,
                                    int64_t index, Splat* out) {
  if (!finite3(p[0], p[1], p[2])) return false;
  const float d0 = p[0] - T[3], d1 = p[1] - T[7], d2 = p[2] - T[11];
  // Xc = R^T d: component j is column j of R dotted with d.
  const float x = d0 * T[0] + d1 * T[4] + d2 * T[8];
  const float y = d0 * T[1] + d1 * T[5] + d2 * T[9];
  const float z = d0 * T[2] + d1 * T[6] + d2 * T[10];
  if (!(z >= near && z <= far)) return false;
  const float uc = (k[0] * x + k[1] * y) / z + k[2] + 0.5f;
  const float vc = k[4] * y / z + k[5] + 0.5f;
  // Far outside the image (or NaN): skipped. Images and splats are far smaller than 2^30 pixels,
  // so the exact integer floor below never sees a value that could still touch the image.
  constexpr float kLimit = 1073741824.0f;  // 2^30
  if (!(uc > -kLimit && uc < kLimit && vc > -kLimit && vc < kLimit)) return false;
  // z lies in [near, far], so the side before clamping lies in [0, max_splat]; only a value in
  // [2, max_splat) needs its floor (one conversion less for most points).
  const float span = static_cast<float>(max_splat) * (far - z) / (far - near);
  const int64_t side = span < 2.0f ? 1
                       : span >= static_cast<float>(max_splat) ? max_splat : floor_to_int(span);
  const int64_t half = (side - 1) / 2;
  const int64_t col0 = floor_to_int(uc) - half, row0 = floor_to_int(vc) - half;
  if (col0 + side <= 0 || col0 >= width || row0 + side <= 0 || row0 >= height) return false;
  out->col0 = col0;
  out->row0 = row0;
  out->side = static_cast<int>(side);
  out->key = (static_cast<uint64_t>(float_bits(z)) << 32) | static_cast<uint64_t>(index);
  return true;
}

}  // namespace pcpr
