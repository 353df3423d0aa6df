"""Installs npcr, pcpr_ext and exparamgen, and builds pcpr_ext's native projector.

``pip install -e . --no-build-isolation`` builds ``pcpr_ext._C`` against the installed torch: the C++
CPU kernel always, the CUDA kernel too when torch has CUDA and nvcc is found. Environment:
``FORCE_CUDA=1`` insists on the CUDA kernel (an error if it cannot be built), ``NPCR_NO_EXT=1`` skips
native code (pcpr_ext then uses its pure-torch reference).
"""
import os
import sys

from setuptools import find_packages, setup

CSRC = "pcpr_ext/csrc"


def native_extensions() -> tuple[list, dict]:
    if os.environ.get("NPCR_NO_EXT", "0") == "1":
        return [], {}
    import torch
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

    sources = [f"{CSRC}/{name}" for name in ("bindings.cpp", "projection.cpp",
                                             "projection_cpu.cpp")]
    # No fused multiply-adds: every backend must land each point on the same pixel.
    cxx = ["-O3", "-ffp-contract=off"]
    link = []
    if sys.platform.startswith("linux"):
        # at::parallel_for is header code: it runs in parallel only where this build has OpenMP.
        cxx.append("-fopenmp")
        link.append("-fopenmp")
    force_cuda = os.environ.get("FORCE_CUDA", "0") == "1"
    has_cuda = torch.version.cuda is not None and CUDA_HOME is not None
    if force_cuda and not has_cuda:
        raise RuntimeError("FORCE_CUDA=1, but the installed torch has no CUDA or nvcc was not found "
                           f"(torch {torch.__version__}, CUDA_HOME={CUDA_HOME})")
    if has_cuda:
        ext = CUDAExtension("pcpr_ext._C", sources + [f"{CSRC}/projection_cuda.cu"],
                            define_macros=[("PCPR_WITH_CUDA", None)],
                            extra_compile_args={"cxx": cxx, "nvcc": ["-O3", "--fmad=false"]},
                            extra_link_args=link)
    else:
        ext = CppExtension("pcpr_ext._C", sources, extra_compile_args={"cxx": cxx},
                           extra_link_args=link)
    return [ext], {"build_ext": BuildExtension}


ext_modules, cmdclass = native_extensions()

setup(
    name="npcr",
    version="0.1.0",
    description="Neural point-cloud rendering: depth-peeled point projector, antialiased U-Net, "
                "temporal refinement",
    packages=find_packages(include=["npcr", "npcr.*", "pcpr_ext", "pcpr_ext.*", "exparamgen",
                                    "exparamgen.*"]),
    python_requires=">=3.10",
    install_requires=["torch>=2.1", "pytorch-ignite>=0.5", "yacs", "opencv-python-headless",
                      "open3d>=0.18", "antialiased-cnns", "pycolmap", "pytorch-msssim",
                      "tensorboard", "tqdm", "numpy"],
    ext_modules=ext_modules,
    cmdclass=cmdclass,
)
