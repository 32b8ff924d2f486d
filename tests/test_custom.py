"""Custom derivatives: stop_gradient, custom_jvp and custom_vjp in every mode and nesting order,
checked against closed forms, finite differences and the other mode."""

from __future__ import annotations

import numpy as np
import pytest

import dualad as ad

HESSIAN_MODES = ["forward-over-reverse", "reverse-over-forward", "forward-over-forward", "reverse-over-reverse"]
X = np.array([0.3, -1.2, 0.8])


# -- stop_gradient ------------------------------------------------------------------------------


def _sg_fn(x):
    return np.sum(x**2 * ad.stop_gradient(np.sin(x)))


def test_stop_gradient_first_order_both_modes():
    expected = 2 * X * np.sin(X)
    np.testing.assert_allclose(ad.grad(_sg_fn)(X), expected)
    np.testing.assert_allclose(ad.jacfwd(_sg_fn)(X), expected)
    np.testing.assert_allclose(ad.jvp(_sg_fn, (X,), (np.ones(3),))[1], np.sum(expected))


@pytest.mark.parametrize("mode", HESSIAN_MODES)
def test_stop_gradient_in_hessians(mode):
    np.testing.assert_allclose(ad.hessian(_sg_fn, mode=mode)(X), np.diag(2 * np.sin(X)), atol=1e-12)


def test_stop_gradient_value_pytree_and_plain():
    tree = {"a": np.ones(2), "b": (3.0, None)}
    assert ad.stop_gradient(tree) == {"a": tree["a"], "b": (3.0, None)}
    y, t = ad.jvp(lambda x: ad.stop_gradient(x) * x, (2.0,), (1.0,))
    assert float(y) == 4.0 and float(t) == 2.0


def test_stop_gradient_stops_every_level():
    # d/dx [x · d/dy (sg(x) · y²)]_{y=x} = d/dx [2 x² sg(x)] = 4 x sg(x): the outer level sees
    # no derivative through sg(x) either (JAX gives 16 at x = 2)
    assert float(ad.grad(lambda x: x * ad.grad(lambda y: ad.stop_gradient(x) * y**2)(x))(2.0)) == 16.0
    assert float(ad.derivative(lambda x: ad.stop_gradient(x) ** 3 + x, order=2)(2.0)) == 0.0


def test_stop_gradient_replays_under_record():
    rec = ad.record(lambda x: np.sum(x * ad.stop_gradient(x)), X)
    np.testing.assert_allclose(rec.grad(2 * X), 2 * X)


# -- custom_jvp -----------------------------------------------------------------------------------


@ad.custom_jvp
def sin3(x):
    return np.sin(x)


@sin3.defjvp
def _sin3_jvp(primals, tangents):
    # deliberately three times the true derivative: a library that ignores the rule fails
    (x,), (t,) = primals, tangents
    return sin3(x), 3.0 * np.cos(x) * t


def _sum_sin3(x):
    return np.sum(sin3(x))


def test_custom_jvp_first_order_every_mode():
    d = 3.0 * np.cos(X)
    np.testing.assert_allclose(ad.jvp(sin3, (X,), (np.ones(3),))[1], d)
    np.testing.assert_allclose(ad.jacfwd(sin3)(X), np.diag(d))
    np.testing.assert_allclose(ad.jacrev(sin3)(X), np.diag(d))
    np.testing.assert_allclose(ad.grad(_sum_sin3)(X), d)
    np.testing.assert_allclose(ad.vjp(sin3, X)[1](np.ones(3))[0], d)
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(ad.jacobian(sin3, mode=mode)(X), np.diag(d))
    np.testing.assert_allclose(sin3(X), np.sin(X))  # plain call: the function itself


@pytest.mark.parametrize("mode", HESSIAN_MODES)
def test_custom_jvp_hessians_differentiate_the_rule(mode):
    np.testing.assert_allclose(ad.hessian(_sum_sin3, mode=mode)(X), np.diag(-3.0 * np.sin(X)), atol=1e-12)


def test_custom_jvp_third_order_and_nested_in_itself():
    # the rule calls sin3 itself: d³/dx³ = d²/dx² (3 cos x) = -3 cos x
    np.testing.assert_allclose(ad.derivative(sin3, order=3)(0.7), -3.0 * np.cos(0.7))
    twice = lambda x: sin3(sin3(x))
    expected = 3.0 * np.cos(np.sin(X)) * 3.0 * np.cos(X)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(twice(x)))(X), expected)
    np.testing.assert_allclose(ad.jacfwd(twice)(X), np.diag(expected))
    h = ad.hessian(lambda x: np.sum(twice(x)), mode="reverse-over-reverse")(X)
    hf = ad.hessian(lambda x: np.sum(twice(x)), mode="forward-over-forward")(X)
    np.testing.assert_allclose(h, hf, atol=1e-12)


