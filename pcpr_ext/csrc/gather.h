// pcpr_ext native feature gather into the U-Net's pixel-major layout (CPU).
//
// Shapes (float32 / int64, contiguous, on the CPU):
//   table   (R, C)           row 0 the background feature, row i + 1 point i's features
//   index   (B, L, H, W)     point index per layer and pixel, -1 where no point is (H, W multiples of u)
//   background (B, C, H, W)  optional: the features where the index is -1 (default: table row 0)
// Returns
//   blocks  (B, H/u, W/u, L*C*u*u)  each u x u block of pixels' features side by side, in
//                                   F.pixel_unshuffle's channel order (layer, feature, row, column)
//
// The same values as table[index + 1] (or the background map) rearranged, as FeatureLookup.blocks'
// torch path (its reference) gives them, written once: no row lookup followed by a transposing
// copy.
//
// gather_blocks_backward(grad (B, H/u, W/u, L*C*u*u), index, u, R, background) -> (grad_table (R, C),
// grad_background (B, C, H, W), undefined unless background): each block channel's gradient added
// to the table row (or background pixel) it was read from; the same sums on every run.
#pragma once

#include <ATen/ATen.h>

#include <optional>
#include <tuple>

namespace pcpr {

at::Tensor gather_blocks_cpu(const at::Tensor& table, const at::Tensor& index, int64_t block,
                             const std::optional<at::Tensor>& background);

std::tuple<at::Tensor, at::Tensor> gather_blocks_backward_cpu(const at::Tensor& grad,
                                                              const at::Tensor& index,
                                                              int64_t block, int64_t rows,
                                                              bool background);

}  // namespace pcpr
