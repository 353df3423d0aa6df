// CPU projector. Threads come from ATen's parallel_for (OpenMP in PyTorch's CPU builds).
//
// Two phases, so that no two threads ever write the same pixel and no atomics are needed:
//  1. bin:     every (camera, point) splat is computed once and recorded (key, corner, side: 16
//              bytes) in each band of kBandRows image rows it covers; chunks of points run in
//              parallel, each appending to lists of its own.
//  2. resolve: threads take whole bands; a band's keys (kBandRows x W x 8 bytes a layer) stay in
//              cache while all L depth-peeling passes stream over the band's records with a plain
//              compare-and-store of the packed key.
// Extra memory is 16 bytes per (splat, band) pair plus the output: no N x pixels buffers.
// Small images with many points a pixel (coarse point levels) skip the records instead: each
// thread keeps the L nearest keys of every pixel for its slice of the points, and the slices are
// merged per pixel (project_direct).
// Either way the splats are computed a block of points at a time by vectorised arithmetic
// (splat_block, cloned for AVX-512 and AVX2), then used one point at a time.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "splat.h"

namespace pcpr {
namespace {

constexpr int64_t kBandRows = 16;
constexpr int64_t kPointsPerChunk = 1 << 15;
// Images of at most this many keys (L x H x W), and at least two points a key, are projected
// directly (project_direct): 1 MiB of keys a slice of the points, faster where many points fall on
// few pixels (a coarse point level); larger or emptier images are binned (measured with 20k to 1M
// points at 64² to 512², L = 2).
constexpr int64_t kDirectMaxKeys = 1 << 17;
constexpr int64_t kDirectMinPointsPerPart = 1 << 13;

// A splat as binned: rows and columns as in Splat (rows fit 16 bits: the host limits the height).
struct Record {
  uint64_t key;
  int32_t col0;
  int16_t row0;
  uint16_t side;
};
static_assert(sizeof(Record) == 16, "records are 16 bytes");

struct Geometry {
  const float* points;
  const float* K;
  const float* T;
  const float* near;
  const float* far;
  int64_t B, N, H, W, L, bands_per_camera;
  int max_splat;

  // Bands [first, last] of its camera that the splat's visible rows fall in.
  void bands(const Splat& s, int64_t* first, int64_t* last) const {
    *first = std::max<int64_t>(s.row0, 0) / kBandRows;
    *last = (std::min<int64_t>(s.row0 + s.side, H) - 1) / kBandRows;
  }
};

// Points per block of for_each_splat: its arrays stay in the L1 cache.
constexpr int64_t kSplatBlock = 256;

// One camera's constants for splat_block.
struct CameraConstants {
  float k0, k1, k2, k4, k5;       // K
  float t3, t7, t11;              // camera centre
  float r0, r1, r2, r4, r5, r6, r8, r9, r10;  // R
  float near, far, max_splat;