def test_custom_jvp_with_pytrees_and_nondiff_argnums():
    def f(act, params, scale):
        return {"y": act(params["w"]) * scale, "z": (np.sum(params["b"]),)}

    cf = ad.custom_jvp(f, nondiff_argnums=(0, 2))

    @cf.defjvp
    def _jvp(act, scale, primals, tangents):
        (p,), (t,) = primals, tangents
        out = cf(act, p, scale)
        return out, {"y": 2.0 * t["w"] * scale, "z": (None,)}   # a None leaf: zero tangent

    params = {"w": np.array([1.0, 2.0]), "b": np.array([3.0])}
    loss = lambda p: np.sum(cf(np.tanh, p, 1.5)["y"]) + cf(np.tanh, p, 1.5)["z"][0]
    g = ad.grad(loss)(params)
    np.testing.assert_allclose(g["w"], [3.0, 3.0])
    np.testing.assert_allclose(g["b"], [0.0])
    gf = ad.jacfwd(loss)(params)
    np.testing.assert_allclose(gf["w"], g["w"])
    np.testing.assert_allclose(gf["b"], g["b"])
    out = cf(np.tanh, params, 1.5)  # plain: the function
    np.testing.assert_allclose(out["y"], np.tanh(params["w"]) * 1.5)


def test_custom_jvp_several_lanes_and_argnums():
    @ad.custom_jvp
    def mul(a, b):
        return a * b

    @mul.defjvp
    def _(primals, tangents):
        (a, b), (ta, tb) = primals, tangents
        return a * b, 10.0 * ta * b + a * tb

    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    Ja, Jb = ad.jacfwd(mul, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(Ja, np.diag(10.0 * b))
    np.testing.assert_allclose(Jb, np.diag(a))
    Ra, Rb = ad.jacrev(mul, argnums=(0, 1))(a, b)
    np.testing.assert_allclose(Ra, Ja)
    np.testing.assert_allclose(Rb, Jb)
    # only one argument active: the other gets a zero tangent
    np.testing.assert_allclose(ad.grad(lambda b: np.sum(mul(a, b)))(b), a)


def test_keyword_arguments_are_resolved_by_the_signature():
    @ad.custom_jvp
    def f(x, scale=2.0):
        return x * scale

    f.defjvp(lambda p, t: (p[0] * p[1], 5.0 * t[0] + p[0] * t[1]))
    assert float(ad.grad(lambda x: f(x=x))(1.0)) == 5.0
    assert float(ad.grad(lambda s: f(1.0, scale=s))(3.0)) == 1.0


def test_custom_jvp_defjvps():
    @ad.custom_jvp
    def f(x, y):
        return np.sin(x) * y

    f.defjvps(lambda tx, ans, x, y: 2.0 * np.cos(x) * y * tx, lambda ty, ans, x, y: np.sin(x) * ty)
    gx, gy = ad.grad(f, argnums=(0, 1))(0.5, 2.0)
    np.testing.assert_allclose([gx, gy], [4.0 * np.cos(0.5), np.sin(0.5)])


def test_custom_jvp_log1pexp_is_stable():
    @ad.custom_jvp
    def log1pexp(x):
        return np.log1p(np.exp(x))

    @log1pexp.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        return log1pexp(x), t * (1.0 - 1.0 / (1.0 + np.exp(x)))

    with np.errstate(over="ignore"):
        naive = ad.grad(lambda x: np.log1p(np.exp(x)))(1000.0)
    assert not np.isclose(naive, 1.0)   # exp overflows: 0 here (strong zeros), nan in JAX
    with np.errstate(over="ignore"):
        assert float(ad.grad(log1pexp)(1000.0)) == 1.0
    np.testing.assert_allclose(ad.derivative(log1pexp, order=2)(0.0), 0.25)


def test_custom_jvp_rule_errors():
    @ad.custom_jvp
    def f(x):
        return x * 2.0

    with pytest.raises(AttributeError, match="no jvp rule.*f.defjvp"):
        ad.grad(f)(1.0)
    f.defjvp(lambda p, t: p[0] * 2.0)
    with pytest.raises(TypeError, match="must return a pair"):
        ad.grad(f)(1.0)
    f.defjvp(lambda p, t: (p[0] * 2.0, t))  # the tangents' tuple where one tangent belongs
    with pytest.raises(TypeError, match=r"tangent output has structure \(\*,\), its primal output \*"):
        ad.grad(f)(1.0)
    f.defjvp(lambda p, t: ((p[0] * 2.0,), [t[0]]))
    with pytest.raises(TypeError, match="structure"):
        ad.jvp(f, (1.0,), (1.0,))
    f.defjvp(lambda p, t: (p[0] * 2.0, np.ones(3) * np.sum(t[0])))
    with pytest.raises(ValueError, match=r"f.*tangent_out has shape \(3,\), its primal out has shape \(2,\)"):
        ad.jacfwd(f)(np.ones(2))


def test_custom_jvp_closure_over_a_differentiated_value_raises():
    def outer(w):
        @ad.custom_jvp
        def g(x):
            return w * x

        g.defjvp(lambda p, t: (w * p[0], w * t[0]))
        return g(2.0)

    with pytest.raises(TypeError, match="closes over it"):
        ad.grad(outer)(3.0)
    with pytest.raises(TypeError, match="closes over it"):
        ad.jvp(outer, (3.0,), (1.0,))


def test_nondiff_argument_that_is_differentiated_raises():
    f = ad.custom_jvp(lambda n, x: x * n, nondiff_argnums=(0,))
    f.defjvp(lambda n, p, t: (p[0] * n, t[0] * n))
    assert float(ad.grad(lambda x: f(3.0, x))(1.0)) == 3.0
    with pytest.raises(TypeError, match="argument 0 is in nondiff_argnums"):
        ad.grad(lambda x: f(x, x))(1.0)


# -- custom_vjp -----------------------------------------------------------------------------------


@ad.custom_vjp
def sin2(x):
    return np.sin(x)


def _sin2_fwd(x):
    return np.sin(x), np.cos(x)


def _sin2_bwd(c, g):
    return (2.0 * c * g,)  # deliberately twice the true derivative


sin2.defvjp(_sin2_fwd, _sin2_bwd)


def _sum_sin2(x):
    return np.sum(sin2(x))


def test_custom_vjp_reverse_modes():
    d = 2.0 * np.cos(X)
    np.testing.assert_allclose(ad.grad(_sum_sin2)(X), d)
    np.testing.assert_allclose(ad.jacrev(sin2)(X), np.diag(d))
    np.testing.assert_allclose(ad.jacobian(sin2, mode="reverse")(X), np.diag(d))
    np.testing.assert_allclose(ad.vjp(sin2, X)[1](np.ones(3))[0], d)
    np.testing.assert_allclose(sin2(X), np.sin(X))


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_custom_vjp_hessians_with_reverse_inside_differentiate_bwd(mode):
    np.testing.assert_allclose(ad.hessian(_sum_sin2, mode=mode)(X), np.diag(-2.0 * np.sin(X)), atol=1e-12)


@pytest.mark.parametrize("call", [
    lambda: ad.jvp(sin2, (X,), (X,)),
    lambda: ad.jacfwd(sin2)(X),
    lambda: ad.jacobian(sin2, mode="forward")(X),
    lambda: ad.hessian(_sum_sin2, mode="reverse-over-forward")(X),
    lambda: ad.hessian(_sum_sin2, mode="forward-over-forward")(X),
])
def test_custom_vjp_forward_mode_raises(call):
    with pytest.raises(TypeError, match=r"can't apply forward-mode autodiff \(jvp\) to a custom_vjp function \(sin2\)"):
        call()


def test_custom_vjp_nested_in_itself_and_value_used_outside():
    twice = lambda x: sin2(sin2(x))
    expected = 2.0 * np.cos(np.sin(X)) * 2.0 * np.cos(X)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(twice(x)))(X), expected)
    # the outer level differentiates fwd's own code for the value (as JAX: 1.5099014287007235)
    np.testing.assert_allclose(ad.grad(lambda x: sin2(x) * ad.grad(sin2)(x))(0.7), 1.5099014287007235)


