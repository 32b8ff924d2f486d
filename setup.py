"""dualad: forward- and reverse-mode automatic differentiation of NumPy code."""

from pathlib import Path

from setuptools import find_packages, setup

here = Path(__file__).parent
version = {}
for line in (here / "dualad" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        exec(line, version)

setup(
    name="dualad",
    version=version["__version__"],
    description="Automatic differentiation of NumPy code: vectorised dual tensors, Wengert tapes, "
    "one rule table compiled by Numba",
    long_description=(here / "README.md").read_text(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dualad", "dualad.*"]),
    package_data={"dualad": ["py.typed"]},
    python_requires=">=3.10",
    install_requires=["numpy>=1.26", "numba>=0.59"],
    extras_require={
        "test": [
            "pytest>=7", "hypothesis>=6", "scipy>=1.11", "ruff>=0.5", "scikit-learn>=1.2",
            "dask[distributed]>=2023.1", "tqdm>=4.60", "cloudpickle>=2.0",
        ],
        "docs": ["sphinx>=7.2", "furo>=2024.1", "myst-parser>=2.0", "numpydoc>=1.6"],
        "graphviz": ["graphviz>=0.20"],
        "plot": ["matplotlib>=3.7"],
        "cuda": ["numba-cuda[cu12]>=0.30", "cupy-cuda12x>=13"],
        # the peers for benchmarks/compare.py; torch 2.13.0 is the CPU build this project pins
        "sparse": ["scipy>=1.11"],
        "distributed": ["dask[distributed]>=2023.1", "tqdm>=4.60", "cloudpickle>=2.0"],
        "bench": ["torch==2.13.0", "jax>=0.4.30", "jaxlib>=0.4.30", "autograd>=1.7", "asv>=0.6"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Mathematics",
    ],
)