  CameraConstants(const Geometry& g, int64_t b) {
    const float* k = g.K + 9 * b;
    const float* T = g.T + 12 * b;
    k0 = k[0], k1 = k[1], k2 = k[2], k4 = k[4], k5 = k[5];
    t3 = T[3], t7 = T[7], t11 = T[11];
    r0 = T[0], r1 = T[1], r2 = T[2], r4 = T[4], r5 = T[5], r6 = T[6], r8 = T[8], r9 = T[9],
    r10 = T[10];
    near = g.near[b], far = g.far[b], max_splat = static_cast<float>(g.max_splat);
  }
};

// A block of points' splats, a point per lane; valid[j] = 0 where compute_splat skips the point
// before its bounds check against the image (corners and side are then meaningless).
struct SplatBlock {
  alignas(64) float x[kSplatBlock], y[kSplatBlock], z[kSplatBlock];
  alignas(64) int32_t col0[kSplatBlock], row0[kSplatBlock], side[kSplatBlock], valid[kSplatBlock];
};

// Cloned for AVX-512 and AVX2 where the compiler can (chosen when the module loads).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define PCPR_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PCPR_VECTOR_CLONES
#endif

// compute_splat's arithmetic for the block's points (x, y, z in; z becomes camera depth): the same
// float operations in the same order (contraction into FMAs is off), without branches, so that the
// compiler vectorises it, divisions included. Floors are exact: a valid point's centre lies within
// 2^30 of the image and its span in [0, max_splat].
PCPR_VECTOR_CLONES void splat_block(const CameraConstants& c, int64_t count, SplatBlock* s) {
  constexpr float kLimit = 1073741824.0f;  // 2^30, as compute_splat
  constexpr float kMaxFinite = 3.4028234663852886e38f;
  const int32_t max_side = static_cast<int32_t>(c.max_splat);
  for (int64_t j = 0; j < count; ++j) {
    const float px = s->x[j], py = s->y[j], pz = s->z[j];
    const bool finite = (std::fabs(px) <= kMaxFinite) & (std::fabs(py) <= kMaxFinite) &
                        (std::fabs(pz) <= kMaxFinite);
    const float d0 = px - c.t3, d1 = py - c.t7, d2 = pz - c.t11;
    const float x = d0 * c.r0 + d1 * c.r4 + d2 * c.r8;
    const float y = d0 * c.r1 + d1 * c.r5 + d2 * c.r9;
    const float z = d0 * c.r2 + d1 * c.r6 + d2 * c.r10;
    const float u = (c.k0 * x + c.k1 * y) / z + c.k2 + 0.5f;
    const float v = c.k4 * y / z + c.k5 + 0.5f;
    const float span = c.max_splat * (c.far - z) / (c.far - c.near);
    const bool ok = finite & (z >= c.near) & (z <= c.far) & (u > -kLimit) & (u < kLimit) &
                    (v > -kLimit) & (v < kLimit);
    // (invalid lanes convert 0 instead: converting a float out of int32's range is undefined)
    const float uf = ok ? u : 0.0f, vf = ok ? v : 0.0f, sf = ok ? span : 0.0f;
    const int32_t ui = static_cast<int32_t>(uf), vi = static_cast<int32_t>(vf);
    // below 2: 1; from max_splat on: max_splat; between, its floor (truncation, as it is positive)
    const int32_t side = std::max(static_cast<int32_t>(sf < 2.0f),
                                  std::min(static_cast<int32_t>(sf), max_side));
    const int32_t half = (side - 1) >> 1;
    s->col0[j] = ui - static_cast<int32_t>(uf < static_cast<float>(ui)) - half;
    s->row0[j] = vi - static_cast<int32_t>(vf < static_cast<float>(vi)) - half;
    s->side[j] = side;
    s->z[j] = z;
    s->valid[j] = ok;
  }
}

// Calls fn(splat) for each point of [first, stop) whose splat in camera b touches the image, in
// the points' order, with the splats compute_splat gives (splat_block's arithmetic a block of
// points at a time; the parity tests hold it to the reference pixel for pixel).
template <typename Fn>
void for_each_splat(const Geometry& g, int64_t b, int64_t first, int64_t stop, Fn&& fn) {
  const CameraConstants camera(g, b);
  SplatBlock block;
  for (int64_t start = first; start < stop; start += kSplatBlock) {
    const int64_t count = std::min<int64_t>(kSplatBlock, stop - start);
    const float* p = g.points + 3 * start;
    for (int64_t j = 0; j < count; ++j) {
      block.x[j] = p[3 * j];
      block.y[j] = p[3 * j + 1];
      block.z[j] = p[3 * j + 2];
    }
    splat_block(camera, count, &block);
    for (int64_t j = 0; j < count; ++j) {
      if (!block.valid[j]) continue;
      const int64_t col0 = block.col0[j], row0 = block.row0[j], side = block.side[j];
      if (col0 + side <= 0 || col0 >= g.W || row0 + side <= 0 || row0 >= g.H) continue;
      const uint64_t key =
          (static_cast<uint64_t>(float_bits(block.z[j])) << 32) | static_cast<uint64_t>(start + j);
      fn(Splat{col0, row0, static_cast<int>(side), key});
    }
  }
}

// Phase 1: every chunk of kPointsPerChunk points of one camera appends the records of its splats to
// its own list per band of that camera; lists[chunk * bands_per_camera + band].
std::vector<std::vector<Record>> bin_points(const Geometry& g, int64_t chunks_per_camera) {
  std::vector<std::vector<Record>> lists(g.B * chunks_per_camera * g.bands_per_camera);
  at::parallel_for(0, g.B * chunks_per_camera, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      const int64_t b = chunk / chunks_per_camera;
      const int64_t first_point = (chunk % chunks_per_camera) * kPointsPerChunk;
      const int64_t stop = std::min(g.N, first_point + kPointsPerChunk);
      std::vector<Record>* mine = lists.data() + chunk * g.bands_per_camera;
      for_each_splat(g, b, first_point, stop, [&](const Splat& s) {
        const Record rec{s.key, static_cast<int32_t>(s.col0), static_cast<int16_t>(s.row0),
                         static_cast<uint16_t>(s.side)};
        int64_t first, last;
        g.bands(s, &first, &last);
        for (int64_t band = first; band <= last; ++band) mine[band].push_back(rec);
      });
    }
  });
  return lists;
}

// Phase 2: depth peeling of one band of camera b, all layers, over the band's lists of records.
void resolve_band(const Geometry& g, int64_t b, int64_t band, int64_t chunks_per_camera,
                  const std::vector<std::vector<Record>>& lists, uint64_t* keys) {
  const int64_t row_lo = band * kBandRows;
  const int64_t row_hi = std::min(row_lo + kBandRows, g.H);
  for (int64_t layer = 0; layer < g.L; ++layer) {
    uint64_t* cur = keys + (b * g.L + layer) * g.H * g.W;
    const uint64_t* prev = layer > 0 ? cur - g.H * g.W : nullptr;
    for (int64_t chunk = b * chunks_per_camera; chunk < (b + 1) * chunks_per_camera; ++chunk) {
      for (const Record& e : lists[chunk * g.bands_per_camera + band]) {
        const int64_t r1 = std::min<int64_t>(e.row0 + e.side, row_hi);
        const int64_t c0 = std::max<int64_t>(e.col0, 0);
        const int64_t c1 = std::min<int64_t>(e.col0 + e.side, g.W);
        for (int64_t r = std::max<int64_t>(e.row0, row_lo); r < r1; ++r) {
          for (int64_t c = c0; c < c1; ++c) {
            const int64_t pix = r * g.W + c;
            if (e.key < cur[pix] && (prev == nullptr || e.key > prev[pix])) cur[pix] = e.key;
          }
        }
      }
    }
  }
}

