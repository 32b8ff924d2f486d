"""asv benchmarks for the FFT (issue 15): the reverse-mode gradient of ``sum(abs(rfft(x))**2)``
for n = 2^20 next to the primal, so (gradient − primal) / primal is the AD overhead that
``python -m benchmarks.linalg_overhead`` also measures for PyTorch and JAX."""

import functools

import numpy as np

import dualad as ad

from ._settings import SlowCalls

N = 2**20


def rfft_power(x):
    """``Σ |rfft(x)_k|²`` over the half spectrum."""
    return np.sum(np.abs(np.fft.rfft(x)) ** 2)


@functools.cache
def _state(variant: str):
    x = np.random.default_rng(0).standard_normal(N)
    fn = {"primal": rfft_power, "grad": ad.grad(rfft_power)}[variant]
    fn(x)  # kernels loaded outside the timings
    return fn, x


class RfftPower(SlowCalls):
    """``sum(abs(rfft(x))**2)``, n = 2^20: the NumPy primal and dualad's reverse-mode gradient."""

    params = ["primal", "grad"]
    param_names = ["variant"]

    def setup(self, variant):
        self.fn, self.x = _state(variant)

    def time_rfft_power(self, variant):
        self.fn(self.x)

    def peakmem_rfft_power(self, variant):
        self.fn(self.x)
