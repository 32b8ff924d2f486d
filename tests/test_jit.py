"""ad.jit: replayed results equal the plain transforms at new inputs; signatures, static
arguments, guards and the fallback; value-dependent indexing replayed as ops, not guards."""

import functools
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from random_programs import programs
from scipy.optimize import rosen_der, rosen_hess

import dualad as ad
from dualad.transforms.jit import MAX_RERECORDS

RNG = np.random.default_rng(0)


def chain(x):
    return np.sum(np.sin(x) * np.exp(-(x**2)) + np.log1p(x**2))


def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def vec(x):
    return np.stack([np.sum(x**2), np.prod(np.cos(x)), x[0] * x[-1]])


def _points(n=3, size=4, dtype=np.float64):
    rng = np.random.default_rng(1)
    return [rng.uniform(-1.5, 1.5, size).astype(dtype) for _ in range(n)]


def _same(got, want, rtol=1e-12, atol=1e-13):
    want = np.asarray(want) if isinstance(want, (list, float)) else want
    got_l, got_d = ad.tree.flatten(got)
    want_l, want_d = ad.tree.flatten(want)
    assert got_d == want_d
    for g, w in zip(got_l, want_l):
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


# -- compositions: jit of every transform, at new inputs -----------------------------------------

COMPOSITIONS = {
    "value": lambda: chain,
    "grad": lambda: ad.grad(chain),
    "value_and_grad": lambda: ad.value_and_grad(chain),
    "value_and_grad_aux": lambda: ad.value_and_grad(lambda x: (chain(x), {"s": np.sin(x)}), has_aux=True),
    "grad_aux": lambda: ad.grad(lambda x: (chain(x), np.cos(x)), has_aux=True),
    "jacobian_auto": lambda: ad.jacobian(vec),
    "jacobian_forward": lambda: ad.jacobian(vec, mode="forward"),
    "jacobian_reverse": lambda: ad.jacobian(vec, mode="reverse"),
    "jacfwd": lambda: ad.jacfwd(vec),
    "jacrev": lambda: ad.jacrev(vec),
    "hessian_for": lambda: ad.hessian(chain),
    "hessian_fof": lambda: ad.hessian(chain, mode="forward-over-forward"),
    "hessian_rof": lambda: ad.hessian(chain, mode="reverse-over-forward"),
    "hessian_ror": lambda: ad.hessian(chain, mode="reverse-over-reverse"),
    "jvp_inside": lambda: lambda x: ad.jvp(chain, (x,), (np.cos(x),)),
    "vjp_inside": lambda: lambda x: ad.vjp(vec, x)[1](np.array([1.0, -2.0, 0.5]))[0],
    "derivative": lambda: lambda x: ad.derivative(np.sin, order=3)(x),
}


@pytest.mark.parametrize("name", sorted(COMPOSITIONS))
def test_jit_of_transform_equals_plain_at_new_inputs(name):
    g = COMPOSITIONS[name]()
    jg = ad.jit(g)
    for x in _points():
        _same(jg(x), g(x))
    assert jg.records == 1, name


def test_jit_of_hvp_with_two_arguments():
    h = ad.jit(lambda x, v: ad.hvp(chain, x, v))
    for x, v in zip(_points(), _points()[::-1]):
        _same(h(x, v), ad.hvp(chain, x, v))
        _same(h(x, v), ad.hessian(chain)(x) @ v, rtol=1e-10, atol=1e-12)
    assert h.records == 1


def test_jit_against_closed_forms():
    g, H = ad.jit(ad.grad(rosen)), ad.jit(ad.hessian(rosen))
    for x in _points(size=6):
        np.testing.assert_allclose(g(x), rosen_der(x), rtol=1e-12)
        np.testing.assert_allclose(H(x), rosen_hess(x), rtol=1e-12, atol=1e-12)
    assert g.records == H.records == 1


def test_float32_is_preserved():
    g = ad.jit(ad.grad(chain))
    for x in _points(dtype=np.float32):
        got = g(x)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, ad.grad(chain)(x), rtol=1e-5)
    s = ad.jit(lambda x, c: x * c)(np.ones(2, np.float32), 0.5)  # a Python float is weak
    assert s.dtype == np.float32


def test_transforms_of_a_jitted_function_trace_through():
    f = ad.jit(chain)
    x = _points()[0]
    _same(ad.grad(f)(x), ad.grad(chain)(x))
    _same(ad.hessian(f)(x), ad.hessian(chain)(x))
    _same(ad.jacfwd(ad.jit(vec))(x), ad.jacfwd(vec)(x))
    _same(ad.jit(ad.grad(ad.jit(chain)))(x), ad.grad(chain)(x))
    assert f.records == 0  # called on active values only: f ran as it is


def test_decorator_forms_keep_name_and_doc():
    @ad.jit
    def first(x):
        """Doc."""
        return x * 2

    @functools.partial(ad.jit, static_argnums=1)
    def second(x, n):
        return x**n

    @ad.jit(static_argnames="n")
    def third(x, n=2):
        return x**n

    assert first.__name__ == "first" and first.__doc__ == "Doc."
    _same(first(np.ones(2)), 2 * np.ones(2))
    _same(second(np.full(2, 2.0), 3), np.full(2, 8.0))
    _same(third(np.full(2, 2.0), n=3), np.full(2, 8.0))
    _same(third(np.full(2, 2.0)), np.full(2, 4.0))


# -- signatures ----------------------------------------------------------------------------------


