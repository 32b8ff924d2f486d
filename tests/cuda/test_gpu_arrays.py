"""Device arrays through every transform: CuPy-like inputs give the CPU's numbers, on the device.

Under the CUDA simulator the device arrays are :mod:`fakecupy`'s (a CuPy test double: no
implicit host conversion, NumPy's protocols, ``__cuda_array_interface__``); device memory is
host memory there, so the CUDA kernels generated from the rule table run on their buffers in
place.  On a real GPU the same tests run on CuPy's arrays (skipped when CuPy is missing).
Each transform is computed on the host copy too and the numbers must agree; results must be
device arrays of the input's dtype; no host-to-device or device-to-host copy may happen while
differentiating (counted by the test double); the elementwise work must go through the CUDA
kernels (CPU kernels are made to fail); host and device arrays mixed must raise a
``TypeError`` that names the fix.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import dualad as ad
from dualad import kernels as cpu_kernels
from dualad.core import device
from dualad.kernels import cuda as kc

if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
    import fakecupy as cp  # simulated device memory is host memory: the double's buffers work
else:  # a real GPU: the double's host buffers cannot reach the kernels, CuPy's can
    try:
        import cupy as cp
    except ImportError:
        cp = None
FAKE = cp is not None and cp.__name__ == "fakecupy"

ROOT = Path(__file__).resolve().parents[2]
DTYPES = [np.float64, np.float32]
TOL = {np.float64: dict(rtol=1e-9, atol=1e-11), np.float32: dict(rtol=2e-4, atol=2e-5)}
N = 6

pytestmark = [
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
    pytest.mark.skipif(cp is None, reason="GPU-array tests on a real GPU need CuPy: pip install -e '.[cuda]'"),
]


# --- the programs: elementwise rules, reductions, matmul, indexing, where, reshape, concat -------


def make_scalar(A):
    """A scalar function of x (shape (N,)) closing over the matrix ``A`` (host or device)."""

    def f(x):
        h = np.tanh(A @ x)
        r = np.sum(h**2) + np.mean(np.exp(-x * x) * np.sin(x)) + np.sum(x[1:] * x[:-1])
        r = r + np.sum(np.where(x > 0.3, x**3, np.log1p(x * x))) + np.sum(np.maximum(x, 0.5) / (1.0 + x**2))
        return r + np.sum(np.sqrt(x * x + 1.0).reshape(2, 3).T * x[:3, None])

    return f


def make_vector(A):
    """R^N -> R^(2N): concatenation, transpose, broadcasting, division."""

    def g(x):
        u = np.sin(x) * x - np.cos(x) / (2.0 + x)
        v = (A @ x).reshape(2, 3).T.ravel() + np.exp(x[:, None] * x[None, :]).sum(axis=0) * 0.1
        return np.concatenate([u, v])

    return g


@pytest.fixture(params=DTYPES, ids=["f64", "f32"])
def case(request):
    dtype = request.param
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, N).astype(dtype)
    A = (rng.normal(size=(N, N)) / N).astype(dtype)
    v = rng.normal(size=N).astype(dtype)
    return dtype, x, A, v


# --- checks ---------------------------------------------------------------------------------


def dev(a):
    """A device copy of ``a``, made by the test (not counted as a copy by dualad)."""
    return cp.ndarray(np.array(a)) if FAKE else cp.asarray(a)


def peek(a):
    """The host values of a device array, read by the test (not counted as a copy)."""
    return a._a.copy() if FAKE else cp.asnumpy(a)


def leaves(tree):
    if isinstance(tree, (tuple, list)):
        return [leaf for t in tree for leaf in leaves(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in leaves(tree[k])]
    return [tree]


def same(dev_out, host_out, dtype, what):
    d, h = leaves(dev_out), leaves(host_out)
    assert len(d) == len(h), what
    for i, (a, b) in enumerate(zip(d, h)):
        assert isinstance(a, cp.ndarray), f"{what} [{i}]: a {type(a).__name__}, not a device array"
        got = peek(a)
        assert got.dtype == np.dtype(dtype), f"{what} [{i}]: dtype {got.dtype}, input was {np.dtype(dtype)}"
        np.testing.assert_allclose(got, np.asarray(b), err_msg=what, **TOL[dtype])


class OnDevice:
    """``with gpu(): ...`` runs its body with the CPU kernels made to fail, the CUDA kernel
    launches counted by kind (``gpu.launches``), and host<->device copies and scalar reads of
    device values (which would wait for the device) forbidden."""

    def __init__(self, monkeypatch):
        self.mp = monkeypatch
        self.launches: Counter = Counter()

    def __call__(self, to_device: int | None = 0):
        # host-to-device copies expected (scalar arguments, index arrays moved over); None:
        # not counted
        self.to_device = to_device
        return self

    def __enter__(self):
        def no_cpu(*args, **kwargs):
            raise AssertionError("a CPU kernel ran on device values")

        for name in ("jvp", "vjp", "value"):
            self.mp.setattr(cpu_kernels, name, no_cpu)
        real, launches = kc.get_kernel, self.launches

        class Spy:
            def __init__(self, kind, kern):
                self.kind, self.kern = kind, kern

            def __getitem__(self, config):
                launches[self.kind] += 1
                return self.kern[config]

        self.mp.setattr(kc, "get_kernel", lambda rule, kind, pattern: Spy(kind, real(rule, kind, pattern)))
        self.before = Counter(cp.STATS) if FAKE else None
        return self

    def __exit__(self, *exc):
        self.mp.undo()
        if exc[0] is None and FAKE:  # only the test double counts copies
            copies = {k: cp.STATS[k] - self.before[k] for k in ("to_device", "get", "sync")}
            want = {"to_device": self.to_device if self.to_device is not None else copies["to_device"], "get": 0, "sync": 0}
            assert copies == want, f"host<->device copies or waits while differentiating: {copies}"
        return False


@pytest.fixture
def gpu(monkeypatch):
    return OnDevice(monkeypatch)


# --- forward mode ----------------------------------------------------------------------------


def test_jvp(case, gpu):
    dtype, x, A, v = case
    want = ad.jvp(make_scalar(A), (x,), (v,))
    xd, Ad, vd = dev(x), dev(A), dev(v)
    with gpu():
        got = ad.jvp(make_scalar(Ad), (xd,), (vd,))
    same(got, want, dtype, "jvp")
    assert gpu.launches["jvp"] > 0


def test_jacfwd_and_jacobian_forward(case, gpu):
    dtype, x, A, _ = case
    want = ad.jacfwd(make_vector(A))(x)
    g = make_vector(dev(A))
    xd = dev(x)
    with gpu():
        got = [ad.jacfwd(g)(xd), ad.jacfwd(g, chunk_size=4)(xd), ad.jacobian(g, mode="forward")(xd)]
    same(got[0], want, dtype, "jacfwd")
    same(got[1], want, dtype, "jacfwd, chunks of 4 lanes")
    same(got[2], want, dtype, "jacobian(mode='forward')")
    assert gpu.launches["jvp"] > 0 and gpu.launches["vjp"] == 0


def test_jacobian_auto_mode(case, gpu):
    """mode='auto' measures both modes on the device values and returns a device Jacobian."""
    dtype, x, A, _ = case
    g = make_vector(dev(A))
    jac = ad.jacobian(g)
    with gpu():
        got = jac(dev(x))
    same(got, ad.jacfwd(make_vector(A))(x), dtype, "jacobian(mode='auto')")
    assert jac.decision.mode in ("forward", "reverse")


def test_derivative_orders(gpu):
    f = lambda x: np.sin(x) * np.exp(-x * x)
    x = np.array([0.2, 0.7, 1.3])
    xd = dev(x)
    for order in (1, 2, 3):
        with gpu():
            got = ad.derivative(f, order=order)(xd)
        same(got, ad.derivative(f, order=order)(x), np.float64, f"derivative order {order}")


# --- reverse mode ----------------------------------------------------------------------------


def test_grad_value_and_grad_vjp(case, gpu):
    dtype, x, A, v = case
    f, g = make_scalar(A), make_vector(A)
    fd, gd = make_scalar(dev(A)), make_vector(dev(A))
    xd = dev(x)
    ct = np.concatenate([v, v[::-1]])
    ctd = dev(ct)
    y, pull = ad.vjp(g, x)
    with gpu():
        got = [ad.grad(fd)(xd), ad.value_and_grad(fd)(xd)]
        yd, pulld = ad.vjp(gd, xd)
        ctd_pulled = pulld(ctd)
    same(got[0], ad.grad(f)(x), dtype, "grad")
    same(got[1], ad.value_and_grad(f)(x), dtype, "value_and_grad")
    same(yd, y, dtype, "vjp value")
    same(ctd_pulled, pull(ct), dtype, "vjp pullback")
    assert gpu.launches["vjp"] > 0


def test_jacrev_and_jacobian_reverse(case, gpu):
    dtype, x, A, _ = case
    want = ad.jacrev(make_vector(A))(x)
    g = make_vector(dev(A))
    xd = dev(x)
    with gpu():
        got = [ad.jacrev(g)(xd), ad.jacrev(g, chunk_size=5)(xd), ad.jacobian(g, mode="reverse")(xd)]
    same(got[0], want, dtype, "jacrev")
    same(got[1], want, dtype, "jacrev, chunks of 5 rows")
    same(got[2], want, dtype, "jacobian(mode='reverse')")
    assert gpu.launches["vjp"] > 0


def test_several_arguments_and_pytrees(gpu):
    rng = np.random.default_rng(3)
    params = {"w": rng.normal(size=(3, 4)), "b": rng.normal(size=4)}
    x = rng.normal(size=(5, 3))

    def loss(p, x):
        h = np.tanh(x @ p["w"] + p["b"])
        return np.mean(h * h) + 0.5 * np.sum(p["w"] ** 2)

    pd = {k: dev(a) for k, a in params.items()}
    xd = dev(x)
    with gpu():
        got = [ad.grad(loss)(pd, xd), ad.grad(loss, argnums=(0, 1))(pd, xd), ad.jacfwd(loss, argnums=1)(pd, xd)]
        got += [ad.jacobian(loss, argnums=(0, 1), mode=m, chunk_size=7)(pd, xd) for m in ("forward", "reverse")]
        got += [ad.jacrev(loss, argnums=(0, 1), chunk_size=1)(pd, xd)]
    same(got[0], ad.grad(loss)(params, x), np.float64, "grad of a dict")
    same(got[1], ad.grad(loss, argnums=(0, 1))(params, x), np.float64, "grad, argnums=(0, 1)")
    same(got[2], ad.jacfwd(loss, argnums=1)(params, x), np.float64, "jacfwd of argument 1")
    want = ad.jacfwd(loss, argnums=(0, 1))(params, x)
    for i, m in enumerate(("forward", "reverse")):
        same(got[3 + i], want, np.float64, f"jacobian(mode={m!r}) of a dict and an array, chunks of 7 lanes")
    same(got[5], want, np.float64, "jacrev of a dict and an array, one row per sweep")


# --- structural ops one by one -------------------------------------------------------------------

M3 = np.array([[4.0, 1.0, 0.5], [0.2, 3.0, -1.0], [0.0, 0.7, 5.0]])

# name -> program(x, xp): xp is NumPy for the host reference, the device library for the device run
STRUCTURAL = {
    "max_min": lambda x, xp: np.max(x) + np.min(x[::2]),
    "prod": lambda x, xp: np.prod(x),
    "cumsum": lambda x, xp: np.sum(np.cumsum(x) ** 2),
    "setitem": lambda x, xp: _setitem(x),
    "index_host_array": lambda x, xp: np.sum(x[np.array([0, 2, 2])] ** 2),
    "index_device_array": lambda x, xp: np.sum(x[xp.asarray(np.array([0, 2, 2]))] ** 2),
    "solve": lambda x, xp: np.sum(np.linalg.solve(xp.asarray(M3), x[:3])),
    "norm_var_std": lambda x, xp: np.linalg.norm(x) + np.var(x) + np.std(x),
    "stack": lambda x, xp: np.sum(np.stack([x, x**2]) ** 2),
    "sort": lambda x, xp: np.sum(np.sort(x) * x[::-1]),
    "clip_abs": lambda x, xp: np.sum(np.clip(x, 0.3, 0.6) ** 2) + np.sum(np.abs(x - 0.5)),
    "dot_outer_trace": lambda x, xp: np.dot(x, x) + np.trace(np.outer(x, x[::-1])),
    "ml_helpers": lambda x, xp: ad.logsumexp(x) + np.sum(ad.softmax(x) * x) + np.sum(ad.relu(x - 0.5)),
    "diag_triu": lambda x, xp: np.sum(np.diag(np.outer(x, x))) + np.sum(np.triu(np.outer(x, x[::-1]))),
    "mean_axis": lambda x, xp: np.sum(np.mean(x.reshape(2, 3), axis=0) ** 2),
    "pad_tile": lambda x, xp: np.sum(np.pad(x, 1, constant_values=0.5) ** 2) + np.sum(np.tile(x, 2) ** 3),
    "flip_roll": lambda x, xp: np.sum(np.flip(x) * np.roll(x, 1)),
}


def _setitem(x):
    y = x.copy()
    y[0:2] = x[2:4] * 3.0
    y[np.array([4, 5])] = x[0:2] ** 2
    return np.sum(y**2)


@pytest.mark.parametrize("name", list(STRUCTURAL))
def test_structural_ops(name, gpu):
    f = STRUCTURAL[name]
    x = np.array([0.35, 0.8, 0.15, 0.6, 0.45, 0.7])
    host_f, dev_f = (lambda x: f(x, np)), (lambda x: f(x, cp))
    xd = dev(x)
    with gpu(to_device=None):  # index arrays and masks computed by NumPy are copied over
        got = [ad.grad(dev_f)(xd), ad.hessian(dev_f)(xd)]
    same(got[0], ad.grad(host_f)(x), np.float64, f"{name}: grad")
    same(got[1], ad.hessian(host_f)(x), np.float64, f"{name}: hessian")


# --- nested: Hessians in all four orders, hvp --------------------------------------------------


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"])
def test_hessian_every_order(mode, case, gpu):
    dtype, x, A, _ = case
    want = ad.hessian(make_scalar(A), mode=mode)(x)
    f, xd = make_scalar(dev(A)), dev(x)
    with gpu():
        got = ad.hessian(f, mode=mode)(xd)
    same(got, want, dtype, f"hessian {mode}")
    np.testing.assert_allclose(peek(got), peek(got).T, **TOL[dtype])
    # the outer level's kernels: tangent lanes forward, adjoints reverse (inner levels may
    # reach the device only through values and adjoints, e.g. reverse-over-forward)
    assert gpu.launches["jvp" if mode.startswith("forward") else "vjp"] > 0


def test_hvp_one_and_several_directions(case, gpu):
    dtype, x, A, v = case
    f, fd = make_scalar(A), make_scalar(dev(A))
    V = np.stack([v, v[::-1], np.ones_like(v)])
    xd, vd, Vd = dev(x), dev(v), dev(V)
    with gpu():
        got = [ad.hvp(fd, xd, vd), ad.hvp(fd, xd, Vd)]
    same(got[0], ad.hvp(f, x, v), dtype, "hvp")
    same(got[1], ad.hvp(f, x, V), dtype, "hvp, 3 directions")


def test_third_order_by_nesting(gpu):
    """jacfwd(hessian): a third derivative tensor, three levels over device values."""
    f = lambda x: np.sum(np.sin(x) * x**2) + np.sum(x[1:] * x[:-1] ** 2)
    x = np.array([0.3, -0.4, 0.8])
    third = ad.jacfwd(ad.hessian(f))
    xd = dev(x)
    with gpu():
        got = third(xd)
    same(got, third(x), np.float64, "third derivative")


# --- the value types by hand ---------------------------------------------------------------------


def test_dual_and_variable(case, gpu):
    dtype, x, A, v = case
    V = np.stack([v, 2 * v])
    xd, vd, Vd = dev(x), dev(v), dev(V)
    with gpu():
        d = ad.Dual(xd, vd)
        out = np.sum(np.tanh(d) * d) + np.exp(d).mean()
        lanes = np.sin(ad.Dual(xd, Vd)).tangent
    d = ad.Dual(x, v)
    ref = np.sum(np.tanh(d) * d) + np.exp(d).mean()
    same((out.primal, out.tangent), (ref.primal, ref.tangent), dtype, "Dual")
    same(lanes, np.sin(ad.Dual(x, V)).tangent, dtype, "Dual with 2 lanes")

    wh = ad.Variable(x)
    np.sum(np.log1p(wh * wh) * wh).backward()
    with gpu():
        w = ad.Variable(xd)
        np.sum(np.log1p(w * w) * w).backward()
    same(w.grad, wh.grad, dtype, "Variable.grad")
    with gpu():
        u = ad.Variable(xd)
        y = np.sin(u)
        y.backward(gradient=vd)
    assert isinstance(y.value, cp.ndarray)
    same(u.grad, np.cos(x) * v, dtype, "Variable.backward(gradient)")
    assert gpu.launches["jvp"] > 0 and gpu.launches["vjp"] > 0


def test_scalars_go_with_device_arrays(gpu):
    """Python numbers next to device arrays have no place: they go to the device."""
    x, t = np.array([0.5, 1.0, 2.0]), np.arange(3.0)
    f = lambda x, w: np.sum(w * x**2)
    xd, td = dev(x), dev(t)
    with gpu(to_device=3):  # 2.0, 0.0 and 2.0 are moved to the device
        got = [ad.jvp(f, (xd, 2.0), (td, 0.0)), ad.grad(f, argnums=(0, 1))(xd, 2.0)]
    same(got[0], ad.jvp(f, (x, 2.0), (t, 0.0)), np.float64, "jvp with a scalar argument")
    same(got[1], ad.grad(f, argnums=(0, 1))(x, 2.0), np.float64, "grad of a scalar argument")
    # NumPy scalars and 0-d arrays inside f are constants of the kernels (filled on the device)
    g = lambda x: np.sum(np.sin(x * np.array(2.0)) + np.float64(1.5) * x ** np.float64(3.0))
    with gpu():
        got = [ad.grad(g)(xd), ad.hessian(g, mode="reverse-over-reverse")(xd)]
    same(got[0], ad.grad(g)(x), np.float64, "grad with NumPy scalar constants")
    same(got[1], ad.hessian(g, mode="reverse-over-reverse")(x), np.float64, "hessian with NumPy scalar constants")


@pytest.mark.parametrize("make", [lambda: ad.optim.SGD(0.1, momentum=0.9, nesterov=True), lambda: ad.optim.Adam(0.05)], ids=["SGD", "Adam"])
def test_optimisers_on_device(make, gpu):
    """Functional updates and PyTorch-style steps keep parameters and state on the device."""
    rng = np.random.default_rng(5)
    host = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    x = rng.normal(size=(4, 3))
    loss = lambda p, x: np.mean(np.tanh(x @ p["w"] + p["b"]) ** 2)
    params, xd = {k: dev(v) for k, v in host.items()}, dev(x)
    opt_h, opt_d = make(), make()
    state_h, state_d = opt_h.init(host), opt_d.init(params)
    for _ in range(3):
        host, state_h = opt_h.update(ad.grad(loss)(host, x), state_h, host)
        with gpu():
            params, state_d = opt_d.update(ad.grad(loss)(params, xd), state_d, params)
    same(params, host, np.float64, f"{type(opt_d).__name__}.update")
    w_h, w_d = ad.Variable(x[0]), ad.Variable(xd[0])
    for w, opt in ((w_h, make()), (w_d, make())):
        for _ in range(2):
            np.sum(np.sin(w) ** 2).backward()
            opt.step(w)
            opt.zero_grad(w)
    same(w_d.value, w_h.value, np.float64, f"{type(opt_d).__name__}.step")


def test_check_grads_on_device():
    """Random directions are placed on the device; finite differences are taken there."""
    x = dev(np.linspace(0.1, 0.9, N))
    ad.check_grads(make_scalar(dev(np.eye(N) * 0.3)), (x,), order=2)
    # the value of sum(sin) with the derivative of 2 sum(sin): the check must fail
    wrong = lambda x: np.sum(2.0 * np.sin(x) - ad.primal(np.sin(x)))
    with pytest.raises(AssertionError, match="order 1, forward mode"):
        ad.check_grads(wrong, (x,), order=1)


def test_record_and_trace_say_they_take_host_arrays():
    xd = dev(np.linspace(0.1, 0.9, 4))
    with pytest.raises(NotImplementedError, match=r"record replays on host .*x\.get\(\)"):
        ad.record(lambda x: np.sum(np.sin(x)), xd)
    with pytest.raises(TypeError, match=r"host \(NumPy\) arrays: pass x\.get\(\)"):
        ad.trace(lambda x: np.sum(np.sin(x)), xd)


# --- mixing host and device arrays: a clear error, and the next call works -----------------------


def mix_message() -> str:
    """The mixing error, as a regex: names both arrays and both fixes."""
    xp = device.namespace(dev(np.ones(1))).__name__
    return rf"mixing a host \(NumPy\) array .* with a device array \({cp.ndarray.__module__}\.ndarray\).*{xp}\.asarray\(a\).*\.get\(\)"


def test_mixing_host_and_device_is_a_clear_error():
    MIX = mix_message()
    rng = np.random.default_rng(1)
    x, A = rng.uniform(0.1, 0.9, N), rng.normal(size=(N, N))
    xd = dev(x)
    with pytest.raises(TypeError, match=MIX):
        ad.grad(make_scalar(A))(xd)  # a host matrix inside f
    with pytest.raises(TypeError, match=MIX):
        ad.jacfwd(lambda x: np.sin(x) * np.ones(N))(xd)  # a host array in an elementwise op
    with pytest.raises(TypeError, match=MIX):
        ad.grad(lambda a, b: np.sum(a * b), argnums=(0, 1))(xd, x)  # arguments on both sides
    with pytest.raises(TypeError, match=MIX):
        ad.jvp(np.sin, (xd,), (x,))
    with pytest.raises(TypeError, match=MIX):
        ad.hvp(make_scalar(dev(A)), xd, x)
    with pytest.raises(TypeError, match=MIX):
        ad.Dual(xd, x)
    with pytest.raises(TypeError, match=MIX):
        ad.Variable(xd) * x
    with pytest.raises(TypeError, match=MIX):
        ad.vjp(np.sin, xd)[1](x)
    with pytest.raises(TypeError, match=MIX):
        np.where(ad.Variable(xd) > 0.5, ad.Variable(xd), x)
    with pytest.raises(TypeError, match=MIX):
        ad.grad(lambda x: np.sum(x[cp.asarray(np.array([0, 1]))]))(x)  # a host array, a device index
    with pytest.raises(NotImplementedError, match="sparsity=None for device arrays"):
        ad.jacobian(np.sin, sparsity="auto")(xd)
    # nothing is left in a bad state
    same(ad.grad(make_scalar(dev(A)))(xd), ad.grad(make_scalar(A))(x), np.float64, "grad after the errors")


# --- plumbing -----------------------------------------------------------------------------------


def test_device_helpers():
    xd = cp.asarray(np.ones(3, np.float32))
    assert device.is_device(xd) and not device.is_device(np.ones(3)) and not device.is_device(1.0)
    xp = xd.__array_namespace__() if hasattr(xd, "__array_namespace__") else cp
    assert device.namespace(xd) is xp and device.namespace(np.ones(2)) is np
    assert isinstance(device.zeros((2,), np.float32, xd), cp.ndarray)
    assert device.eye(2, 3, 1, np.float32, xd).get().tolist() == [[0, 1, 0], [0, 0, 1]]
    assert device.result_dtype([xd, 2.0]) == np.float32

    class Other:
        """An array type whose namespace is given by __array_namespace__."""

        __cuda_array_interface__ = {}

        def __array_namespace__(self):
            return cp

    assert device.namespace(Other()) is cp


def test_kernels_read_and_write_device_buffers_in_place():
    """Under the simulator the kernels view a __cuda_array_interface__ buffer without a copy:
    a vjp adding into a device buffer changes that very buffer."""
    from dualad.rules import RULES

    x = cp.asarray(np.linspace(0.1, 1.0, 40))
    into = cp.asarray(np.ones((1, 40)))
    out = kc.vjp(RULES["sin"], [x], cp.asarray(np.ones((1, 40))), [True], np.float64, into=[into])
    assert out[0] is into
    np.testing.assert_allclose(into.get(), 1.0 + np.cos(np.linspace(0.1, 1.0, 40))[None])
    # outputs allocated by the array library (its type, its memory pool), written in place
    y = kc.value(RULES["exp"], [x], np.float64, empty=lambda shape, dtype: cp.empty(shape, dtype=dtype))
    assert isinstance(y, cp.ndarray)
    np.testing.assert_allclose(y.get(), np.exp(np.linspace(0.1, 1.0, 40)))
    y, ty = kc.jvp(RULES["sin"], [x[::2]], [x[None, ::2]], np.float32, empty=lambda shape, dtype: cp.empty(shape, dtype=dtype))
    assert isinstance(ty, cp.ndarray) and ty.dtype == np.float32 and ty.shape == (1, 20)
    np.testing.assert_allclose(ty.get()[0], np.cos(x.get()[::2]) * x.get()[::2], rtol=1e-6)


def test_import_dualad_imports_neither_cupy_nor_numba_cuda():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import dualad
        ad = dualad
        ad.hessian(lambda x: np.sum(np.sin(x) ** 3))(np.linspace(0, 1, 4))
        ad.jacobian(lambda x: np.tanh(x) * x, mode="reverse")(np.linspace(0, 1, 4))
        bad = [m for m in ("cupy", "numba.cuda", "dualad.kernels.cuda") if m in sys.modules]
        assert not bad, bad
        print("ok")
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


def test_complex_device_arrays_refuse_clearly():
    """The CUDA kernels are real-only: complex device values raise, naming the host as the fix."""
    z = cp.asarray(np.array([1.0 + 2.0j, 0.5j]))
    calls = [
        lambda: ad.grad(lambda z: np.sum(np.abs(z) ** 2))(z),
        lambda: ad.jvp(np.sin, (z,), (z,)),
        lambda: ad.jacfwd(np.exp, holomorphic=True)(z),
        lambda: ad.jacrev(lambda z: z * z, holomorphic=True)(z),
    ]
    for call in calls:
        with pytest.raises(NotImplementedError, match="complex values on a GPU"):
            call()
