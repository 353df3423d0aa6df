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
#include <ATen/Parallel.h>

#include <algorithm>
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

  bool splat(int64_t b, int64_t i, Splat* s) const {
    return compute_splat(points + 3 * i, K + 9 * b, T + 12 * b, near[b], far[b], max_splat, H, W,
                         i, s);
  }
  // Bands [first, last] of its camera that the splat's visible rows fall in.
  void bands(const Splat& s, int64_t* first, int64_t* last) const {
    *first = std::max<int64_t>(s.row0, 0) / kBandRows;
    *last = (std::min<int64_t>(s.row0 + s.side, H) - 1) / kBandRows;
  }
};

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
      for (int64_t i = first_point; i < stop; ++i) {
        Splat s;
        if (!g.splat(b, i, &s)) continue;
        const Record rec{s.key, static_cast<int32_t>(s.col0), static_cast<int16_t>(s.row0),
                         static_cast<uint16_t>(s.side)};
        int64_t first, last;
        g.bands(s, &first, &last);
        for (int64_t band = first; band <= last; ++band) mine[band].push_back(rec);
      }
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
        for (int64_t i = g.N * part / parts; i < g.N * (part + 1) / parts; ++i) {
          Splat s;
          if (!g.splat(b, i, &s)) continue;
          const int64_t r0 = std::max<int64_t>(s.row0, 0), r1 = std::min<int64_t>(s.row0 + s.side, g.H);
          const int64_t c0 = std::max<int64_t>(s.col0, 0), c1 = std::min<int64_t>(s.col0 + s.side, g.W);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t c = c0; c < c1; ++c) insert_key(top + (r * g.W + c) * L, L, s.key);
        }
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