def test_new_shapes_dtypes_and_static_values_record_anew():
    f = ad.jit(lambda x, n: np.sum(x**n), static_argnums=1)
    f(np.ones(3), 2)
    f(np.full(3, 2.0), 2)
    assert f.records == 1
    f(np.ones(4), 2)
    assert f.records == 2
    f(np.ones(4, np.float32), 2)
    assert f.records == 3
    _same(f(np.full(4, 2.0), 3), 32.0)
    assert f.records == 4 and f.cache_size() == 4
    f(np.ones(3), 2)  # cached
    assert f.records == 4


def test_python_ints_are_keyed_by_value_floats_traced():
    f = ad.jit(lambda x, k, s: np.sum(x[:k]) * s)
    _same(f(np.arange(4.0), 2, 1.5), 1.5)
    _same(f(np.arange(4.0), 2, 2.5), 2.5)
    assert f.records == 1
    _same(f(np.arange(4.0), 3, 2.5), 7.5)
    assert f.records == 2


def test_pytrees_in_and_out():
    def f(params, data):
        h = np.tanh(data["x"] @ params["w"] + params["b"])
        return {"loss": np.sum(h**2), "parts": (h, np.cos(params["b"]))}

    jf = ad.jit(f)
    jg = ad.jit(ad.grad(lambda p, d: f(p, d)["loss"]))
    d = {"x": RNG.standard_normal((5, 3))}
    for _ in range(3):
        p = {"w": RNG.standard_normal((3, 2)), "b": RNG.standard_normal(2)}
        _same(jf(p, d), f(p, d))
        _same(jg(p, d), ad.grad(lambda p, d: f(p, d)["loss"])(p, d))
    assert jf.records == jg.records == 1


def test_keyword_arguments_are_traced():
    f = ad.jit(lambda x, *, scale: np.sum(x) * scale)
    _same(f(np.ones(2), scale=np.float64(3.0)), 6.0)
    _same(f(np.ones(2), scale=np.float64(4.0)), 8.0)
    assert f.records == 1


def test_recordings_kept_are_bounded():
    from dualad.transforms.jit import MAX_SIGNATURES

    f = ad.jit(lambda x: x + 1.0)
    for n in range(MAX_SIGNATURES + 5):
        f(np.ones(n + 1))
    assert f.cache_size() == MAX_SIGNATURES


# -- guards and the fallback ---------------------------------------------------------------------


def test_changed_branch_records_again():
    def f(x):
        return np.sum(x**2) if x[0] > 0 else np.sum(x**3)

    g = ad.jit(ad.grad(f))
    _same(g(np.array([1.0, 2.0])), [2.0, 4.0])
    _same(g(np.array([3.0, 1.0])), [6.0, 2.0])
    assert g.records == 1
    _same(g(np.array([-1.0, 1.0])), [3.0, 3.0])
    assert g.records == 2


