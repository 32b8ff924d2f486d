"""The library that computes the FFT ops (:func:`dualad.rules.fft.backend`): ducc0 and NumPy give
the same values, and ``DUALAD_FFT`` names one of them or fails saying which it accepts.  (Every
test of ``tests/test_fft.py`` runs on both libraries.)
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import dualad.rules.fft as rules_fft


@pytest.mark.parametrize("value", ["mkl", "NUMPY"])
def test_the_fft_library_variable_names_a_library(value):
    code = "import numpy as np, dualad as ad; ad.grad(lambda x: np.sum(np.abs(np.fft.rfft(x))**2))(np.ones(4))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "DUALAD_FFT": value})
    assert proc.returncode != 0
    assert "ValueError" in proc.stderr and "names no FFT library" in proc.stderr and "one of ducc0, numpy" in proc.stderr


def test_large_transforms_agree_between_the_libraries(monkeypatch):
    """The two libraries' values agree on long and odd lengths, in both directions and dtypes."""
    pytest.importorskip("ducc0")
    rng = np.random.default_rng(3)
    for n, dtype, tol in [(2**15, np.float64, 1e-12), (3 * 5 * 7 * 11 * 13, np.float64, 1e-12), (4097, np.float32, 1e-4)]:
        x = rng.standard_normal((2, n)).astype(dtype)
        got = {}
        for lib in rules_fft.BACKENDS:
            monkeypatch.setattr(rules_fft, "backend", lambda lib=lib: lib)
            y = rules_fft._rfft(x, axis=-1, norm="ortho", real=None, batch=0)
            got[lib] = (y, rules_fft._irfft(y, n=n, axis=-1, norm="ortho", real=None, batch=0))
        (a, ia), (b, ib) = got["ducc0"], got["numpy"]
        assert a.dtype == b.dtype and ia.dtype == ib.dtype
        np.testing.assert_allclose(a, b, atol=tol * np.abs(b).max())
        np.testing.assert_allclose(ia, x, atol=tol * 10 * np.abs(x).max())