@pytest.mark.parametrize("mode", ["forward-over-reverse", "reverse-over-reverse"])
def test_custom_vjp_nested_in_itself_second_order(mode):
    # grad = 2cos(u)·2cos(x) with u = sin2(x) = sin(x), whose outer derivative is fwd's own cos(x)
    u = np.sin(X)
    expected = 4.0 * (-np.sin(u) * np.cos(X) ** 2 - np.cos(u) * np.sin(X))
    h = ad.hessian(lambda x: np.sum(sin2(sin2(x))), mode=mode)(X)
    np.testing.assert_allclose(h, np.diag(expected), atol=1e-12)


def test_custom_vjp_pytrees_nondiff_none_cotangents_and_unused_outputs():
    seen = []

    def f(act, p):
        return act(p["w"]) * p["b"], {"unused": np.sum(p["w"])}

    cf = ad.custom_vjp(f, nondiff_argnums=(0,))

    def fwd(act, p):
        return f(act, p), (p["w"], p["b"])

    def bwd(act, res, ct):
        w, b = res
        y_bar, aux_bar = ct
        seen.append(aux_bar["unused"])
        return ({"w": 7.0 * y_bar * b, "b": None},)   # None: a zero cotangent

    cf.defvjp(fwd, bwd)
    p = {"w": np.array([1.0, 2.0]), "b": np.array([0.5, 0.5])}
    g = ad.grad(lambda p: np.sum(cf(np.tanh, p)[0]))(p)
    np.testing.assert_allclose(g["w"], [3.5, 3.5])
    np.testing.assert_array_equal(g["b"], [0.0, 0.0])
    assert float(seen[-1]) == 0.0  # the output nothing used gets a zero cotangent
    J = ad.jacrev(lambda p: cf(np.tanh, p)[0])(p)
    np.testing.assert_allclose(J["w"], np.diag([3.5, 3.5]))
    cf.defvjp(fwd, lambda act, res, ct: (None,))   # None for the whole argument: zeros
    g = ad.grad(lambda p: np.sum(cf(np.tanh, p)[0]))(p)
    np.testing.assert_array_equal(g["w"], [0.0, 0.0])