def test_fallback_warns_once_and_stays_correct():
    def f(x):
        return np.sin(x) if x > 0 else np.cos(x)

    jf = ad.jit(ad.grad(f))
    xs = [np.float64(v) for v in np.tile([0.5, -0.5], 20)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = [jf(x) for x in xs]
    hits = [w for w in caught if issubclass(w.category, ad.JitFallbackWarning)]
    assert len(hits) == 1
    assert "f" in str(hits[0].message) and "guards" in str(hits[0].message)
    _same(np.array(got), np.array([ad.grad(f)(x) for x in xs]))
    assert jf.records == MAX_RERECORDS + 2 and jf.fallbacks == 1


def test_escaped_values_are_guarded():
    def f(x):
        k = float(ad.primal(x[0]))  # taken out: folded in as a constant
        return np.sum(x) * k

    g = ad.jit(ad.grad(f))
    for x in _points():
        _same(g(x), ad.grad(f)(x))
    assert g.records == 3  # x[0] changed each time: a guard


def test_changed_global_records_again():
    global _FACTOR
    _FACTOR = 2.0
    jg = ad.jit(_scaled)
    _same(jg(np.ones(2)), 4.0)
    _FACTOR = 5.0  # a number f's own code reads from its module: checked at each call
    _same(jg(np.ones(2)), 10.0)
    assert jg.records == 2
    _FACTOR = 2.0


_FACTOR = 2.0


def _scaled(x):
    return np.sum(x) * _FACTOR


def test_side_effects_only_while_recording():
    calls = []

    def f(x):
        calls.append(1)
        return x * 2

    jf = ad.jit(f)
    for x in _points():
        jf(x)
    assert len(calls) == 1


def test_custom_rules_stop_gradient_checkpoint():
    @ad.custom_jvp
    def cube(x):
        return x**3

    @cube.defjvp
    def _cube_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return x**3, 3 * x**2 * t

    f = lambda x: np.sum(cube(x) * ad.stop_gradient(x) + ad.checkpoint(np.tanh)(x))
    g = ad.jit(ad.grad(f))
    for x in _points():
        _same(g(x), 3 * x**2 * x + 1 - np.tanh(x) ** 2)
    assert g.records == 1


# -- long loops ----------------------------------------------------------------------------------


def pendulum(params, steps):
    theta, g_over_l, c, dt = params[0], params[1], params[2], params[3]
    omega = 0.0 * theta
    for _ in range(steps):
        omega = omega - dt * (g_over_l * np.sin(theta) + c * omega)
        theta = theta + dt * omega
    return theta**2 + omega**2


@pytest.mark.parametrize("steps", [1000, 10000])
def test_long_scalar_loop(steps):
    p = np.array([0.8, 9.81, 0.1, 1e-3])
    g = ad.jit(ad.grad(pendulum), static_argnums=1)
    _same(g(p, steps), ad.grad(pendulum)(p, steps))
    q = p * np.array([1.1, 0.9, 1.2, 1.0])
    _same(g(q, steps), ad.grad(pendulum)(q, steps))
    assert g.records == 1


# -- errors --------------------------------------------------------------------------------------


def test_errors_name_the_problem_and_the_fix():
    with pytest.raises(TypeError, match="callable"):
        ad.jit(3)
    with pytest.raises(TypeError, match="static_argnums must be an int"):
        ad.jit(chain, static_argnums="x")
    with pytest.raises(TypeError, match="static_argnums must be an int"):
        ad.jit(chain, static_argnums=(1.5,))
    with pytest.raises(TypeError, match="static_argnames must be"):
        ad.jit(chain, static_argnames=(1,))
    with pytest.raises(ValueError, match="static_argnums=.*takes 2 positional"):
        ad.jit(lambda x, n=2: x * n, static_argnums=2)
    _same(ad.jit(lambda x, n=2: x * n, static_argnums=1)(np.ones(2)), 2 * np.ones(2))  # JAX's rule
    with pytest.raises(TypeError, match="unhashable type 'list'.*tuple"):
        ad.jit(lambda x, n: x * len(n), static_argnums=1)(np.ones(2), [1, 2])
    with pytest.raises(TypeError, match="unhashable type 'ndarray'"):
        ad.jit(lambda x, w: x * w, static_argnums=1)(np.ones(2), np.ones(2))
    with pytest.raises(TypeError, match="unhashable type 'set'.*pass arrays, or mark the argument static"):
        ad.jit(lambda x, s: x * len(s))(np.ones(2), {1, 2})


def test_the_callers_arrays_stay_writable():
    x = np.ones(3)
    jf = ad.jit(lambda x: np.sum(x * x))
    jf(x)
    x[0] = 2.0  # the recording holds a copy: the caller's array is not locked
    _same(jf(x), 6.0)


# -- random programs -----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(prog=programs(max_args=2, max_steps=5))
def test_random_programs_under_jit(prog):
    args = prog.args()
    moved = [a + 1e-3 * np.cos(np.arange(a.size)).reshape(a.shape) for a in args]
    jf = ad.jit(prog)
    jg = ad.jit(ad.grad(prog, argnums=prog.argnums))
    jh = ad.jit(ad.hessian(prog, argnums=prog.hess_arg))
    for at in (args, moved, args):
        with np.errstate(all="ignore"):
            _same(jf(*at), prog(*at), rtol=1e-12, atol=1e-12)
            _same(jg(*at), ad.grad(prog, argnums=prog.argnums)(*at), rtol=1e-10, atol=1e-10)
            _same(jh(*at), ad.hessian(prog, argnums=prog.hess_arg)(*at), rtol=1e-9, atol=1e-9)


# -- value-dependent indexing: an op of the program, not a guard ---------------------------------

INDEXING = {
    "sort": lambda x: np.sort(x) @ np.arange(6.0),
    "sort_2d_axis0": lambda x: np.sum(np.sort(x.reshape(2, 3), axis=0) * np.arange(6.0).reshape(2, 3)),
    "median": lambda x: np.median(x**2),
    "quantile": lambda x: np.quantile(np.sin(x), [0.2, 0.7]) @ np.array([1.0, -2.0]),
    "argmax_gather": lambda x: x[np.argmax(x)] * np.sum(x),
    "argmin_method": lambda x: x[x.argmin()] ** 2,
    "argsort_along": lambda x: np.sum(np.take_along_axis(x, np.argsort(x), axis=0) * np.arange(6.0)),
    "top_two": lambda x: np.sum(x[np.argsort(x)[-2:]] ** 2),
    "take": lambda x: np.take(x, np.argsort(-x)) @ np.arange(6.0),
    "partition": lambda x: np.sum(np.partition(x, 2)[:2]),
    "row_of_max": lambda x: np.sum(x.reshape(2, 3)[np.argmax(x[:2]), :] ** 2),
}


@pytest.mark.parametrize("name", sorted(INDEXING))
@pytest.mark.parametrize("transform", ["value", "grad", "hessian"])
def test_value_dependent_indexing_records_once(name, transform):
    f = INDEXING[name]
    t = {"value": lambda f: f, "grad": ad.grad, "hessian": ad.hessian}[transform](f)
    jt = ad.jit(t)
    rng = np.random.default_rng(7)
    for _ in range(12):
        x = rng.permutation(6) + 0.1 * rng.standard_normal(6)  # a new order each time
        _same(jt(x), t(x), rtol=1e-12, atol=1e-12)
    assert jt.records == 1


def test_gradient_of_sort_against_finite_differences():
    from helpers import fd_jacobian

    g = ad.jit(ad.grad(INDEXING["sort"]))
    for x in _points(size=6):
        np.testing.assert_allclose(g(x), fd_jacobian(INDEXING["sort"], [x], 0), rtol=1e-6, atol=1e-8)


def test_an_index_steering_python_stays_a_guard():
    def f(x):
        i = np.argmax(x)
        return x[i] * 2.0 if i > 2 else x[i]

    jf = ad.jit(f)
    xs = [np.array([5.0, 0, 0, 0]), np.array([0, 5.0, 0, 0]), np.array([0, 0, 0, 5.0])]
    for x in xs:
        _same(jf(x), f(x))
    assert jf.records == 3  # each new argmax value: recorded again (it was read by Python)


def test_plain_uses_of_an_index_are_guards():
    plain_uses = {
        "int": lambda x: x * float(int(np.argmax(x))),
        "asarray": lambda x: x * np.asarray(np.argmax(x)).astype(float),
        "arithmetic": lambda x: x * (np.argmax(x) + 1.0),
        "returned": lambda x: (np.sum(x), np.argmax(x)),
        "indexing a constant": lambda x: x * np.arange(4.0)[np.argmax(x)],
    }
    for name, f in plain_uses.items():
        jf = ad.jit(f)
        for x in (np.array([5.0, 0, 0, 0]), np.array([0, 0, 5.0, 0])):
            _same(jf(x), f(x))
        assert jf.records == 2, name


# -- the direct path for plain positional arguments ----------------------------------------------


def test_plain_arguments_fallback_runs_f_directly_afterwards():
    calls = []

    def f(x):
        calls.append(1)
        return np.sin(x) if x > 0 else np.cos(x)

    jf = ad.jit(f)
    xs = [np.array(v) for v in np.tile([0.5, -0.5], 10)]  # 0-d arrays: the direct path's kind
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ad.JitFallbackWarning)
        got = [jf(x) for x in xs]
    _same(np.array(got), np.array([f(x) for x in xs]))
    assert jf.fallbacks == 1
    before = len(calls)
    jf(np.array(0.25))
    assert len(calls) == before + 1  # given up: f itself runs, not a stale replay


