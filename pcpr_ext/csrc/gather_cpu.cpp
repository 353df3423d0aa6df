// CPU feature gather into pixel-major blocks (gather.h). One job per row of blocks: each block's
// L x u x u lookups are copied from the table straight to their channels.
#include "gather.h"

#include <ATen/Parallel.h>

#include <string>

namespace pcpr {

at::Tensor gather_blocks_cpu(const at::Tensor& table, const at::Tensor& index, int64_t block,
                             const std::optional<at::Tensor>& background) {
  TORCH_CHECK_TYPE(table.scalar_type() == at::kFloat && index.scalar_type() == at::kLong,
                   "gather_blocks takes a float32 table and an int64 index");
  TORCH_CHECK(table.is_cpu() && index.is_cpu(), "gather_blocks runs on the CPU");
  TORCH_CHECK(table.is_contiguous() && index.is_contiguous(), "gather_blocks needs contiguous "
              "tensors");
  TORCH_CHECK_VALUE(table.dim() == 2 && index.dim() == 4, "gather_blocks takes a (R, C) table and "
                    "a (B, L, H, W) index");
  const int64_t B = index.size(0), L = index.size(1), H = index.size(2), W = index.size(3);
  const int64_t R = table.size(0), C = table.size(1), u = block;
  TORCH_CHECK_VALUE(u >= 1 && H % u == 0 && W % u == 0, "the image (", std::to_string(H), "x",
                    std::to_string(W), ") must split into blocks of ", std::to_string(u));
  const float* bg = nullptr;
  if (background.has_value()) {
    const at::Tensor& map = *background;
    TORCH_CHECK_VALUE(map.scalar_type() == at::kFloat && map.is_cpu() && map.is_contiguous() &&
                          map.dim() == 4 && map.size(0) == B && map.size(1) == C &&
                          map.size(2) == H && map.size(3) == W,
                      "the background must be a contiguous float32 (B, C, H, W) map on the CPU");
    bg = map.data_ptr<float>();
  }
  const int64_t hu = H / u, wu = W / u, uu = u * u, per_pixel = L * C * uu;
  auto out = at::empty({B, hu, wu, per_pixel}, table.options());
  const float* rows = table.data_ptr<float>();
  const int64_t* idx = index.data_ptr<int64_t>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, B * hu, 1, [&](int64_t begin, int64_t end) {
    for (int64_t job = begin; job < end; ++job) {
      const int64_t b = job / hu, by = job % hu;
      for (int64_t l = 0; l < L; ++l) {
        for (int64_t dy = 0; dy < u; ++dy) {
          const int64_t* line = idx + ((b * L + l) * H + by * u + dy) * W;
          float* out_line = dst + job * wu * per_pixel + l * C * uu + dy * u;
          for (int64_t x = 0; x < W; ++x) {
            const int64_t r = line[x] + 1;
            TORCH_CHECK_INDEX(r >= 0 && r < R, "index ", std::to_string(r - 1), " out of [-1, ",
                              std::to_string(R - 1), ")");
            float* o = out_line + (x / u) * per_pixel + x % u;
            if (r == 0 && bg != nullptr) {  // the background map's features at this pixel
              const float* src = bg + (b * C * H + by * u + dy) * W + x;
              for (int64_t c = 0; c < C; ++c) o[c * uu] = src[c * H * W];
            } else {
              const float* src = rows + r * C;
              for (int64_t c = 0; c < C; ++c) o[c * uu] = src[c];
            }
          }
        }
      }
    }
  });
  return out;
}

}  // namespace pcpr
