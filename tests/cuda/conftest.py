"""The CUDA tests run under the CUDA simulator or on a real GPU, else they are skipped.

``test_cuda_kernels.py`` checks every rule's kernels against the CPU kernels;
``test_gpu_arrays.py`` runs every transform on device arrays (the CuPy test double
``fakecupy.py`` under the simulator, CuPy on a real GPU).

The simulator must be chosen before Numba is imported, so these tests run in a pytest process
of their own::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda

Collected by the main suite (no simulator, no GPU), every test here is reported as skipped with
the reason.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def _unavailable() -> str | None:
    """Why the CUDA tests cannot run here, or None when they can."""
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        return None
    if not (shutil.which("nvidia-smi") or ctypes.util.find_library("cuda")):
        return "no CUDA GPU or driver here; run them under the simulator: NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/cuda"
    try:
        from numba import cuda

        if cuda.is_available():
            return None
        return f"numba.cuda finds no usable GPU ({cuda.cuda_error()}); run them with NUMBA_ENABLE_CUDASIM=1"
    except Exception as exc:  # numba-cuda without its bindings, a broken driver...
        return f"numba.cuda cannot be used ({exc}); run them with NUMBA_ENABLE_CUDASIM=1"


REASON = _unavailable()


def pytest_collection_modifyitems(config, items):
    if REASON is None:
        return
    skip = pytest.mark.skip(reason=f"CUDA tests: {REASON}")
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(skip)