def test_python_float_beside_float32_keeps_its_weak_type_on_replay():
    jf = ad.jit(ad.grad(lambda x, s: np.sum(np.sin(x) * s)))
    x = np.linspace(-1.0, 1.0, 4).astype(np.float32)
    for s in (2.0, -3.5, 0.25):
        got = jf(x, s)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, np.cos(x) * np.float32(s), rtol=1e-6)
    assert jf.records == 1


def test_dropped_signature_records_again_when_it_returns():
    from dualad.transforms.jit import MAX_SIGNATURES

    f = ad.jit(lambda x: np.sum(x * 3.0))
    first = np.ones(1)
    _same(f(first), 3.0)
    _same(f(first), 3.0)
    for n in range(2, MAX_SIGNATURES + 3):
        f(np.ones(n))
    records = f.records
    _same(f(first * 2.0), 6.0)
    assert f.records == records + 1  # its recording was dropped: made again, not replayed stale


def test_concurrent_calls_replay_correctly():
    import concurrent.futures as cf

    g = ad.jit(ad.grad(chain))
    xs = [RNG.uniform(-1, 1, 5) for _ in range(64)]
    g(xs[0])
    with cf.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(g, xs))
    for x, y in zip(xs, got):
        _same(y, ad.grad(chain)(x))
    assert g.records == 1


@pytest.mark.parametrize("make", [ad.hessian, ad.jacfwd], ids=["hessian", "jacfwd"])
def test_direct_path_of_routed_transforms_gives_the_transform_not_f(make):
    """jit(hessian(g)) keeps a recording of g: a repeated call must run its lanes, never replay
    g's own value."""
    jf = ad.jit(make(rosen))
    for x in _points(4, 6):
        _same(jf(x), make(rosen)(x), rtol=1e-10, atol=1e-10)
    assert jf.records == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_routed_forward_jacobians_straight_from_the_lanes(dtype, monkeypatch):
    """jit(jacfwd(g)) of one array to one array: repeated calls take the lanes' rows as the
    Jacobian (shape S_out + S_in, the input's dtype) without Recording.jacobian, fresh arrays at
    every call; a changed branch records again."""
    A = np.linspace(-1.0, 1.0, 30).reshape(5, 6).astype(dtype)

    def g(x):
        y = np.tanh(A @ np.ravel(x)) * np.sum(np.sin(x))
        return y if np.ravel(x)[0] > 0 else -y

    jf = ad.jit(ad.jacfwd(g))
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    got = []
    for x in _points(3, 6):
        x = (np.abs(x) + 0.1).reshape(2, 3).astype(dtype)
        J = jf(x)
        if not got:  # the first call recorded g; the others take the lanes' rows directly
            monkeypatch.setattr(ad.Recording, "jacobian", None)
        assert J.shape == (5, 2, 3) and J.dtype == dtype
        _same(J, ad.jacfwd(g)(x), rtol=rtol, atol=rtol)
        got.append((J, J.copy()))
    assert jf.records == 1
    assert all(np.array_equal(J, kept) for J, kept in got)  # no result overwritten by a later call
    monkeypatch.undo()
    x = -(np.abs(_points(4, 6)[3]) + 0.1).reshape(2, 3).astype(dtype)  # the other branch
    _same(jf(x), ad.jacfwd(g)(x), rtol=rtol, atol=rtol)
    assert jf.records == 2


# -- jit(grad(g)) and jit(value_and_grad(g)): g recorded, its compiled adjoint sweep run --------


def _loop(p):
    return pendulum(p, 50)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_routed_gradients_equal_the_plain_transform(dtype):
    p0 = np.array([0.5, 9.81, 0.1, 0.01], dtype=dtype)
    jg, jvg = ad.jit(ad.grad(_loop)), ad.jit(ad.value_and_grad(_loop))
    rtol = 1e-11 if dtype == np.float64 else 2e-4
    for scale in (1.0, 1.01, 0.97):
        p = (p0 * dtype(scale)).astype(dtype)
        _same(jg(p), ad.grad(_loop)(p), rtol=rtol, atol=0)
        value, grad = jvg(p)
        want_value, want_grad = ad.value_and_grad(_loop)(p)
        np.testing.assert_allclose(value, want_value, rtol=rtol)
        _same(grad, want_grad, rtol=rtol, atol=0)
        assert jg(p).dtype == dtype
    assert jg.records == 1 and jvg.records == 1
    assert jg._cache[next(iter(jg._cache))].routed  # g was recorded, not the gradient's computation


