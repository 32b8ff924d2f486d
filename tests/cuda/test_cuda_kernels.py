"""The CUDA kernels of every rule agree with the CPU kernels (run under NUMBA_ENABLE_CUDASIM=1).

Every rule of the table, float32 and float64, one lane and k = 3 lanes, full arrays, broadcast
scalars, shape-broadcast and strided inputs, inputs without tangents, adjoints written, added
into or skipped, special values.  Grids are small (the simulator runs one Python thread per CUDA
thread).  The simulator runs device code as Python, so one test also compiles every rule's
kernels for the real CUDA target (PTX, sm_90) wherever NVVM is installed, GPU or not.

    NUMBA_ENABLE_CUDASIM=1 python -m pytest -q tests/cuda
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

import dualad  # noqa: F401  (installs the dispatcher the rules need)
from dualad import kernels as cpu
from dualad.kernels import cuda as kc
from dualad.rules import RULES
from dualad.rules.derive import value_partials

RULE_NAMES = list(RULES)
DTYPES = [np.float64, np.float32]
LAUNCH = (1, 32)
SHAPE = (5, 8)  # 40 elements: the simulator is slow per element
TOL = {np.float64: dict(rtol=1e-11, atol=1e-13), np.float32: dict(rtol=2e-5, atol=2e-6)}
ROOT = Path(__file__).resolve().parents[2]

# The simulator evaluates device code as NumPy scalars: divide-by-zero and the like warn.
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _cuda():
    from numba import cuda

    return cuda


def dev(a, dtype=None):
    a = np.asarray(a, dtype=dtype)
    return _cuda().to_device(np.array(a, order="C"))


def host(d):
    return d.copy_to_host()


def close(got, want, dtype, what):
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    np.testing.assert_allclose(got, want, equal_nan=True, err_msg=what, **TOL[dtype])


def draw(rule, shapes, rng, dtype):
    return [rng.uniform(lo, hi, size=s).astype(dtype) for (lo, hi), s in zip(rule.domain, shapes)]


def strided(x):
    """A non-contiguous device view holding ``x`` (the kernels must gather it)."""
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    # Explicit slices: Numba's device arrays (unlike the simulator's) take no Ellipsis.
    return dev(wide)[(slice(None),) * (wide.ndim - 1) + (slice(None, None, 2),)]


# Two input layouts per rule.  "bcast": shapes that broadcast against each other (a unary rule
# gets a strided view), so every input goes through the gather kernel.  "scalar": input 0 is a
# 0-d broadcast scalar, the others full arrays.
BCAST_SHAPES = [SHAPE[:1] + (1,), SHAPE[1:], SHAPE]


def bcast_case(rule, rng, dtype):
    if rule.nin == 1:
        xs = draw(rule, [SHAPE], rng, dtype)
        return xs, [strided(xs[0])]
    xs = draw(rule, BCAST_SHAPES[: rule.nin], rng, dtype)
    return xs, [dev(x) for x in xs]


def scalar_case(rule, rng, dtype):
    xs = draw(rule, [()] + [SHAPE] * (rule.nin - 1), rng, dtype)
    return xs, [dev(x) for x in xs]


# --- every rule: jvp (1 and 3 lanes), vjp (1 and 3 lanes), value --------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", RULE_NAMES)
def test_rule_kernels_match_cpu(name, dtype):
    rule = RULES[name]
    nin = rule.nin
    rng = np.random.default_rng(zlib.crc32(f"{name}-{np.dtype(dtype)}".encode()))

    # jvp, k = 3 lanes, broadcasting shapes, every input with tangents, one lane exactly zero
    xs, dxs = bcast_case(rule, rng, dtype)
    ts = [rng.normal(size=(3,) + x.shape).astype(dtype) for x in xs]
    ts[-1][1] = 0.0
    y, ty = cpu.jvp(rule, xs, ts, dtype)
    yd, tyd = kc.jvp(rule, dxs, [dev(t) if i else strided(t) for i, t in enumerate(ts)], dtype, launch=LAUNCH)
    close(host(yd), y, dtype, f"{name} jvp k=3 value")
    close(host(tyd), ty, dtype, f"{name} jvp k=3 tangent")

    # vjp, m = 3 cotangent lanes (one exactly zero), every adjoint written
    g = rng.normal(size=(3,) + y.shape).astype(dtype)
    g[1] = 0.0
    want = cpu.vjp(rule, xs, g, [True] * nin, dtype)
    got = kc.vjp(rule, dxs, dev(g), [True] * nin, dtype, launch=LAUNCH)
    for i in range(nin):
        close(host(got[i]), want[i], dtype, f"{name} vjp m=3 adjoint {i}")
    if value_partials(rule) is not None:
        # the output given: the partials read it (CPU and CUDA) and agree with computing it
        got = kc.vjp(rule, dxs, dev(g), [True] * nin, dtype, launch=LAUNCH, y=yd)
        given = cpu.vjp(rule, xs, g, [True] * nin, dtype, y=y)
        for i in range(nin):
            close(given[i], want[i], dtype, f"{name} vjp m=3 adjoint {i}, the value given (CPU)")
            close(host(got[i]), want[i], dtype, f"{name} vjp m=3 adjoint {i}, the value given (CUDA)")

    # jvp, one lane, input 0 a broadcast scalar, the last input (nin > 1) without a tangent
    xs, dxs = scalar_case(rule, rng, dtype)
    ts = [rng.normal(size=(1,) + x.shape).astype(dtype) if (i < nin - 1 or nin == 1) else None for i, x in enumerate(xs)]
    y, ty = cpu.jvp(rule, xs, ts, dtype)
    yd, tyd = kc.jvp(rule, dxs, [None if t is None else dev(t) for t in ts], dtype, launch=LAUNCH)
    close(host(yd), y, dtype, f"{name} jvp k=1 value")
    close(host(tyd), ty, dtype, f"{name} jvp k=1 tangent")

    # vjp, one lane given as a per-lane column, adjoint 0 added into a buffer, the last skipped
    needed = [True] * (nin - 1) + [nin == 1]
    g = rng.normal(size=(1,) + (1,) * y.ndim).astype(dtype)
    base = rng.normal(size=(1,) + y.shape).astype(dtype)
    want = cpu.vjp(rule, xs, g, needed, dtype, into=[base.copy()] + [None] * (nin - 1))
    into = [dev(base)] + [None] * (nin - 1)
    got = kc.vjp(rule, dxs, dev(g), needed, dtype, into=into, launch=LAUNCH)
    assert got[0] is into[0], "the into buffer is the result"
    for i in range(nin):
        if not needed[i]:
            assert got[i] is None and want[i] is None
        else:
            close(host(got[i]), want[i], dtype, f"{name} vjp m=1 adjoint {i}")

    # value alone, against the value the CPU jvp kernel computed on the same inputs above (one
    # CPU kernel variant fewer to compile on a cold cache)
    close(host(kc.value(rule, dxs, dtype, launch=LAUNCH)), y, dtype, f"{name} value")


# --- special values: infinities, NaN, zeros, ties; strong zeros -----------------------------------

_SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-300, 1e300, np.inf, -np.inf, np.nan])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name", RULE_NAMES)
def test_special_values_match_cpu(name, dtype):
    """Every combination of special inputs (zeros, ties, 1e±300, ±inf, NaN), a zero and a one
    tangent lane, a zero and a one cotangent lane: the device rule agrees with the CPU up to
    rounding, NaN and inf positions included, and zero lanes stay exactly zero.  Under the
    simulator this checks the NumPy-written composites (sign, logaddexp...) at their edges."""
    rule = RULES[name]
    vals = _SPECIAL if rule.nin < 3 else _SPECIAL[[0, 2, 3, 6, 9, 10, 11]]
    grids = np.meshgrid(*([vals] * rule.nin), indexing="ij")
    xs = [np.ascontiguousarray(g.ravel(), dtype=dtype) for g in grids]
    n = xs[0].size
    ts = [np.stack([np.zeros(n), np.ones(n)]).astype(dtype) for _ in xs]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        y, ty = cpu.jvp(rule, xs, ts, dtype)
        yd, tyd = kc.jvp(rule, [dev(x) for x in xs], [dev(t) for t in ts], dtype, launch=LAUNCH)
        close(host(yd), y, dtype, f"{name} value")
        close(host(tyd), ty, dtype, f"{name} tangent")
        assert not np.any(host(tyd)[0]), "a zero tangent lane stays exactly zero (strong zero)"
        g = np.stack([np.zeros(n), np.ones(n)]).astype(dtype)
        want = cpu.vjp(rule, xs, g, [True] * rule.nin, dtype)
        got = kc.vjp(rule, [dev(x) for x in xs], dev(g), [True] * rule.nin, dtype, launch=LAUNCH)
        for i in range(rule.nin):
            close(host(got[i]), want[i], dtype, f"{name} adjoint {i}")
            assert not np.any(host(got[i])[0]), "a zero cotangent lane stays exactly zero"


def test_strong_zero_against_infinite_partial():
    """d/dx sqrt at 0 is +inf; a zero tangent or cotangent still contributes exactly 0."""
    rule = RULES["sqrt"]
    x = dev(np.zeros(4))
    _, ty = kc.jvp(rule, [x], [dev(np.array([[0.0, 1.0, 0.0, -1.0]]))], np.float64, launch=LAUNCH)
    assert host(ty).tolist() == [[0.0, np.inf, 0.0, -np.inf]]
    (gx,) = kc.vjp(rule, [x], dev(np.array([[0.0, 2.0, 0.0, 0.0]])), [True], np.float64, launch=LAUNCH)
    assert host(gx).tolist() == [[0.0, np.inf, 0.0, 0.0]]


# --- launch configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("launch", [None, (1, 1), (3, 7), (2, 64), (4, 256), (None, 32)])
def test_launch_config_any_grid_covers_all_elements(launch):
    rule = RULES["hypot"]
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(2, 333))
    t = rng.normal(size=(2, 2, 333))
    want_y, want_t = cpu.jvp(rule, [x, y], [t[0], t[1]], np.float64)
    got_y, got_t = kc.jvp(rule, [dev(x), dev(y)], [dev(t[0]), dev(t[1])], np.float64, launch=launch)
    close(host(got_y), want_y, np.float64, "value")
    close(host(got_t), want_t, np.float64, "tangent")


def test_launch_config_is_passed_to_the_kernel(monkeypatch):
    seen = []
    real = kc.get_kernel

    class Spy:
        def __init__(self, kern):
            self.kern = kern

        def __getitem__(self, config):
            seen.append(tuple(config))
            return self.kern[config]

    monkeypatch.setattr(kc, "get_kernel", lambda *a, **kw: Spy(real(*a, **kw)))
    x = dev(np.linspace(0.1, 1.0, 100))
    kc.value(RULES["exp"], [x], np.float64, launch=(5, 16))
    kc.jvp(RULES["exp"], [x], [dev(np.ones((2, 100)))], np.float64, launch=(2, 8))
    kc.vjp(RULES["exp"], [x], dev(np.ones((1, 100))), [True], np.float64, launch=(3, 4))
    kc.value(RULES["exp"], [x], np.float64)
    assert seen == [(5, 16), (2, 8), (3, 4), kc.SIMULATOR_LAUNCH if kc.is_simulator() else seen[-1]]


def test_launch_config_defaults_and_validation():
    if kc.is_simulator():
        assert kc.launch_config(10**6) == kc.SIMULATOR_LAUNCH
        assert kc.launch_config(10**6, (None, 64)) == (kc.SIMULATOR_LAUNCH[0], 64)
    else:
        blocks, threads = kc.launch_config(10**8)
        assert threads == kc.DEFAULT_THREADS and blocks >= 1
        assert kc.launch_config(100, (None, 64)) == (2, 64)
    assert kc.launch_config(10, (7, 3)) == (7, 3)
    for bad in [(0, 32), (1, 0), (1, 2048), (1.5, 32), "fast", (1, 2, 3)]:
        with pytest.raises(ValueError):
            kc.launch_config(10, bad)


# --- plumbing -----------------------------------------------------------------------------------


def test_device_functions_share_the_rule_code():
    """One rule, one place: the device function is the rule's own code object."""
    for rule in RULES.values():
        dfn = kc.device_rule(rule)
        py = getattr(dfn, "py_func", None) or dfn.fn
        assert py.__code__ is rule.fn.__code__
        assert py is not rule.fn  # a copy whose globals see the device NumPy


