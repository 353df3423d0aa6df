"""Builds pcpr_ext's native projector; metadata, dependencies and entry points are in pyproject.toml.

``pip install --no-build-isolation .`` (or ``-e .``) builds ``pcpr_ext._C`` against the installed
torch: the C++ CPU kernel always, the CUDA kernel too when torch has CUDA and nvcc is found. Plain
``pip install .`` builds in isolation, without the environment's packages: pip still runs the
environment's interpreter, so its torch is found in that environment's site-packages; where it is
not (``python -m build`` makes a fresh one), the build stops with one line saying what to run.
Environment: ``FORCE_CUDA=1`` insists on the CUDA kernel (an error if it cannot be built),
``NPCR_NO_EXT=1`` skips native code (pcpr_ext then uses its pure-torch reference).
"""
import os
import sys
import sysconfig

from setuptools import setup

CSRC = "pcpr_ext/csrc"
NO_TORCH = ("npcr: building pcpr_ext needs the torch it will run with, and this build cannot see "
            "one: install torch first, then `pip install --no-build-isolation .` or `python -m "
            "build --no-isolation` (NPCR_NO_EXT=1 builds without the native projector)")


def environment_torch():
    """The torch module of the environment this build is for (see the module docstring)."""
    try:
        import torch
        return torch
    except ImportError:
        pass
    paths = sysconfig.get_paths()
    for path in dict.fromkeys((paths["purelib"], paths["platlib"])):
        if os.path.isdir(os.path.join(path, "torch")) and path not in sys.path:
            sys.path.append(path)  # after the isolated build's own packages
    try:
        import torch
        return torch
    except ImportError:
        sys.exit(NO_TORCH)


def native_extensions() -> tuple[list, dict]:
    if os.environ.get("NPCR_NO_EXT", "0") == "1":
        return [], {}
    torch = environment_torch()
    from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

    sources = [f"{CSRC}/{name}" for name in ("bindings.cpp", "projection.cpp",
                                             "projection_cpu.cpp", "gather_cpu.cpp")]
    # No fused multiply-adds: every backend must land each point on the same pixel. No trapping
    # math (nothing reads floating-point exception flags; results are unchanged): the compiler may
    # then vectorise the projector's per-point arithmetic with its selects and conversions.
    cxx = ["-O3", "-ffp-contract=off", "-fno-trapping-math"]
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

setup(ext_modules=ext_modules, cmdclass=cmdclass)