def test_routed_gradients_argnums_forms():
    f = lambda a, b: np.sum(np.sin(a) * b)
    a, b = np.linspace(0, 1, 3), np.linspace(1, 2, 3)
    for argnums in [(0, 1), (-2, -1), (0,), 1, (1, 0)]:
        jf = ad.jit(ad.grad(f, argnums=argnums))
        for s in (1.0, 2.0):
            _same(jf(a * s, b), ad.grad(f, argnums=argnums)(a * s, b))
    _same(ad.jit(ad.grad(np.sin))(np.float64(0.5)), np.cos(0.5))
    one = ad.jit(ad.grad(lambda x: np.sum(x**2), argnums=(0,)))  # a tuple of one gradient, as grad gives
    got = one(np.ones(2))
    assert isinstance(got, tuple) and len(got) == 1
    _same(got[0], [2.0, 2.0])


def _two(x, y):
    return np.sum(np.sin(x) * np.cos(y)) + np.sum(x[1:] * x[:-1] ** 2) + np.sum(y**3) * x[0]


def _pair(d):
    return _two(d["x"], d["ys"][0]) + np.sum(d["ys"][1] ** 2 * d["x"][:2])


def _vector(x, y):
    return np.concatenate([np.tanh(x) * y[0], np.sin(y) * np.sum(x)])


@pytest.mark.parametrize(
    "make, f, args",
    [
        (lambda f: ad.hessian(f, argnums=(0, 1)), _two, "xy"),
        (lambda f: ad.hessian(f), _pair, "tree"),
        (lambda f: ad.jacfwd(f, argnums=(0, 1)), _vector, "xy"),
        (lambda f: ad.jacfwd(f), _pair, "tree"),
        (lambda f: ad.grad(f), _pair, "tree"),
        (lambda f: ad.value_and_grad(f, argnums=(0, 1)), _two, "xy"),
    ],
    ids=["hessian-two", "hessian-tree", "jacfwd-two", "jacfwd-tree", "grad-tree", "value_and_grad-two"],
)
def test_routed_transforms_of_several_arguments_and_pytrees(make, f, args):
    """jit of hessian/jacfwd/grad of several arrays or of a pytree records g once and runs its
    compiled lanes or sweep, with the structure and values of the plain transform."""
    jf = ad.jit(make(f))
    got = []
    for k, p in enumerate(_points(3, 5)):
        x, y = p + 0.5, np.linspace(-0.4, 0.8, 5) * (1 + 0.1 * k)
        call = (x, y) if args == "xy" else ({"x": x, "ys": [y, y[:2] + 1.0]},)
        out, want = jf(*call), make(f)(*call)
        _same(out, want, rtol=1e-11, atol=1e-11)
        got.append((out, ad.tree.map(np.copy, out)))
    assert jf.records == 1 and jf._cache[next(iter(jf._cache))].routed
    for out, kept in got:  # no result overwritten by a later call
        _same(out, kept, rtol=0, atol=0)


def test_gradients_the_sweep_does_not_serve_record_the_transform():
    big = ad.jit(ad.grad(lambda x: np.sum(np.tanh(x) ** 2)))
    x = np.linspace(-1, 1, 5000)  # values of 1024 elements or more: the recorded gradient runs
    _same(big(x), ad.grad(lambda x: np.sum(np.tanh(x) ** 2))(x))
    assert big._cache[next(iter(big._cache))].routed is False
    vec = ad.jit(ad.grad(lambda x: x * 2.0))  # not scalar: grad's own error
    with pytest.raises(ValueError, match="scalar"):
        vec(np.ones(3))


# -- outputs and inputs of replays: fresh arrays out, the caller's arrays never written ------------


def _rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


_C = np.random.default_rng(3).uniform(-1, 1, (128, 100))


def _large_functions():
    """Replays whose outputs come from fused loops, host steps (a large ufunc made as a new
    array and handed out as it is) and the buffer."""
    return {
        "hvp": (lambda x, v: ad.hvp(_rosen, x, v), 2),
        "grad": (ad.grad(_rosen), 1),
        "ufunc out": (lambda x, v: (x + v)[None].reshape(-1), 2),
        "ufunc out twice": (lambda x, v: (lambda y: (y, y.reshape(1, -1), y))(x + v), 2),
        "value and ufunc": (lambda x, v: (np.sum(np.sin(x) * v), np.sin(x) * v + x), 2),
        "matmul out": (lambda x, v: (x.reshape(60, 100).T @ v.reshape(60, 100), x @ v), 2),
        "gradient of a matmul": (ad.grad(lambda x, v: np.sum(np.tanh(_C @ x.reshape(100, 60)) * v[:60])), 2),
    }


def _listed(result) -> list:
    return list(result) if isinstance(result, tuple) else [result]


@pytest.mark.parametrize("name", list(_large_functions()))
def test_replayed_outputs_are_fresh_and_inputs_untouched(name):
    """Two calls' outputs are distinct arrays that a later call does not change, no output is a
    view of another, writing into one changes nothing else, and the arguments are never written."""
    f, nargs = _large_functions()[name]
    n = 6000  # large enough for fused loops and host steps of NumPy's loops (HOST_MIN)
    args = [RNG.uniform(-1, 1, n) for _ in range(nargs)]
    others = [RNG.uniform(-1, 1, n) for _ in range(nargs)]
    kept = [a.copy() for a in args + others]
    jf = ad.jit(f)
    jf(*args)
    first = _listed(jf(*args))
    first_copy = [np.array(o, copy=True) for o in first]
    second = _listed(jf(*others))
    for a, b in zip(args + others, kept):
        np.testing.assert_array_equal(a, b)  # the caller's arrays are never written
    for o, c in zip(first, first_copy):
        np.testing.assert_array_equal(o, c)  # the second call left the first one's results alone
    for o, ref in zip(second, _listed(f(*others))):
        np.testing.assert_allclose(o, ref, rtol=1e-12, atol=1e-12)
    arrays = [o for o in first + second if isinstance(o, np.ndarray) and o.ndim]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
    for o in arrays:  # writing into a result is the caller's business, and changes nothing else
        o[...] = -7.0
    for o, c in zip(_listed(jf(*args)), first_copy):
        np.testing.assert_array_equal(o, c)