def test_every_ufunc_used_by_a_rule_has_a_device_implementation():
    """A new rule that uses a ufunc numba's CUDA target lacks fails here, naming it: every ufunc
    needs a ``cuda=`` twin in its declaration (``"native"`` where the target has it)."""
    covered = {f for f, twin in kc.device_table().items() if twin is not None}
    missing = {}
    for rule in RULES.values():
        for name in rule.fn.__code__.co_names:
            obj = getattr(np, name, None)
            if isinstance(obj, np.ufunc) and obj not in covered:
                missing.setdefault(name, []).append(rule.name)
    assert not missing, f"declare a cuda= twin for these ufuncs (dualad.rules.elementwise): {missing}"


def test_host_scalars_broadcast_and_dtype_cast():
    rule = RULES["multiply"]
    x = np.linspace(-1.0, 1.0, 50)
    t = np.ones((1, 50))
    y, ty = kc.jvp(rule, [dev(x), 2.5], [dev(t), None], np.float32, launch=LAUNCH)
    assert host(y).dtype == np.float32 and host(ty).dtype == np.float32
    np.testing.assert_allclose(host(y), (x * 2.5).astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(host(ty), np.full((1, 50), 2.5, np.float32))


def test_shapes_and_empty_arrays():
    rule = RULES["add"]
    y, ty = kc.jvp(rule, [dev(np.ones((0, 3))), dev(np.ones(3))], [dev(np.ones((2, 0, 3))), None], np.float64)
    assert host(y).shape == (0, 3) and host(ty).shape == (2, 0, 3)
    y = kc.value(RULES["sin"], [dev(np.array(0.5))], np.float64)
    assert host(y).shape == () and host(y) == np.sin(0.5)


def test_errors():
    rule = RULES["sin"]
    with pytest.raises(TypeError, match="device arrays"):
        kc.value(rule, [np.ones(4)], np.float64)
    with pytest.raises(TypeError, match="float32 and float64"):
        kc.value(rule, [dev(np.ones(4))], np.int64)
    with pytest.raises(ValueError, match="at least one"):
        kc.jvp(rule, [dev(np.ones(4))], [None], np.float64)
    with pytest.raises(ValueError, match="into"):
        kc.vjp(rule, [dev(np.ones(4))], dev(np.ones((1, 4))), [True], np.float64, into=[dev(np.ones(4))])


# --- in subprocesses: import hygiene, and the real CUDA target ----------------------------------


def _run(code: str, **env) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    e.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=e, cwd=ROOT, timeout=600)


