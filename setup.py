"""Installs the packages npcr, pcpr_ext and exparamgen (``pip install -e . --no-build-isolation``)."""
from setuptools import find_packages, setup

setup(
    name="npcr",
    version="0.1.0",
    description="Neural point-cloud rendering: depth-peeled point projector, antialiased U-Net, "
                "temporal refinement",
    packages=find_packages(include=["npcr", "npcr.*", "pcpr_ext", "pcpr_ext.*", "exparamgen",
                                    "exparamgen.*"]),
    python_requires=">=3.10",
    install_requires=["torch>=2.1", "pytorch-ignite>=0.5", "yacs", "opencv-python-headless",
                      "open3d>=0.18", "antialiased-cnns", "tensorboard", "tqdm", "numpy"],
)