def _readonly(a):
    a = a.copy()
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("kind", ["plain", "read-only", "strided", "float32", "2-d fortran"])
def test_fused_runs_read_the_callers_leaves_where_they_lie(kind):
    """Leaves that only fused loops read are not copied into the program's buffer: the loops
    read the caller's arrays (any layout, read-only too), which stay unchanged, and the results
    match the plain transforms, for the value, the gradient and the Hessian-vector product."""
    from dualad.transforms.fusion import FusedRun

    n = 6001
    make = {"plain": lambda a: a, "read-only": _readonly, "strided": lambda a: np.repeat(a, 2)[::2],
            "float32": lambda a: a.astype(np.float32), "2-d fortran": lambda a: np.asfortranarray(a[:6000].reshape(60, 100))}[kind]
    x, v = make(RNG.uniform(-1, 1, n)), make(RNG.uniform(-1, 1, n))
    f = lambda y: _rosen(np.ravel(y))
    tol = 1e-4 if kind == "float32" else 1e-10
    for jf, plain, args in [(ad.jit(lambda x, v: ad.hvp(f, x, v)), lambda x, v: ad.hvp(f, x, v), (x, v)),
                            (ad.jit(ad.value_and_grad(f)), ad.value_and_grad(f), (x,))]:
        kept = [a.copy() for a in args]
        jf(*args)
        prog = list(jf._cache.values())[0].rec.program()
        assert prog.direct and any(isinstance(h, FusedRun) and h.direct for _, _, h in prog.steps)
        for _ in range(2):
            got, ref = jf(*args), plain(*args)
            for g, r in zip(_listed(got), _listed(ref)):
                np.testing.assert_allclose(g, r, rtol=tol, atol=tol)
            for a, b in zip(args, kept):
                np.testing.assert_array_equal(a, b)
        other = [make(RNG.uniform(-1, 1, n)) for _ in args]  # new values: no stale leaf is read
        for g, r in zip(_listed(jf(*other)), _listed(plain(*other))):
            np.testing.assert_allclose(g, r, rtol=tol, atol=tol)


def test_a_leaf_read_outside_fused_runs_is_copied_into_the_buffer():
    """A leaf (or a part of it) that an output, a guard or a compiled instruction reads lives in
    the buffer as before."""
    n = 6000
    x = RNG.uniform(-1, 1, n)
    for fn in [lambda x: (x[1:], np.sin(x) * x), lambda x: np.sin(x) * x if x[3] > -2 else x,
               lambda x: (np.sin(x) * x, np.cumsum(x))]:
        jf = ad.jit(fn)
        jf(x)
        prog = list(jf._cache.values())[0].rec.program()
        assert not prog.direct
        for g, r in zip(_listed(jf(x + 1.0)), _listed(fn(x + 1.0))):
            np.testing.assert_allclose(g, r, rtol=1e-12)


# -- masks computed from the inputs: np.where(x > 0, ...) is an op of the program, not a guard ----


def _huber(x):
    r = x[1:] - x[:-1] ** 2
    return np.sum(np.where(np.abs(r) < 1.0, 0.5 * r**2, np.abs(r) - 0.5)) + np.sum(x**2)


def _banded(x):
    inside = (x > -0.5) & (x < 0.5) | ~(x < 1.0)
    return np.where(inside, np.sin(x) * x, np.cos(x)) + np.where(x > 0, 1.0, x)


@pytest.mark.parametrize("make", [ad.grad, ad.hessian, lambda f: ad.value_and_grad(f)], ids=["grad", "hessian", "value_and_grad"])
def test_where_on_a_computed_mask_is_not_recorded_again(make):
    """A new mask at every call (np.where of a comparison) is computed by the program: one
    recording, the plain transform's values, never the fallback."""
    jf = ad.jit(make(_huber))
    rng = np.random.default_rng(3)
    masks = set()
    for _ in range(8):
        x = rng.standard_normal(7) * 1.5
        masks.add(tuple(np.abs(x[1:] - x[:-1] ** 2) < 1.0))
        _same(jf(x), make(_huber)(x), rtol=1e-12, atol=1e-12)
    assert len(masks) > 3 and jf.records == 1 and jf.fallbacks == 0