def test_import_dualad_does_not_import_numba_cuda():
    res = _run(
        """
        import sys
        import numpy as np
        import dualad
        import dualad.kernels.cuda
        assert "numba.cuda" not in sys.modules, "import dualad imported numba.cuda"
        g = dualad.grad(lambda x: np.sum(np.sin(x) * np.exp(-x ** 2)))(np.linspace(0, 1, 5))
        assert "numba.cuda" not in sys.modules, "CPU differentiation imported numba.cuda"
        print("ok")
        """
    )
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr


_PTX_CHECK = """
import sys, types
from numba import cuda
from numba.core import types as nt

if cuda.jit.__module__.startswith("numba.cuda.simulator"):
    print("SKIP: simulator"); sys.exit(3)
try:
    # dualad's CUDA module first: it mends what numba-cuda needs before any compile (np.row_stack,
    # which NumPy 2.5 removed; without it this probe fails and the test is skipped on a real GPU)
    from dualad.kernels import cuda as kc
    cuda.compile_ptx(lambda a: None, (nt.float64[::1],), cc=(9, 0))
except Exception as exc:
    print(f"SKIP: cannot compile PTX here ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    sys.exit(3)
if not cuda.is_available():
    # Device functions are compiled for the current device: with no GPU, say "sm_90".
    import numba.cuda.dispatcher as disp
    disp.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))

from dualad.rules import RULES
from dualad.rules.derive import value_partials

bad = []
count = 0


def check(what, fn, sig):
    global count
    try:
        cuda.compile_ptx(fn, tuple(sig), cc=(9, 0))
        count += 1
    except Exception as exc:
        bad.append(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


# every rule's device function inside a k-lane jvp kernel (both dtypes) and a vjp kernel that
# writes, adds and reads a cotangent column (float32); the value kernel (float64), which calls
# the rule's copy restricted to the value
for name, rule in RULES.items():
    nin = rule.nin
    for dt in (nt.float64, nt.float32):
        a1, a2 = nt.Array(dt, 1, "C"), nt.Array(dt, 2, "C")
        pattern = tuple((i == 0 and nin > 1, True) for i in range(nin))
        check(f"{name} {dt} jvp", kc.get_kernel(rule, "jvp", pattern).py_func, [a1] * nin + [a2] * nin + [a1, a2])
        if dt is nt.float64:
            check(f"{name} {dt} value", kc.get_kernel(rule, "value", tuple(p for p, _ in pattern)).py_func, [a1] * (nin + 1))
        if dt is nt.float32:
            # a rule whose partials read its value: also the kernel that reads the output
            for valued in (False, True) if value_partials(rule) is not None else (False,):
                pattern = (tuple((False, "wa"[i % 2]) for i in range(nin)), True, valued)
                check(f"{name} {dt} vjp{' valued' * valued}", kc.get_kernel(rule, "vjp", pattern).py_func,
                      [a1] * (nin + valued) + [a2] * (1 + nin))
# the gather kernel: strided, broadcast and cast
src = nt.Array(nt.float64, 2, "A")
check("gather", kc._gather_kernel((None, 1), 2).py_func, [src, nt.Array(nt.float32, 1, "C"), nt.int64, nt.int64])
print(count, "kernels compiled to PTX with", cuda.implementation, "numba.cuda")
print("\\n".join(bad))
sys.exit(1 if bad else 0)
"""


def test_every_kernel_compiles_for_the_real_cuda_target():
    """The simulator runs device code as Python, so it cannot tell whether numba's CUDA target
    compiles a rule.  Where NVVM is available (a CUDA toolkit, or numba-cuda[cu12]), compile
    every rule's kernels to PTX for sm_90 in a process without the simulator; else skip."""
    res = _run(_PTX_CHECK)
    if res.returncode == 3:
        pytest.skip(res.stdout.strip() or res.stderr.strip()[-300:])
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
