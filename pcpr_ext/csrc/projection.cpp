// Host side of pcpr_ext.project: checks every argument, then runs the CPU or CUDA kernel.
#include <string>

#include "projection.h"

namespace pcpr {
namespace {

// Messages are built from strings only: numbers and shapes go through std::to_string, never an
// ostream. A GPU image's compiler linked its own libstdc++ into the extension, and streaming an
// integer into torch's message builder then crashed (the stream's locale belonged to the other
// libstdc++); strings pass through a stream without touching its locale.
std::string str(int64_t value) { return std::to_string(value); }

std::string str(at::IntArrayRef sizes) {
  std::string out = "[";
  for (size_t i = 0; i < sizes.size(); ++i) out += (i ? ", " : "") + std::to_string(sizes[i]);
  return out + "]";
}

void check_float_tensor(const at::Tensor& t, const char* name, const at::Tensor& points) {
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, name, " must be float32, got ",
                   c10::toString(t.scalar_type()));
  TORCH_CHECK(t.device() == points.device(), name, " is on ", t.device().str(),
              " but points are on ", points.device().str());
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> project(const at::Tensor& points, const at::Tensor& K,
                                                 const at::Tensor& cam_to_world, int64_t height,
                                                 int64_t width, int64_t num_layers,
                                                 const at::Tensor& near, const at::Tensor& far,
                                                 int64_t max_splat) {
  check_float_tensor(points, "points", points);
  check_float_tensor(K, "K", points);
  check_float_tensor(cam_to_world, "cam_to_world", points);
  check_float_tensor(near, "near", points);
  check_float_tensor(far, "far", points);
  TORCH_CHECK_VALUE(points.dim() == 2 && points.size(1) == 3, "points must have shape (N, 3), got ",
                    str(points.sizes()));
  TORCH_CHECK_VALUE(points.size(0) < (int64_t(1) << 32), "at most 2^32 - 1 points, got ",
                    str(points.size(0)));
  TORCH_CHECK_VALUE(K.dim() == 3 && K.size(1) == 3 && K.size(2) == 3,
                    "K must have shape (B, 3, 3), got ", str(K.sizes()));
  const int64_t B = K.size(0);
  TORCH_CHECK_VALUE(cam_to_world.dim() == 3 && cam_to_world.size(0) == B &&
                        cam_to_world.size(1) == 3 && cam_to_world.size(2) == 4,
                    "cam_to_world must have shape (", str(B), ", 3, 4), got ",
                    str(cam_to_world.sizes()));
  TORCH_CHECK_VALUE(near.dim() == 1 && near.size(0) == B && far.dim() == 1 && far.size(0) == B,
                    "near and far must have shape (", str(B), ",)");
  TORCH_CHECK_VALUE(height >= 1 && width >= 1, "height and width must be >= 1, got ", str(height),
                    "x", str(width));
  TORCH_CHECK_VALUE(num_layers >= 1, "num_layers must be >= 1, got ", str(num_layers));
  TORCH_CHECK_VALUE(max_splat >= 1 && max_splat <= 1024, "max_splat must be in [1, 1024], got ",
                    str(max_splat));
  // The depth range's values are checked where they live on the host: reading a CUDA tensor's
  // would wait for the GPU on every call (pcpr_ext.project checks them for every device).
  TORCH_CHECK_VALUE(B == 0 || !near.is_cpu() ||
                        (near > 0).logical_and(near < far).logical_and(far.isfinite()).all().item<bool>(),
                    "need 0 < near < far < inf");
  if (points.is_cuda()) {
#ifdef PCPR_WITH_CUDA
    return project_cuda(points, K, cam_to_world, height, width, num_layers, near, far, max_splat);
#else
    TORCH_CHECK(false, "pcpr_ext was built without CUDA");
#endif
  }
  TORCH_CHECK(points.is_cpu(), "points must be on the CPU or a CUDA device, got ",
              points.device().str());
  return project_cpu(points, K, cam_to_world, height, width, num_layers, near, far, max_splat);
}

}  // namespace pcpr