def test_where_on_combined_masks_against_finite_differences():
    """Masks combined with &, |, ~ (and a plain bool array) are computed again too; the
    Jacobian against central differences away from the masks' edges."""
    jac = ad.jit(ad.jacfwd(_banded))
    jrev = ad.jit(ad.jacrev(_banded))
    plain = np.array([True, False, True, False, True, False])
    jw = ad.jit(ad.grad(lambda x: np.sum(np.where((x > 0) | plain, x**3, -x))))
    rng = np.random.default_rng(4)
    for _ in range(6):
        x = rng.uniform(-2.0, 2.0, 6)
        x = x[np.min(np.abs(x[:, None] - np.array([-0.5, 0.0, 0.5, 1.0])), axis=1) > 0.05]  # off the edges
        eps = 1e-6
        fd = np.stack([(_banded(x + eps * e) - _banded(x - eps * e)) / (2 * eps) for e in np.eye(x.size)], axis=1)
        np.testing.assert_allclose(jac(x), fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(jrev(x), fd, rtol=1e-6, atol=1e-8)
        if x.size == 6:
            want = np.where((x > 0) | plain, 3 * x**2, -1.0)
            np.testing.assert_allclose(jw(x), want, rtol=1e-13)
    assert jac.fallbacks == jrev.fallbacks == jw.fallbacks == 0


def test_a_mask_that_steers_python_or_picks_elements_is_still_a_guard():
    """The same comparison used by Python (if) or as a boolean index (a shape that depends on
    values) is a guard: a changed mask records again, with the right values."""
    def f(x):
        m = x > 0
        return np.sum(x[m] ** 2) + (np.sum(x) if m[0] else 0.0)

    jf = ad.jit(ad.grad(f))
    for x in (np.array([1.0, -2.0, 3.0]), np.array([1.5, -2.0, 3.0]), np.array([-1.0, 2.0, 3.0])):
        _same(jf(x), ad.grad(f)(x), rtol=1e-13)
    assert jf.records == 2  # the second call had the first's mask: replayed


@pytest.mark.parametrize("n", [6, 80])  # small values (the compiled adjoint sweep) and large ones
def test_relu_training_loop_replays_without_recording_again(n):
    """relu's partial is an op of a recorded gradient, not a guard: steps of gradient descent
    that change which units are active replay one recording, and match the plain gradient."""
    rng = np.random.default_rng(12)
    X, v, y = rng.standard_normal((2 * n, n)), rng.standard_normal(32), rng.standard_normal(2 * n)

    def loss(W, b):
        return np.mean((ad.relu(X @ W + b) @ v - y) ** 2)

    step = ad.jit(ad.value_and_grad(loss, argnums=(0, 1)))
    W, b = rng.standard_normal((n, 32)) / np.sqrt(n), np.zeros(32)
    patterns = set()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ad.JitFallbackWarning)
        for _ in range(12):
            value, (gW, gb) = step(W, b)
            want_value, (want_W, want_b) = ad.value_and_grad(loss, argnums=(0, 1))(W, b)
            np.testing.assert_allclose(value, want_value, rtol=1e-12)
            np.testing.assert_allclose(gW, want_W, rtol=1e-11, atol=1e-14)
            np.testing.assert_allclose(gb, want_b, rtol=1e-11, atol=1e-14)
            patterns.add((X @ W + b > 0).tobytes())
            W, b = W - 0.05 * gW, b - 0.05 * gb
    assert len(patterns) > 2  # the active units did change
    assert step.records == 1


@pytest.mark.parametrize("fn", ["logsumexp", "softmax", "log_softmax", "scipy logsumexp", "scipy softmax"])
def test_stable_shifts_follow_the_inputs_of_each_call(fn):
    """logsumexp/softmax shift by the inputs' maximum: a replay shifts by the new inputs' own
    (a shift kept from the recording overflows: NaN or inf for inputs far from the recorded)."""
    from scipy import special as sp

    from dualad.scipy import special as S

    f = {"logsumexp": ad.logsumexp, "softmax": ad.softmax, "log_softmax": ad.log_softmax,
         "scipy logsumexp": S.logsumexp, "scipy softmax": S.softmax}[fn]
    want = {"logsumexp": sp.logsumexp, "softmax": sp.softmax, "log_softmax": sp.log_softmax,
            "scipy logsumexp": sp.logsumexp, "scipy softmax": sp.softmax}[fn]
    jf, jg = ad.jit(f), ad.jit(ad.grad(lambda x: np.sum(f(x) * np.arange(1.0, 3.0))))
    for x in (np.array([0.0, 1.0]), np.array([1000.0, 1001.0]), np.array([-800.0, -799.5])):
        np.testing.assert_allclose(jf(x), want(x), rtol=1e-12)
        g = jg(x)
        assert np.all(np.isfinite(g))
        _same(g, ad.grad(lambda x: np.sum(f(x) * np.arange(1.0, 3.0)))(x), rtol=1e-10, atol=1e-12)
    assert jf.records == 1


def test_strong_zeros_of_a_recorded_hvp_follow_the_inputs_of_each_call():
    """d²/dx² of x·√x at 0 is inf (the plain transforms' answer); a jit(hvp) recorded at x > 0 and
    replayed at x = 0 must give it too, not 0·inf = NaN."""
    f = lambda x: np.sum(x * np.sqrt(x))
    jf = ad.jit(lambda x: ad.hvp(f, x, np.ones_like(x)))
    jf(np.array([1.0, 2.0]))
    x = np.array([0.0, 2.0])
    np.testing.assert_array_equal(jf(x), ad.hvp(f, x, np.ones_like(x)))


def _replays_like_plain(computations: dict, recorded_at, replayed_at, c, name: str) -> None:
    """Each ``fn(x, c)`` under jit, recorded at one ``x`` and called at another, gives the plain
    transform's value there (inf and NaN at the same places) from one recording."""
    for label, fn in computations.items():
        jf = ad.jit(fn)
        with np.errstate(all="ignore"):
            jf(recorded_at, c)
            got, want = jf(replayed_at, c), fn(replayed_at, c)
        finite = np.isfinite(want)
        np.testing.assert_array_equal(got[~finite], want[~finite], err_msg=f"{name}, {label}: inf/NaN")
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, atol=1e-14, err_msg=f"{name}, {label}")
        assert jf.records == 1, label