def test_custom_vjp_rule_errors():
    f = ad.custom_vjp(lambda x, y: x * y)
    with pytest.raises(AttributeError, match="defvjp"):
        ad.grad(f)(1.0, 2.0)
    f.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1],))
    with pytest.raises(TypeError, match=r"one cotangent per differentiable argument \(2\), got a tuple of 1"):
        ad.grad(f)(1.0, 2.0)
    f.defvjp(lambda x, y: (x * y, (x, y)), lambda r, g: (g * r[1], np.ones(3)))
    with pytest.raises(ValueError, match=r"cotangent for argument 1 has shape \(3,\), the argument has shape \(\)"):
        ad.grad(f, argnums=1)(1.0, 2.0)
    f.defvjp(lambda x, y: x * y, lambda r, g: (g, g))
    with pytest.raises(TypeError, match="fwd must return a pair"):
        ad.grad(f)(np.ones(3), np.ones(3))


def test_custom_vjp_closure_over_a_differentiated_value_raises():
    def outer(w):
        g = ad.custom_vjp(lambda x: w * x)
        g.defvjp(lambda x: (w * x, None), lambda r, ct: (5.0 * ct,))
        return g(2.0)

    with pytest.raises(TypeError, match="closes over it"):
        ad.grad(outer)(3.0)


def test_pytree_rules_match_jax():
    # the same programs in JAX (jax.custom_jvp / custom_vjp, x64) gave the numbers below
    import functools

    @functools.partial(ad.custom_jvp, nondiff_argnums=(0,))
    def f(n, p):
        return {"y": np.sin(p["w"]) * n, "z": np.sum(p["b"] ** 2)}

    @f.defjvp
    def _(n, primals, tangents):
        (p,), (t,) = primals, tangents
        return f(n, p), {"y": 3 * np.cos(p["w"]) * t["w"] * n, "z": 5.0 * np.sum(t["b"] * p["b"])}

    p = {"w": np.array([0.3, 0.9]), "b": np.array([1.0, 2.0])}
    loss = lambda p: np.sum(f(2.0, p)["y"] ** 2) + f(2.0, p)["z"] ** 2
    g = ad.grad(loss)(p)
    np.testing.assert_allclose(g["w"], [6.77570968, 11.68617157])
    np.testing.assert_allclose(g["b"], [50.0, 100.0])
    for mode in HESSIAN_MODES:
        H = ad.hessian(loss, mode=mode)(p)
        np.testing.assert_allclose(H["w"]["w"], np.diag([63.61610952, 13.09429945]))
        np.testing.assert_allclose(H["b"]["b"], [[100.0, 100.0], [100.0, 250.0]])
        np.testing.assert_allclose(H["w"]["b"], 0.0, atol=1e-12)

    @ad.custom_vjp
    def h(p):
        return (p["w"] * p["b"], np.sum(p["w"]))

    h.defvjp(lambda p: (h(p), p), lambda p, ct: ({"w": 7 * ct[0] * p["b"] + ct[1], "b": ct[0] * p["w"]},))
    l2 = lambda p: np.sum(h(p)[0] ** 2) + h(p)[1] ** 3
    g = ad.grad(l2)(p)
    np.testing.assert_allclose(g["w"], [8.52, 54.72])
    np.testing.assert_allclose(g["b"], [0.18, 3.24])
    np.testing.assert_allclose(ad.hessian(l2, mode="reverse-over-reverse")(p)["w"]["b"], np.diag([8.4, 50.4]))
    # fwd calls h itself: forward over reverse meets a custom_vjp in forward mode (JAX raises too)
    with pytest.raises(TypeError, match="forward-mode"):
        ad.hessian(l2, mode="forward-over-reverse")(p)


