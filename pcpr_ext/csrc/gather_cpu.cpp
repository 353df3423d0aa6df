// CPU feature gather into pixel-major blocks (gather.h), and its gradient. One job per row of
// blocks: each block's L x u x u lookups are copied from the table straight to their channels
// (backward: each channel's gradient added to the row it came from).
#include "gather.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <string>
#include <tuple>

namespace pcpr {
namespace {

constexpr int64_t kPrefetchAhead = 32;

// Asks for a table row ahead of its use (a hint: no effect on any value; none where the compiler
// has no such builtin).
template <bool kWrites>
inline void prefetch(const float* row) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(row, kWrites);
#endif
}

// The lookups of one row of blocks (job = b * H/u + block row), in memory order: calls
// fn(r, slot, pixel) with r the table row (index + 1, checked), slot the offset of the lookup's
// first channel in the (B, H/u, W/u, L*C*u*u) blocks (its channels u*u apart) and pixel the offset
// of its pixel in a (B, C, H, W) map (its channels H*W apart). The row of ``table`` (R x C floats,
// the one fn reads, or adds to where kWrites) that the lookup kPrefetchAhead further along the
// line names is prefetched: a large cloud's table is read at random (1M points x 8 features: 32
// MB), and waiting for each row in turn was half the time of a 1M-point 1024² gather (14.2 -> 7.0
// ms on 2 cores of an AMD EPYC; 16 lookups ahead gave 8.0, 64 the same as 32; its gradient 19.9
// -> 14.0 ms).
template <bool kWrites, typename Fn>
void for_each_lookup(const int64_t* idx, int64_t job, int64_t L, int64_t H, int64_t W, int64_t C,
                     int64_t u, int64_t rows, const float* table, Fn&& fn) {
  const int64_t hu = H / u, wu = W / u, uu = u * u, per_pixel = L * C * uu;
  const int64_t b = job / hu, by = job % hu;
  for (int64_t l = 0; l < L; ++l) {
    for (int64_t dy = 0; dy < u; ++dy) {
      const int64_t* line = idx + ((b * L + l) * H + by * u + dy) * W;
      const int64_t slots = job * wu * per_pixel + l * C * uu + dy * u;
      const int64_t pixels = (b * C * H + by * u + dy) * W;
      for (int64_t x = 0; x < W; ++x) {
        if (x + kPrefetchAhead < W) {
          const int64_t next = line[x + kPrefetchAhead] + 1;
          if (next > 0 && next < rows) prefetch<kWrites>(table + next * C);
        }
        const int64_t r = line[x] + 1;
        TORCH_CHECK_INDEX(r >= 0 && r < rows, "index ", std::to_string(r - 1), " out of [-1, ",
                          std::to_string(rows - 1), ")");
        fn(r, slots + (x / u) * per_pixel + x % u, pixels + x);
      }
    }
  }
}

}  // namespace

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
      for_each_lookup<false>(idx, job, L, H, W, C, u, R, rows,
                             [&](int64_t r, int64_t slot, int64_t pixel) {
        float* o = dst + slot;
        if (r == 0 && bg != nullptr) {  // the background map's features at this pixel
          for (int64_t c = 0; c < C; ++c) o[c * uu] = bg[pixel + c * H * W];
        } else {
          const float* src = rows + r * C;
          for (int64_t c = 0; c < C; ++c) o[c * uu] = src[c];
        }
      });
    }
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> gather_blocks_backward_cpu(const at::Tensor& grad,
                                                              const at::Tensor& index,
                                                              int64_t block, int64_t rows,
                                                              bool background) {
  TORCH_CHECK_TYPE(grad.scalar_type() == at::kFloat && index.scalar_type() == at::kLong,
                   "gather_blocks_backward takes a float32 gradient and an int64 index");
  TORCH_CHECK(grad.is_cpu() && index.is_cpu() && grad.is_contiguous() && index.is_contiguous(),
              "gather_blocks_backward takes contiguous CPU tensors");
  TORCH_CHECK_VALUE(index.dim() == 4 && grad.dim() == 4, "gather_blocks_backward takes a "
                    "(B, H/u, W/u, L*C*u*u) gradient and a (B, L, H, W) index");
  const int64_t B = index.size(0), L = index.size(1), H = index.size(2), W = index.size(3);
  const int64_t u = block;
  TORCH_CHECK_VALUE(u >= 1 && H % u == 0 && W % u == 0 && rows >= 1, "the image (",
                    std::to_string(H), "x", std::to_string(W), ") must split into blocks of ",
                    std::to_string(u));
  const int64_t hu = H / u, wu = W / u, uu = u * u;
  TORCH_CHECK_VALUE(L >= 1 && grad.size(0) == B && grad.size(1) == hu && grad.size(2) == wu &&
                        grad.size(3) > 0 && grad.size(3) % (L * uu) == 0,
                    "the gradient's shape does not match the index and block");
  const int64_t per_pixel = grad.size(3), C = per_pixel / (L * uu);
  // Each part of the rows of blocks sums into a table of its own (no two threads add to one row),
  // and the parts' tables are added in a fixed order: the same sums on every run. A part's table
  // is zeroed and added whole, so there are more parts than one only where each has more lookups
  // than the table has rows (a training crop of a large cloud, or a coarse level, takes one), at
  // most one a thread and 2^26 floats of tables together.
  const int64_t jobs = B * hu, lookups = B * L * H * W;
  const int64_t parts = std::max<int64_t>(
      1, std::min<int64_t>({at::get_num_threads(), jobs, lookups / rows,
                            (int64_t{1} << 26) / (rows * C)}));
  auto partial = at::zeros({parts, rows, C}, grad.options());
  auto grad_background = background ? at::zeros({B, C, H, W}, grad.options()) : at::Tensor();
  float* part_ptr = partial.data_ptr<float>();
  float* bg = background ? grad_background.data_ptr<float>() : nullptr;
  const float* src = grad.data_ptr<float>();
  const int64_t* idx = index.data_ptr<int64_t>();
  at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
    for (int64_t part = begin; part < end; ++part) {
      float* table = part_ptr + part * rows * C;
      for (int64_t job = jobs * part / parts; job < jobs * (part + 1) / parts; ++job) {
        for_each_lookup<true>(idx, job, L, H, W, C, u, rows, table,
                              [&](int64_t r, int64_t slot, int64_t pixel) {
          const float* g = src + slot;
          if (r == 0 && bg != nullptr) {  // the background map's pixel
            for (int64_t c = 0; c < C; ++c) bg[pixel + c * H * W] += g[c * uu];
          } else {
            float* dst = table + r * C;
            for (int64_t c = 0; c < C; ++c) dst[c] += g[c * uu];
          }
        });
      }
    }
  });
  return {parts == 1 ? partial[0] : partial.sum(0), grad_background};
}

}  // namespace pcpr