# Functions whose partials are infinite at 0 (√x, log, ∛x), with products that meet them.
_SINGULAR = {
    "x_sqrt_x": lambda x, c: np.sum(x * np.sqrt(x) * c),
    "sqrt_log": lambda x, c: np.sum(np.sqrt(x) * np.log(x) * c),
    "cbrt_sq": lambda x, c: np.sum(np.cbrt(x) ** 2 * c + x * c),
    "sqrt_sin": lambda x, c: np.sum(np.sin(np.sqrt(x)) * c),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(_SINGULAR)),
    zeros_first=st.lists(st.booleans(), min_size=4, max_size=4),
    zeros_then=st.lists(st.booleans(), min_size=4, max_size=4),
    size=st.sampled_from([4, 2048]),
)
def test_strong_zeros_of_recorded_derivatives_are_decided_at_each_replay(name, zeros_first, zeros_then, size):
    """A derivative computation recorded at inputs with zeros in one pattern and replayed with
    another (hvp, jvp of a gradient, grad in one of two arguments; small and large values) gives
    exactly the plain transforms' values, inf and NaN included, from one recording."""
    f = _SINGULAR[name]
    c = np.linspace(0.5, 2.0, size)
    v = np.linspace(-1.0, 1.0, size)

    def point(zeros):
        x = np.linspace(0.25, 1.5, size)
        x[:4][np.array(zeros)] = 0.0
        return x

    computations = {
        "hvp": lambda x, c: ad.hvp(lambda t: f(t, c), x, v),
        "jvp_of_grad": lambda x, c: ad.jvp(lambda t: ad.grad(f)(t, c), (x,), (v,))[1],
        "grad_argnums": ad.grad(f, argnums=0),
    }
    _replays_like_plain(computations, point(zeros_first), point(zeros_then), c, name)


# np.where on masks of the traced values, with a branch whose partials are infinite at 0.
_MASKED = {
    "sqrt_log_or_linear": lambda x, c: np.sum(np.where(x > 0.5, np.sqrt(x) * np.log(x) * c, x * c)),
    "x_sqrt_x_or_square": lambda x, c: np.sum(np.where(x < 0.5, x * np.sqrt(x), x * x) * c),
    "huber_of_cbrt": lambda x, c: np.sum(np.where(np.abs(np.cbrt(x) - c) < 0.3, 0.5 * (np.cbrt(x) - c) ** 2,
                                                  np.abs(np.cbrt(x) - c) - 0.15)),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(_MASKED)),
    first=st.lists(st.sampled_from([0.0, 0.3, 0.7, 1.4]), min_size=6, max_size=6),
    then=st.lists(st.sampled_from([0.0, 0.3, 0.7, 1.4]), min_size=6, max_size=6),
    size=st.sampled_from([6, 2048]),
)
def test_masks_and_strong_zeros_are_computed_at_each_replay(name, first, then, size):
    """np.where on a mask of the traced values is an op of the program: a derivative computation
    recorded at one mask (and one pattern of zeros) replays at another, with one recording, and
    gives the plain transforms' values, inf and NaN included."""
    f = _MASKED[name]
    c = np.linspace(0.5, 1.0, size)
    v = np.linspace(-1.0, 1.0, size)

    def point(head):
        x = np.linspace(0.2, 1.6, size)
        x[:6] = head
        return x

    computations = {
        "grad_argnums": ad.grad(f, argnums=0),
        "jvp_of_grad": lambda x, c: ad.jvp(lambda t: ad.grad(f)(t, c), (x,), (v,))[1],
        "hvp": lambda x, c: ad.hvp(lambda t: f(t, c), x, v),
    }
    _replays_like_plain(computations, point(first), point(then), c, name)


def test_jit_jacrev_against_read_only_seeds_keeps_strong_zeros():
    """jit(jacrev) multiplies partials by the Jacobian's read-only identity seeds (their
    finiteness is checked once, not at every replay): a partial that becomes infinite at a
    replay still gives the plain transform's inf on the diagonal and strong zeros off it."""
    n = 200  # seeds of 40000 elements
    c = np.linspace(1.0, 2.0, n)
    f = lambda x: np.sqrt(x) * c + np.sin(x)
    jf = ad.jit(ad.jacrev(f))
    x = np.linspace(0.5, 1.5, n)
    np.testing.assert_allclose(jf(x), ad.jacrev(f)(x), rtol=1e-13)
    x[[3, 77]] = 0.0
    with np.errstate(all="ignore"):
        got, want = jf(x), ad.jacrev(f)(x)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    assert np.isinf(got[3, 3]) and got[3, 4] == 0.0 and got[4, 3] == 0.0
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=1e-13)
    assert jf.records == 1


@pytest.mark.parametrize("name", ["x_sin_x", "arcsinh", "log1p_of_square", "sqrt_of_square"])
def test_jit_hvp_of_large_values_reads_its_broadcast_inputs(name):
    """jit(hvp) on 5000 elements: the gradient's tangent multiplies x, broadcast against the
    direction's lane axis, inside a fused loop.  The broadcast copy reads x from the program's
    buffer, so x must be copied there even though the fused loop reads it from the caller's array
    (it was not: the x·sin(x) term came out 0, at the recorded point too)."""
    f = {"x_sin_x": lambda x: np.sum(x * np.sin(x)), "arcsinh": lambda x: np.sum(np.arcsinh(x)),
         "log1p_of_square": lambda x: np.sum(np.log1p(x * x)), "sqrt_of_square": lambda x: np.sum(np.sqrt(x * x + 1.0))}[name]
    jf = ad.jit(lambda x: ad.hvp(f, x, np.ones_like(x)))
    x = np.linspace(-1.5, 1.5, 5000)
    for point in (x + 0.5, x + 0.5, x):
        _same(jf(point), ad.hvp(f, point, np.ones_like(point)))
    assert jf.records == 1