# -- the implicit-function theorem: a Newton solver ----------------------------------------------------


def _residual(x, theta):
    return x**3 + theta["a"] * x - theta["b"]


def _newton(g, theta, x0, steps):
    x = x0
    for _ in range(steps):
        fx, dfx = ad.jvp(lambda x: g(x, theta), (x,), (np.ones_like(x),))
        x = x - fx / dfx
    return x


def _solve(g, theta):
    return _newton(g, theta, np.ones_like(theta["b"]), 30)


solve = ad.custom_vjp(_solve, nondiff_argnums=(0,))


def _solve_fwd(g, theta):
    x = _solve(g, theta)
    return x, (x, theta)


def _solve_bwd(g, res, ct):
    x, theta = res
    gx = ad.jvp(lambda x: g(x, theta), (x,), (np.ones_like(x),))[1]   # ∂g/∂x (diagonal)
    _, pull = ad.vjp(lambda th: g(x, th), theta)
    return (pull(-ct / gx)[0],)


solve.defvjp(_solve_fwd, _solve_bwd)


def _unrolled(theta):
    x = np.ones_like(theta["b"])
    for _ in range(30):
        x = x - (x**3 + theta["a"] * x - theta["b"]) / (3 * x**2 + theta["a"])
    return x


def test_implicit_function_matches_finite_differences_of_the_unrolled_solver():
    theta = {"a": np.array([1.0, 2.0, 0.5]), "b": np.array([2.0, 1.0, 3.0])}
    x = solve(_residual, theta)
    np.testing.assert_allclose(_residual(x, theta), 0.0, atol=1e-12)
    w = np.array([1.0, -2.0, 0.5])
    g = ad.grad(lambda th: np.sum(w * solve(_residual, th)))(theta)
    eps = 1e-6
    for key in ("a", "b"):
        for i in range(3):
            tp = {k: v.copy() for k, v in theta.items()}
            tm = {k: v.copy() for k, v in theta.items()}
            tp[key][i] += eps
            tm[key][i] -= eps
            fd = (np.sum(w * _unrolled(tp)) - np.sum(w * _unrolled(tm))) / (2 * eps)
            np.testing.assert_allclose(g[key][i], fd, rtol=1e-6, atol=1e-8)


def test_implicit_function_second_order():
    theta = {"a": np.array([1.0]), "b": np.array([2.0])}

    def loss(b):
        return np.sum(solve(_residual, {"a": theta["a"], "b": b}))

    h = ad.hessian(loss, mode="reverse-over-reverse")(theta["b"])
    eps = 1e-4
    fd = (ad.grad(loss)(theta["b"] + eps) - ad.grad(loss)(theta["b"] - eps)) / (2 * eps)
    np.testing.assert_allclose(h.ravel(), fd, rtol=1e-6)


# -- straight-through estimator ----------------------------------------------------------------------


def test_straight_through_estimator():
    @ad.custom_jvp
    def round_ste(x):
        return np.round(x)

    round_ste.defjvp(lambda p, t: (round_ste(p[0]), t[0]))
    x = np.array([0.2, 1.7])
    np.testing.assert_array_equal(ad.grad(lambda x: np.sum(np.round(x) * x))(x), np.round(x))
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(round_ste(x) * x))(x), np.round(x) + x)
    np.testing.assert_allclose(ad.jacfwd(lambda x: round_ste(x) ** 2)(x), np.diag(2 * np.round(x)))


# -- under a compiled function ------------------------------------------------------------------------


def test_custom_rules_stop_gradient_and_checkpoint_under_jit():
    f = lambda x: np.sum(sin3(x) * ad.stop_gradient(x) + sin2(x) + ad.checkpoint(np.tanh)(x))
    # d/dx sin3(x)·sg(x) is sin3'(x)·x only: stop_gradient drops the term sin3(x)·1
    expected = 3.0 * np.cos(X) * X + 2.0 * np.cos(X) + 1.0 - np.tanh(X) ** 2
    np.testing.assert_allclose(ad.jit(ad.grad(f))(X), expected)
    np.testing.assert_allclose(ad.jit(ad.grad(f))(2 * X), ad.grad(f)(2 * X))
