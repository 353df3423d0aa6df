// Python bindings of pcpr_ext._C (thin: see projection.h and gather.h for shapes and semantics).
#include <torch/extension.h>

#include "gather.h"
#include "projection.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "pcpr_ext native projector (CPU and, when built, CUDA)";
  m.def("project", &pcpr::project, "Depth-peeled point projection; see pcpr_ext.project");
  m.def("gather_blocks", &pcpr::gather_blocks_cpu,
        "Features into pixel-major blocks (CPU); see pcpr_ext.FeatureLookup.blocks");
  m.def("gather_blocks_backward", &pcpr::gather_blocks_backward_cpu,
        "Gradient of gather_blocks for its table and background map (CPU)");
  m.def("has_cuda", []() {
#ifdef PCPR_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
}