// Inserts key into a pixel's L keys, kept sorted (smallest first) and distinct.
inline void insert_key(uint64_t* top, int64_t L, uint64_t key) {
  if (key >= top[L - 1]) return;
  int64_t j = L - 1;
  for (; j > 0 && top[j - 1] > key; --j) top[j] = top[j - 1];
  top[j] = key;
}

// Small images: each of `parts` slices of the points keeps its own L nearest keys per pixel (one
// insertion per splat pixel, L keys of a pixel side by side), then the slices' lists are merged per
// pixel. One pass over the points and no records: a coarse level of a million points took 13 ms
// binned, mostly in writing and reading the records. Layer l is the l-th smallest key of a pixel,
// which is what peeling finds, so the answer is the same.
void project_direct(const Geometry& g, uint64_t* keys) {
  const int64_t pixels = g.H * g.W, L = g.L;
  const int64_t parts = std::max<int64_t>(
      1, std::min<int64_t>(at::get_num_threads(), g.N / kDirectMinPointsPerPart));
  std::vector<uint64_t> lists(parts * pixels * L);
  for (int64_t b = 0; b < g.B; ++b) {
    std::fill(lists.begin(), lists.end(), static_cast<uint64_t>(kEmptyKey));
    at::parallel_for(0, parts, 1, [&](int64_t begin, int64_t end) {
      for (int64_t part = begin; part < end; ++part) {
        uint64_t* top = lists.data() + part * pixels * L;
        for_each_splat(g, b, g.N * part / parts, g.N * (part + 1) / parts, [&](const Splat& s) {
          const int64_t r0 = std::max<int64_t>(s.row0, 0), r1 = std::min<int64_t>(s.row0 + s.side, g.H);
          const int64_t c0 = std::max<int64_t>(s.col0, 0), c1 = std::min<int64_t>(s.col0 + s.side, g.W);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = c0; c < c1; ++c) insert_key(top + (r * g.W + c) * L, L, s.key);
        });
      }
    });
    at::parallel_for(0, pixels, 1 << 12, [&](int64_t begin, int64_t end) {
      for (int64_t pix = begin; pix < end; ++pix) {
        uint64_t* top = lists.data() + pix * L;
        for (int64_t part = 1; part < parts; ++part) {
          const uint64_t* other = lists.data() + (part * pixels + pix) * L;
          for (int64_t l = 0; l < L && other[l] != static_cast<uint64_t>(kEmptyKey); ++l)
            insert_key(top, L, other[l]);
        }
        for (int64_t l = 0; l < L; ++l) keys[(b * L + l) * pixels + pix] = top[l];
      }
    });
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> project_cpu(const at::Tensor& points, const at::Tensor& K,
                                               const at::Tensor& cam_to_world, int64_t height,
                                               int64_t width, int64_t num_layers,
                                               const at::Tensor& near, const at::Tensor& far,
                                               int64_t max_splat) {
  TORCH_CHECK_VALUE(height <= INT16_MAX && width <= INT32_MAX, "the CPU projector takes images of at "
                    "most ", std::to_string(INT16_MAX), " rows, got ", std::to_string(height));
  const int64_t B = K.size(0), N = points.size(0);
  const Geometry g{points.data_ptr<float>(), K.data_ptr<float>(), cam_to_world.data_ptr<float>(),
                   near.data_ptr<float>(), far.data_ptr<float>(), B, N, height, width, num_layers,
                   (height + kBandRows - 1) / kBandRows, static_cast<int>(max_splat)};
  auto keys = at::full({B, num_layers, height, width}, kEmptyKey, points.options().dtype(at::kLong));
  auto* key_ptr = reinterpret_cast<uint64_t*>(keys.data_ptr<int64_t>());

  const int64_t keys_per_camera = num_layers * height * width;
  if (keys_per_camera <= kDirectMaxKeys && N >= 2 * keys_per_camera) {
    project_direct(g, key_ptr);
  } else {
    const int64_t chunks_per_camera = (N + kPointsPerChunk - 1) / kPointsPerChunk;
    const auto lists = bin_points(g, chunks_per_camera);
    at::parallel_for(0, B * g.bands_per_camera, 1, [&](int64_t begin, int64_t end) {
      for (int64_t job = begin; job < end; ++job)
        resolve_band(g, job / g.bands_per_camera, job % g.bands_per_camera, chunks_per_camera,
                     lists, key_ptr);
    });
  }

  // Unpack in place: the key tensor becomes the index output.
  auto depth = at::empty({B, num_layers, height, width}, points.options());
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
