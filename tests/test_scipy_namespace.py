"""dualad.scipy: SciPy's Python-level functions on dualad values, against SciPy's values and
central finite differences, in forward and reverse mode."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sps
import scipy.stats as ss

import dualad as ad
from dualad.scipy import special as dsp
from dualad.scipy import stats as dst
from tests.helpers import fd_jacobian


def check(f, *args, argnum=0, rtol=1e-6, atol=1e-7):
    """Jacobians of ``f`` in ``args[argnum]`` by jacfwd and jacrev against central differences."""
    args = [np.asarray(a, dtype=np.float64) for a in args]
    fd = fd_jacobian(lambda *a: np.asarray(f(*a)), args, argnum)
    for jac in (ad.jacfwd, ad.jacrev):
        got = jac(f, argnums=argnum)(*args)
        np.testing.assert_allclose(got, fd, rtol=rtol, atol=atol, err_msg=jac.__name__)


RNG = np.random.default_rng(16)
A = RNG.normal(size=(3, 4))
B = RNG.uniform(-1.0, 2.0, size=(3, 4))


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_logsumexp_matches_scipy_and_differences(axis, keepdims):
    f = lambda a: dsp.logsumexp(a, axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(f(A), sps.logsumexp(A, axis=axis, keepdims=keepdims), rtol=1e-14)
    check(f, A)


def test_logsumexp_weights_and_sign():
    for axis in (None, 1):
        want, wsign = sps.logsumexp(A, axis=axis, b=B, return_sign=True)
        got, sign = dsp.logsumexp(A, axis=axis, b=B, return_sign=True)
        np.testing.assert_allclose(got, want, rtol=1e-13)
        np.testing.assert_array_equal(sign, wsign)
        check(lambda a, b: dsp.logsumexp(a, axis=axis, b=b, return_sign=True)[0], A, B, argnum=0)
        check(lambda a, b: dsp.logsumexp(a, axis=axis, b=b, return_sign=True)[0], A, B, argnum=1)
    big = np.array([1000.0, 1000.0])  # stable where exp overflows
    np.testing.assert_allclose(dsp.logsumexp(big), 1000.0 + np.log(2.0))
    np.testing.assert_allclose(ad.grad(dsp.logsumexp)(big), [0.5, 0.5])


@pytest.mark.parametrize("axis", [None, 1])
def test_logsumexp_where_is_the_selected_elements_alone(axis):
    mask = RNG.uniform(size=A.shape) < 0.6
    mask[:, 0] = True
    a = np.where(mask, A, 800.0)  # unselected elements whose exp overflows leak nothing
    f = lambda a: dsp.logsumexp(a, axis=axis, where=mask)
    want = (sps.logsumexp(A[mask]) if axis is None
            else np.array([sps.logsumexp(A[i][mask[i]]) for i in range(A.shape[0])]))
    np.testing.assert_allclose(f(a), want, rtol=1e-13)
    check(f, a)  # zero derivative in the unselected elements, softmax of the others
    g = ad.grad(lambda a: dsp.logsumexp(a, where=mask))(a)
    np.testing.assert_allclose(g, np.where(mask, np.exp(A - sps.logsumexp(A[mask])), 0.0), atol=1e-15)
    with np.errstate(divide="ignore"):
        assert dsp.logsumexp(a, where=np.zeros_like(mask)) == -np.inf


def test_softmax_log_softmax():
    for axis in (None, 0, 1):
        np.testing.assert_allclose(dsp.softmax(A, axis=axis), sps.softmax(A, axis=axis), rtol=1e-13)
        np.testing.assert_allclose(dsp.log_softmax(A, axis=axis), sps.log_softmax(A, axis=axis), rtol=1e-13, atol=1e-15)
        check(lambda a: dsp.softmax(a, axis=axis), A)
        check(lambda a: dsp.log_softmax(a, axis=axis), A)
    h = ad.hessian(lambda a: dsp.logsumexp(a))(A[0])  # second order: diag(p) - p pᵀ
    p = sps.softmax(A[0])
    np.testing.assert_allclose(h, np.diag(p) - np.outer(p, p), atol=1e-13)


def test_polygamma_and_multigammaln():
    x = np.array([0.4, 1.3, 2.7])
    for n in (0, 1, 2, 3):
        np.testing.assert_allclose(dsp.polygamma(n, x), sps.polygamma(n, x), rtol=1e-12)
        np.testing.assert_allclose(ad.grad(lambda x: np.sum(dsp.polygamma(n, x)))(x), sps.polygamma(n + 1, x), rtol=1e-10)
    np.testing.assert_allclose(ad.derivative(lambda x: dsp.polygamma(1, x), order=2)(1.3), sps.polygamma(3, 1.3), rtol=1e-10)
    with pytest.raises(TypeError, match="not differentiable in its argument 'n'"):
        ad.grad(lambda n: dsp.polygamma(n, 1.5))(1.0)
    a = np.array([2.5, 3.1])
    np.testing.assert_allclose(dsp.multigammaln(a, 3), sps.multigammaln(a, 3), rtol=1e-13)
    check(lambda a: dsp.multigammaln(a, 3), a)
    with pytest.raises(ValueError, match="greater than"):
        dsp.multigammaln(0.5, 3)


def test_reexported_ufuncs_are_scipys():
    assert dsp.erf is sps.erf and dsp.gammaln is sps.gammaln
    check(lambda x: dsp.erf(x) * dsp.gammaln(x + 1.0), np.array([0.3, 1.1]))


# --- stats ------------------------------------------------------------------------------------------

X = np.array([0.15, 0.4, 0.7, 1.6])
Q = np.array([0.1, 0.35, 0.6, 0.9])
CONT = [  # (name, shape parameters, points)
    ("norm", (), X - 0.5),
    ("t", (3.5,), X - 0.5),
    ("gamma", (2.3,), X),
    ("beta", (2.2, 3.1), 0.2 + X / 3),
    ("expon", (), X),
    ("laplace", (), X - 0.5),
    ("logistic", (), X - 0.5),
    ("cauchy", (), X - 0.5),
    ("chi2", (3.5,), X),
    ("uniform", (), 0.2 + X / 2.5),
    ("pareto", (2.5,), X + 1.5),
    ("gumbel_r", (), X - 0.5),
    ("gumbel_l", (), X - 0.5),
    ("truncnorm", (-0.8, 1.5), X - 0.5),
    ("gennorm", (1.5,), X - 0.5),
    ("wrapcauchy", (0.4,), 2.0 * X),
]
METHODS = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"]


@pytest.mark.parametrize("name,shapes,x", CONT, ids=[c[0] for c in CONT])
def test_continuous_distributions(name, shapes, x):
    ref, ours = getattr(ss, name), getattr(dst, name)
    kw = dict(loc=0.1, scale=1.3)
    for m in METHODS:
        want = getattr(ref, m)(x, *shapes, **kw)
        np.testing.assert_allclose(getattr(ours, m)(x, *shapes, **kw), want, rtol=1e-9, err_msg=f"{name}.{m}")
        check(lambda x: getattr(ours, m)(x, *shapes, **kw), x)                        # in x
        check(lambda loc: getattr(ours, m)(x, *shapes, loc=loc, scale=1.3), 0.1)      # in loc
        check(lambda s: getattr(ours, m)(x, *shapes, loc=0.1, scale=s), 1.3)          # in scale
        want = getattr(ref, m)(x, *shapes, 0.1, 1.3)  # loc and scale given positionally, as SciPy takes them
        np.testing.assert_allclose(getattr(ours, m)(x, *shapes, 0.1, 1.3), want, rtol=1e-9, err_msg=f"{name}.{m}")
        np.testing.assert_allclose(getattr(ours, m)(x, *shapes, 0.1, scale=1.3), want, rtol=1e-9, err_msg=f"{name}.{m}")
    with pytest.raises(TypeError, match="shape parameter"):
        ours.logpdf(x, *shapes, 0.1, 1.3, 2.0)
    np.testing.assert_allclose(ours.ppf(Q, *shapes, **kw), ref.ppf(Q, *shapes, **kw), rtol=1e-9)
    check(lambda q: ours.ppf(q, *shapes, **kw), Q, rtol=1e-5)
    for i in range(len(shapes)):  # shape parameters, in the log-density
        def f(s, i=i):
            sh = list(shapes)
            sh[i] = s
            return ours.logpdf(x, *sh, **kw)
        check(f, shapes[i])


NEW_CONT = [c for c in CONT if c[0] in ("uniform", "pareto", "gumbel_r", "gumbel_l", "truncnorm", "gennorm", "wrapcauchy")]


@pytest.mark.parametrize("name,shapes,x", [c for c in NEW_CONT if c[1]], ids=[c[0] for c in NEW_CONT if c[1]])
def test_new_continuous_distributions_in_their_shapes(name, shapes, x):
    """Every method in every shape parameter (the ppf too where its special function allows)."""
    ours = getattr(dst, name)
    kw = dict(loc=0.1, scale=1.3)
    for m in METHODS + ["ppf"]:
        if m == "ppf" and name == "gennorm":
            continue  # gammaincinv is not differentiable in its first argument (raises, below)
        pts = Q if m == "ppf" else x
        for i in range(len(shapes)):
            def f(s, i=i, m=m, pts=pts):
                sh = list(shapes)
                sh[i] = s
                return getattr(ours, m)(pts, *sh, **kw)
            check(f, shapes[i], rtol=1e-5, atol=1e-8)
    with pytest.raises(TypeError, match="not differentiable"):
        ad.grad(lambda b: dst.gennorm.ppf(0.3, b))(1.5)


@pytest.mark.parametrize("a,b", [(0.3, 2.0), (-2.0, -0.5), (-np.inf, 0.5), (0.2, np.inf), (-3.0, 3.0)])
def test_truncnorm_tails_and_infinite_bounds(a, b):
    """SciPy's values in each case of the mass (left tail, right tail, centre, an infinite
    bound), outside the support and at its edges; derivatives inside, in x and finite bounds."""
    x = np.array([-4.0, a if np.isfinite(a) else -1.0, -0.7, 0.0, 0.4, 1.2, b if np.isfinite(b) else 2.0, 4.0])
    for m in METHODS + ["ppf"]:
        pts = Q if m == "ppf" else x
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(getattr(dst.truncnorm, m)(pts, a, b), getattr(ss.truncnorm, m)(pts, a, b),
                                       rtol=1e-9, atol=1e-300, err_msg=m)
    inside = x[(x > a + 0.05) & (x < b - 0.05)]
    for m in METHODS:
        check(lambda x: getattr(dst.truncnorm, m)(x, a, b), inside)
        if np.isfinite(a):
            check(lambda a: getattr(dst.truncnorm, m)(inside, a, b), a, rtol=1e-5, atol=1e-8)
        if np.isfinite(b):
            check(lambda b: getattr(dst.truncnorm, m)(inside, a, b), b, rtol=1e-5, atol=1e-8)
    check(lambda q: dst.truncnorm.ppf(q, a, b), Q, rtol=1e-5)


def test_new_continuous_edges_are_scipys():
    """Outside the support: logpdf −inf, pdf 0, cdf 0 or 1; the support's ends included."""
    cases = [("uniform", (), [-0.5, 0.0, 1.0, 1.5]), ("pareto", (2.5,), [0.0, 0.5, 1.0, 3.0]),
             ("wrapcauchy", (0.4,), [-1.0, 0.0, np.pi, 2 * np.pi, 7.0]), ("gennorm", (0.7,), [-2.0, 0.0, 2.0]),
             ("gumbel_r", (), [-3.0, 40.0]), ("gumbel_l", (), [-40.0, 3.0]), ("vonmises", (2.0,), [-4.0, 0.0, 3.0, 7.0])]
    for name, shapes, x in cases:
        x = np.array(x)
        for m in (("logpdf", "pdf") if name == "vonmises" else METHODS):
            with np.errstate(divide="ignore"):
                np.testing.assert_allclose(getattr(getattr(dst, name), m)(x, *shapes), getattr(getattr(ss, name), m)(x, *shapes),
                                           rtol=1e-9, atol=1e-300, err_msg=f"{name}.{m}")
    assert np.isneginf(dst.uniform.logpdf(1.5)) and dst.pareto.pdf(0.5, 2.0) == 0.0


def test_vonmises_density_only():
    x = np.array([-4.0, -0.3, 0.5, 2.0, 7.0])
    for m in ("logpdf", "pdf"):
        for kw in ({}, dict(loc=0.2, scale=1.1)):
            np.testing.assert_allclose(getattr(dst.vonmises, m)(x, 2.5, **kw), getattr(ss.vonmises, m)(x, 2.5, **kw), rtol=1e-12)
        check(lambda x: getattr(dst.vonmises, m)(x, 2.5), x)
        check(lambda k: getattr(dst.vonmises, m)(x, k), 2.5)
        check(lambda s: getattr(dst.vonmises, m)(x, 2.5, 0.2, s), 1.1)
    for m in ("cdf", "logcdf", "sf", "logsf", "ppf"):
        with pytest.raises(NotImplementedError, match="vonmises offers logpdf and pdf"):
            getattr(dst.vonmises, m)(0.5, 2.5)


@pytest.mark.parametrize("name,shapes,x", NEW_CONT + [("vonmises", (2.5,), X)], ids=[c[0] for c in NEW_CONT] + ["vonmises"])
def test_new_continuous_float32_and_jit(name, shapes, x):
    """float32 in, float32 out (value and derivative); jit(grad) at a new point is grad there."""
    ours = getattr(dst, name)
    methods = ("logpdf", "pdf") if name == "vonmises" else METHODS
    x32, s32 = x.astype(np.float32), [np.float32(s) for s in shapes]
    for m in methods:
        y, t = ad.jvp(lambda x: getattr(ours, m)(x, *s32), (x32,), (np.ones_like(x32),))
        assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32, m
        np.testing.assert_allclose(ad.primal(y), getattr(ours, m)(x, *shapes), rtol=2e-5, atol=1e-6)
    f = lambda x: np.sum(ours.logpdf(x, *shapes, loc=0.1, scale=1.3))
    g = ad.jit(ad.grad(f))
    g(x)
    x2 = x + 0.01
    np.testing.assert_allclose(g(x2), ad.grad(f)(x2), rtol=1e-12)


def test_gamma_cdf_in_its_shape():
    """gammainc is differentiated in a (as JAX does): gamma.cdf and sf in the shape."""
    for m in ("cdf", "sf", "logcdf"):
        check(lambda a: getattr(dst.gamma, m)(X, a, scale=1.3), 2.3, rtol=1e-5)
    h = 1e-5
    fd = (ad.grad(lambda a: dst.gamma.cdf(0.7, a))(2.3 + h) - ad.grad(lambda a: dst.gamma.cdf(0.7, a))(2.3 - h)) / (2 * h)
    np.testing.assert_allclose(ad.hessian(lambda a: dst.gamma.cdf(0.7, a))(2.3), fd, rtol=1e-6)  # d²/da² too
    for m in ("cdf", "sf"):  # chi2 in its degrees of freedom (chdtr: gammainc at df/2)
        check(lambda df: getattr(dst.chi2, m)(X, df), 3.5, rtol=1e-5)


def test_shape_parameters_inside_special_functions_raise():
    with pytest.raises(TypeError, match="betainc is not differentiable in its argument 'a'"):
        ad.grad(lambda a: dst.beta.cdf(0.3, a, 2.0))(1.5)


def test_discrete_distributions():
    k = np.array([0.0, 1.0, 3.0, 6.0])
    np.testing.assert_allclose(dst.poisson.logpmf(k, 2.4), ss.poisson.logpmf(k, 2.4), rtol=1e-12)
    np.testing.assert_allclose(dst.poisson.pmf(k, 2.4), ss.poisson.pmf(k, 2.4), rtol=1e-12)
    np.testing.assert_allclose(dst.poisson.cdf(k + 0.5, 2.4), ss.poisson.cdf(k + 0.5, 2.4), rtol=1e-12)
    np.testing.assert_allclose(dst.poisson.sf(k, 2.4), ss.poisson.sf(k, 2.4), rtol=1e-10)
    for m in ("logpmf", "cdf"):
        check(lambda mu: getattr(dst.poisson, m)(k, mu), 2.4)
    kb = np.array([0.0, 2.0, 5.0, 7.0])
    np.testing.assert_allclose(dst.binom.logpmf(kb, 7, 0.3), ss.binom.logpmf(kb, 7, 0.3), rtol=1e-12)
    np.testing.assert_allclose(dst.binom.cdf(kb, 7, 0.3), ss.binom.cdf(kb, 7, 0.3), rtol=1e-12)
    np.testing.assert_allclose(dst.binom.sf(kb, 7, 0.3), ss.binom.sf(kb, 7, 0.3), rtol=1e-9, atol=1e-15)
    for m in ("logpmf", "pmf", "cdf"):
        check(lambda p: getattr(dst.binom, m)(kb, 7, p), 0.3)
    assert np.isneginf(dst.poisson.logpmf(-1.0, 2.0)) and np.isneginf(dst.binom.logpmf(8.0, 7, 0.3))


KD = np.array([-1.0, 0.0, 1.0, 2.0, 2.5, 3.0, 5.0, 6.0, 9.0])  # outside, inside, not integers, beyond n
DISC = [  # (name, parameters, the differentiable parameters of logpmf / pmf, of cdf / sf)
    ("geom", (0.3,), (0,), (0,)),
    ("nbinom", (2.5, 0.3), (0, 1), (1,)),
    ("betabinom", (5.0, 2.0, 3.0), (0, 1, 2), (0, 1, 2)),
]


@pytest.mark.parametrize("name,params,dpmf,dcdf", DISC, ids=[d[0] for d in DISC])
def test_new_discrete_distributions(name, params, dpmf, dcdf):
    ref, ours = getattr(ss, name), getattr(dst, name)
    inside = KD[(KD >= (1 if name == "geom" else 0)) & (KD <= 3) & (KD == np.floor(KD))]  # (inside 0..n as n moves)
    for m in ("logpmf", "pmf", "cdf", "sf"):
        for kw in ({}, dict(loc=1.0)):
            with np.errstate(divide="ignore"):
                np.testing.assert_allclose(getattr(ours, m)(KD, *params, **kw), getattr(ref, m)(KD, *params, **kw),
                                           rtol=1e-10, atol=1e-300, err_msg=f"{name}.{m}")
        pts = inside if m in ("logpmf", "pmf") else KD[KD < 4] + 0.5  # (k = n: a jump as n moves)
        for i in (dpmf if m in ("logpmf", "pmf") else dcdf):
            def f(v, i=i, m=m, pts=pts):
                ps = list(params)
                ps[i] = v
                return getattr(ours, m)(pts, *ps)
            check(f, params[i], rtol=1e-6, atol=1e-9)
    f = lambda v: np.sum(ours.logpmf(inside, *params[:-1], v))
    g = ad.jit(ad.grad(f))
    g(params[-1])
    np.testing.assert_allclose(g(params[-1] * 0.9), ad.grad(f)(params[-1] * 0.9), rtol=1e-12)


def test_nbinom_cdf_in_n_raises_naming_betainc():
    with pytest.raises(TypeError, match="betainc is not differentiable in its argument 'a'"):
        ad.grad(lambda n: dst.nbinom.cdf(2.0, n, 0.3))(2.5)


def test_multinomial():
    x = np.array([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0], [3.0, 0.0, 0.0], [1.5, 1.5, 0.0], [4.0, -1.0, 0.0], [1.0, 1.0, 0.0]])
    p = np.array([0.5, 0.3, 0.2])
    for m in ("logpmf", "pmf"):
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(getattr(dst.multinomial, m)(x, 3, p), getattr(ss.multinomial, m)(x, 3, p), rtol=1e-12)
            pb = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])[:, None, :]  # batched p
            np.testing.assert_allclose(getattr(dst.multinomial, m)(x, 3, pb), getattr(ss.multinomial, m)(x, 3, pb), rtol=1e-12)
        # derivative x/p in every entry, as JAX (differences would leave the simplex, where SciPy adjusts p)
        want = x[:3] / p * (1.0 if m == "logpmf" else ss.multinomial.pmf(x[:3], 3, p)[:, None])
        for jac in (ad.jacfwd, ad.jacrev):
            np.testing.assert_allclose(jac(lambda p: getattr(dst.multinomial, m)(x[:3], 3, p))(p), want, rtol=1e-12)
    np.testing.assert_allclose(ad.grad(lambda p: np.sum(dst.multinomial.logpmf(x[:3], 3, p)))(p), np.sum(x[:3], 0) / p)
    assert np.isnan(dst.multinomial.logpmf(x[0], 3, np.array([1.2, -0.1, -0.1])))
    # a p off the simplex: SciPy (1.17) takes its last entry as 1 − Σ of the others
    off = np.array([0.5, 0.3, 0.3])
    np.testing.assert_allclose(dst.multinomial.logpmf(x[:3], 3, off), dst.multinomial.logpmf(x[:3], 3, p), rtol=1e-14)
    assert ad.grad(lambda p: np.sum(dst.multinomial.logpmf(x[:3], 3, p)))(off)[-1] == 0.0
    g = ad.jit(ad.grad(lambda p: np.sum(dst.multinomial.logpmf(x[:3], 3, p))))
    g(p)
    p2 = np.array([0.2, 0.2, 0.6])
    np.testing.assert_allclose(g(p2), np.sum(x[:3], 0) / p2, rtol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, -1, None])
@pytest.mark.parametrize("keepdims", [False, True])
def test_sem_matches_scipy_and_differences(axis, keepdims):
    for ddof in (0, 1):
        f = lambda a: dst.sem(a, axis=axis, ddof=ddof, keepdims=keepdims)
        np.testing.assert_allclose(f(A), ss.sem(A, axis=axis, ddof=ddof, keepdims=keepdims), rtol=1e-13)
        check(f, A)
    nan = A.copy()
    nan[1, 2] = np.nan
    for policy in ("propagate", "omit"):
        np.testing.assert_allclose(dst.sem(nan, axis=axis, nan_policy=policy), ss.sem(nan, axis=axis, nan_policy=policy), rtol=1e-13)
    check(lambda a: dst.sem(a, axis=axis, nan_policy="omit"), nan)
    with pytest.raises(ValueError, match="nan"):
        dst.sem(nan, axis=axis, nan_policy="raise")
    y, t = ad.jvp(lambda a: dst.sem(a, axis=axis), (A.astype(np.float32),), (np.ones_like(A, dtype=np.float32),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    g = ad.jit(ad.grad(lambda a: np.sum(dst.sem(a, axis=axis))))
    g(A)
    np.testing.assert_allclose(g(B), ad.grad(lambda a: np.sum(dst.sem(a, axis=axis)))(B), rtol=1e-12)


def test_rankdata_and_mode_are_plain():
    ties = np.array([[3.0, 1.0, 3.0, 2.0], [0.5, 0.5, 0.5, -1.0]])
    for method in ("average", "min", "max", "dense", "ordinal"):
        for axis in (None, 0, 1):
            np.testing.assert_array_equal(dst.rankdata(ties, method, axis=axis), ss.rankdata(ties, method, axis=axis))
    np.testing.assert_array_equal(dst.rankdata(np.array([1.0, np.nan]), nan_policy="omit"), ss.rankdata(np.array([1.0, np.nan]), nan_policy="omit"))
    # on active values: the ranks of the values, carrying no derivative (reverse and forward)
    f = lambda a: np.sum(a * dst.rankdata(a, axis=1))
    np.testing.assert_array_equal(ad.grad(f)(A), ss.rankdata(A, axis=1))
    np.testing.assert_array_equal(ad.jacfwd(f)(A), ss.rankdata(A, axis=1))
    g = ad.jit(ad.grad(f))
    g(A)
    np.testing.assert_array_equal(g(B), ss.rankdata(B, axis=1))  # a new order at a new point
    for axis in (0, 1, None):
        for keepdims in (False, True):
            want, got = ss.mode(ties, axis=axis, keepdims=keepdims), dst.mode(ties, axis=axis, keepdims=keepdims)
            np.testing.assert_array_equal(got.mode, want.mode)
            np.testing.assert_array_equal(got.count, want.count)
    m = ad.grad(lambda a: np.sum(a * dst.mode(a, axis=None).count))(ties[1])
    np.testing.assert_array_equal(m, [3.0, 3.0, 3.0, 3.0])


def test_multivariate_normal_and_dirichlet():
    x = np.array([[0.3, -0.2, 1.0], [0.1, 0.4, -0.5]])
    mean = np.array([0.1, 0.0, 0.2])
    L = np.array([[1.0, 0.0, 0.0], [0.3, 1.2, 0.0], [-0.2, 0.1, 0.8]])
    cov = L @ L.T
    np.testing.assert_allclose(dst.multivariate_normal.logpdf(x, mean, cov), ss.multivariate_normal.logpdf(x, mean, cov), rtol=1e-12)
    np.testing.assert_allclose(dst.multivariate_normal.logpdf(x[0], mean, cov), ss.multivariate_normal.logpdf(x[0], mean, cov), rtol=1e-12)
    np.testing.assert_allclose(dst.multivariate_normal.pdf(x[0]), ss.multivariate_normal.pdf(x[0]), rtol=1e-12)
    np.testing.assert_allclose(dst.multivariate_normal.logpdf(x[0], 0.5, 2.0), ss.multivariate_normal.logpdf(x[0], 0.5, 2.0), rtol=1e-12)
    check(lambda x: dst.multivariate_normal.logpdf(x, mean, cov), x)
    check(lambda m: dst.multivariate_normal.logpdf(x, m, cov), mean)
    check(lambda c: dst.multivariate_normal.logpdf(x, mean, c), cov, rtol=1e-5)
    np.testing.assert_allclose(dst.multivariate_normal.entropy(mean, cov), ss.multivariate_normal.entropy(mean, cov), rtol=1e-12)
    np.testing.assert_allclose(dst.multivariate_normal.entropy(cov=2.0), ss.multivariate_normal.entropy(cov=2.0), rtol=1e-12)
    check(lambda c: dst.multivariate_normal.entropy(mean, c), cov, rtol=1e-5)
    np.testing.assert_allclose(dst.multivariate_normal.pdf(x, mean, cov, allow_singular=False), ss.multivariate_normal.pdf(x, mean, cov))
    np.testing.assert_allclose(dst.multivariate_normal.logpdf(x, mean, cov, allow_singular=True),
                               ss.multivariate_normal.logpdf(x, mean, cov, allow_singular=True), rtol=1e-12)
    xs = np.array([0.2, 0.5, 0.3])
    alpha = np.array([1.5, 2.0, 3.2])
    np.testing.assert_allclose(dst.dirichlet.logpdf(xs, alpha), ss.dirichlet.logpdf(xs, alpha), rtol=1e-12)
    np.testing.assert_allclose(dst.dirichlet.pdf(xs, alpha), ss.dirichlet.pdf(xs, alpha), rtol=1e-12)
    check(lambda a: dst.dirichlet.logpdf(xs, a), alpha)
    check(lambda x: dst.dirichlet.logpdf(x, alpha), xs)


def test_multivariate_normal_allow_singular_is_scipys_degenerate_density():
    """A rank-2 covariance in 3-D: SciPy's values (pseudo-inverse, pseudo-determinant, -inf off
    the support); derivatives against SciPy's finite differences along moves that keep the
    rank and stay on the support, in both modes."""
    rng = np.random.default_rng(3)
    B = rng.standard_normal((3, 2))
    mean = np.array([0.3, -0.2, 0.1])
    on = mean + (B @ rng.standard_normal((2, 4))).T
    x = np.concatenate([on, on + np.array([0.5, 0.0, 0.0])])  # the last four off the support
    want = ss.multivariate_normal.logpdf(x, mean, B @ B.T, allow_singular=True)
    got = dst.multivariate_normal.logpdf(x, mean, B @ B.T, allow_singular=True)
    assert np.all(np.isneginf(got[4:])) and np.all(np.isneginf(want[4:]))
    np.testing.assert_allclose(got[:4], want[:4], rtol=1e-10)
    w = np.array([0.4, -0.7])

    def logpdf(stats, B):  # the point moves with the covariance's range
        return stats.multivariate_normal.logpdf(mean + B @ w, mean, B @ B.T, allow_singular=True)

    fd = fd_jacobian(lambda B: logpdf(ss, B), [B], 0)
    np.testing.assert_allclose(ad.grad(lambda B: logpdf(dst, B))(B), fd, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ad.jacfwd(lambda B: logpdf(dst, B))(B), fd, rtol=1e-6, atol=1e-7)
    # in x (on the support): −cov⁺ (x − mean)
    gx = ad.grad(lambda x: dst.multivariate_normal.logpdf(x, mean, B @ B.T, allow_singular=True))(on[0])
    np.testing.assert_allclose(gx, -np.linalg.pinv(B @ B.T) @ (on[0] - mean), rtol=1e-8)
    with pytest.raises(ValueError, match="positive semidefinite"):
        dst.multivariate_normal.logpdf(x, mean, -B @ B.T, allow_singular=True)


# --- SciPy's own functions on active values ---------------------------------------------------------


def test_scipy_asarray_error_names_the_equivalent_and_array_api_mode():
    x = np.array([0.5, 1.5])
    cases = [(lambda x: ss.norm.logpdf(x), "dualad.scipy.stats.norm.logpdf"),
             (lambda x: sps.logsumexp(x), "dualad.scipy.special.logsumexp"),
             (lambda x: ss.skewnorm.logpdf(x, 2.0), "equivalent in dualad.scipy")]
    for f, name in cases:
        for transform in (ad.grad, lambda f: ad.jacfwd(lambda x: np.sum(f(x)))):
            with pytest.raises(TypeError, match="SCIPY_ARRAY_API=1") as info:
                transform(f)(x)
            assert name in str(info.value)
    with pytest.raises(TypeError) as info:  # not SciPy: no SciPy hint
        ad.grad(lambda x: np.sum(np.asarray(x)))(x)
    assert "SciPy" not in str(info.value)


def test_import_dualad_imports_no_scipy():
    import subprocess
    import sys

    code = "import sys, dualad, dualad.scipy; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


# --- integrate, signal ------------------------------------------------------------------------------


def test_trapezoid_matches_scipy_in_y_x_and_dx():
    import scipy.integrate as si

    from dualad.scipy.integrate import trapezoid

    y = RNG.normal(size=(3, 5))
    x = np.sort(RNG.normal(size=5))
    xs = np.sort(RNG.normal(size=(3, 5)), axis=1)
    for args, kw in [((y, x), {}), ((y, xs), {}), ((y,), dict(dx=0.3, axis=0)), ((y[0],), {})]:
        np.testing.assert_allclose(trapezoid(*args, **kw), si.trapezoid(*args, **kw), rtol=1e-13)
        for argnum in range(len(args)):
            check(lambda *a: trapezoid(*a, **kw), *args, argnum=argnum)
    check(lambda dx: trapezoid(y, dx=dx), 0.3)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n1,n2", [(6, 3), (3, 6), (4, 4), (1, 3), (5, 1)])
def test_convolve_correlate_match_scipy(mode, n1, n2):
    import scipy.signal as ssig

    from dualad.scipy import signal

    a, b = RNG.normal(size=n1), RNG.normal(size=n2)
    for ours, ref in ((signal.convolve, ssig.convolve), (signal.correlate, ssig.correlate)):
        np.testing.assert_allclose(ours(a, b, mode=mode), ref(a, b, mode=mode), rtol=1e-12, atol=1e-14)
        check(lambda a, b: ours(a, b, mode=mode), a, b, argnum=0)
        check(lambda a, b: ours(a, b, mode=mode), a, b, argnum=1)


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("s1,s2", [((4, 3), (2, 2)), ((2, 2), (4, 3)), ((3, 3), (3, 3)), ((2, 3, 2), (2, 2, 1)), ((5, 1), (2, 1))])
def test_convolve_correlate_nd_match_scipy(mode, s1, s2):
    import scipy.signal as ssig

    from dualad.scipy import signal

    a, b = RNG.normal(size=s1), RNG.normal(size=s2)
    for ours, ref in ((signal.convolve, ssig.convolve), (signal.correlate, ssig.correlate)):
        np.testing.assert_allclose(ours(a, b, mode=mode), ref(a, b, mode=mode), rtol=1e-12, atol=1e-14)
        check(lambda a, b: ours(a, b, mode=mode), a, b, argnum=0)
        check(lambda a, b: ours(a, b, mode=mode), a, b, argnum=1)


def test_convolve_correlate_complex_and_scalar_match_scipy():
    import scipy.signal as ssig

    from dualad.scipy import signal

    a = RNG.normal(size=(3, 4)) + 1j * RNG.normal(size=(3, 4))
    b = RNG.normal(size=(2, 2)) + 1j * RNG.normal(size=(2, 2))
    for mode in ("full", "same", "valid"):
        for ours, ref in ((signal.convolve, ssig.convolve), (signal.correlate, ssig.correlate)):
            np.testing.assert_allclose(ours(a, b, mode=mode), ref(a, b, mode=mode), rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(ours(b, a, mode=mode), ref(b, a, mode=mode), rtol=1e-12, atol=1e-14)
            y, t = ad.jvp(lambda z: ours(z, b, mode=mode), (a,), (a,))  # linear in in1: the tangent is the value
            np.testing.assert_allclose(t, ref(a, b, mode=mode), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(signal.correlate(np.array(2.0), np.array(3.0)), ssig.correlate(np.array(2.0), np.array(3.0)))


def test_signal_errors():
    from dualad.scipy import signal

    with pytest.raises(ValueError, match="mode must be one of"):
        signal.convolve(np.ones(3), np.ones(2), mode="circular")
    with pytest.raises(ValueError, match="same dimensionality"):
        signal.correlate(np.ones((2, 2)), np.ones(2))
    with pytest.raises(ValueError, match="at least as large as the other in every dimension"):
        signal.convolve(np.ones((2, 4)), np.ones((3, 3)), mode="valid")


def test_comb_factorial_zeta_match_scipy_and_differences():
    n = np.array([2.5, 1.2, 4.0, 3.3])
    k = np.array([1.3, 2.0, 2.0, 0.4])  # k > N gives 0, as SciPy
    np.testing.assert_allclose(dsp.comb(n, k), sps.comb(n, k), rtol=1e-13)
    np.testing.assert_allclose(dsp.comb(n, k, repetition=True), sps.comb(n, k, repetition=True), rtol=1e-13)
    check(lambda n: dsp.comb(n, k), n, rtol=1e-5, atol=1e-7)
    check(lambda k: dsp.comb(n, k), k, rtol=1e-5, atol=1e-7)
    assert dsp.comb(5, 2, exact=True) == 10
    with pytest.raises(TypeError, match="exact=False"):
        ad.grad(lambda n: dsp.comb(n, 2, exact=True))(5.0)
    x = np.array([-1.5, 0.0, 0.7, 2.5, 4.0])
    np.testing.assert_allclose(dsp.factorial(x), sps.factorial(x), rtol=1e-13)
    check(dsp.factorial, x[x != 0], rtol=1e-5)  # (a jump at 0: SciPy's 0 below)
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(dsp.factorial(x)))(x),
                               np.where(x < 0, 0.0, sps.gamma(x + 1) * sps.psi(x + 1)), rtol=1e-12)
    q = np.array([0.5, 1.0, 2.0, 7.5])
    np.testing.assert_allclose(dsp.zeta(3.0, q), sps.zeta(3.0, q), rtol=1e-13)
    np.testing.assert_allclose(dsp.zeta(np.array([2.0, 3.5])), sps.zeta(np.array([2.0, 3.5])), rtol=1e-13)
    check(lambda q: dsp.zeta(3.0, q), q, rtol=1e-6)
    s = np.array([1.5, 2.0, 3.0, 10.0, 50.0])
    check(lambda s: dsp.zeta(s, 0.7), s, rtol=1e-6)
    np.testing.assert_allclose(ad.grad(dsp.zeta)(2.0), -0.93754825431584375370, rtol=1e-14)  # ζ′(2)
    with pytest.raises(TypeError, match="zeta_ds is not differentiable in its argument 's'"):
        ad.derivative(lambda s: dsp.zeta(s, 2.0), order=2)(3.0)


@pytest.mark.parametrize("name,args,argnum", [
    ("dawsn", (np.array([-3.0, -0.5, 0.0, 0.7, 8.0]),), 0),
    ("owens_t", (np.array([-1.0, 0.0, 0.5, 2.0]), np.array([0.3, -0.7, 1.5, 4.0])), 0),
    ("owens_t", (np.array([-1.0, 0.0, 0.5, 2.0]), np.array([0.3, -0.7, 1.5, 4.0])), 1),
    ("exp1", (np.array([0.01, 0.5, 3.0, 20.0]),), 0),
    ("expi", (np.array([-2.0, 0.01, 0.5, 3.0]),), 0),
    ("expn", (np.array([0, 1, 2, 5]), np.array([0.3, 0.5, 1.5, 4.0])), 1),
    ("loggamma", (np.array([0.1, 1.0, 2.5, 30.0]),), 0),
    ("poch", (np.array([0.5, 1.5, 3.0]), np.array([2.2, 0.3, -0.5])), 0),
    ("poch", (np.array([0.5, 1.5, 3.0]), np.array([2.2, 0.3, -0.5])), 1),
    ("binom", (np.array([4.5, 3.0, 7.2]), np.array([1.2, 0.5, 3.3])), 1),
    ("boxcox", (np.array([0.5, 1.5, 3.0, 2.0, 2.0]), np.array([0.3, 0.0, -1.2, 1e-5, 2.0])), 0),
    ("boxcox", (np.array([0.5, 1.5, 3.0, 2.0, 2.0]), np.array([0.3, 0.0, -1.2, 1e-5, 2.0])), 1),
    ("boxcox1p", (np.array([-0.5, 0.5, 3.0, 1e-3]), np.array([0.3, 0.0, -1.2, 1e-6])), 1),
    ("hyp1f1", (np.array([0.5, 1.5, 3.0]), np.array([2.5, 1.0, 4.0]), np.array([0.7, -2.0, 10.0])), 2),
    ("hyp1f1", (np.array([0.5, 1.5, 3.0, 0.7]), np.array([2.5, 1.0, 4.0, 2.0]), np.array([0.7, -2.0, 10.0, -20.0])), 0),
    ("hyp1f1", (np.array([0.5, 1.5, 3.0, 0.7]), np.array([2.5, 1.0, 4.0, 2.0]), np.array([0.7, -2.0, 10.0, -20.0])), 1),
    ("hyp2f1", (np.array([0.3, 1.5]), np.array([0.4, -0.5]), np.array([0.5, 2.5]), np.array([0.6, -0.9])), 3),
    ("hyp2f1", (np.array([0.3, 1.5, 0.2]), np.array([0.4, -0.5, 0.7]), np.array([0.5, 2.5, 0.3]), np.array([0.9, -0.9, -3.0])), 0),
    ("hyp2f1", (np.array([0.3, 1.5, 0.2]), np.array([0.4, -0.5, 0.7]), np.array([0.5, 2.5, 0.3]), np.array([0.9, -0.9, -3.0])), 1),
    ("hyp2f1", (np.array([0.3, 1.5, 0.2]), np.array([0.4, -0.5, 0.7]), np.array([0.5, 2.5, 0.3]), np.array([0.9, -0.9, -3.0])), 2),
    ("erfcx", (np.array([-2.0, 0.0, 0.5, 30.0]),), 0),
    ("spence", (np.array([0.05, 0.5, 0.98, 1.3, 4.0, 50.0]),), 0),
])
def test_more_special_functions_match_scipy_and_differences(name, args, argnum):
    f = getattr(dsp, name)
    np.testing.assert_array_equal(f(*args), getattr(sps, name)(*args))  # SciPy's own values
    check(lambda *a: f(*a), *args, argnum=argnum, rtol=1e-6, atol=1e-8)


def test_holomorphic_erfcx_and_special_parameters_refused():
    z = np.array([0.5 + 0.2j, -1.0 + 2.0j, 3.0 - 0.5j])
    _, t = ad.jvp(dsp.erfcx, (z,), (np.ones_like(z),))
    np.testing.assert_allclose(t, 2 * z * sps.erfcx(z) - 2 / np.sqrt(np.pi), rtol=1e-12)  # f'(z)
    with pytest.raises(TypeError, match="hyp1f1_da is not differentiable in its argument 'a'"):  # second order
        ad.derivative(lambda a: dsp.hyp1f1(a, 2.0, 0.5), order=2)(1.5)
    # the mixed second derivative in a and x: ∂/∂x ∂F/∂a against differences of the first
    d = lambda x: ad.grad(lambda a: dsp.hyp1f1(a, 2.0, x))(1.5)
    np.testing.assert_allclose(ad.grad(d)(0.5), (d(0.5 + 1e-5) - d(0.5 - 1e-5)) / 2e-5, rtol=1e-7)
    with pytest.raises(TypeError, match="expn is not differentiable in its argument 'n'"):
        ad.grad(lambda n: dsp.expn(n, 0.5))(2.0)


def test_wofz_is_holomorphic_on_complex_values_and_refuses_real_ones():
    z = np.array([0.5 + 0.2j, -1.0 + 0.3j, 2.0 - 1.0j, 0.1 + 3.0j])
    y, t = ad.jvp(dsp.wofz, (z,), (np.ones_like(z),))
    np.testing.assert_array_equal(y, sps.wofz(z))
    np.testing.assert_allclose(t, -2 * z * sps.wofz(z) + 2j / np.sqrt(np.pi), rtol=1e-12)  # w′(z)
    v = np.array([0.3 - 1.0j, 1.0 + 0.0j, -0.5j, 2.0 + 1.0j])
    eps = 1e-6
    np.testing.assert_allclose(ad.jvp(dsp.wofz, (z,), (v,))[1], (sps.wofz(z + eps * v) - sps.wofz(z - eps * v)) / (2 * eps), rtol=1e-7)
    # the gradient of a real function: ∂f/∂x − i ∂f/∂y by differences along both axes
    f = lambda z: np.sum(np.abs(dsp.wofz(z)) ** 2)
    g = ad.grad(f)(z)
    fd = [np.array([(f(z + eps * d * e) - f(z - eps * d * e)) / (2 * eps) for e in np.eye(4)]) for d in (1, 1j)]
    np.testing.assert_allclose(g, fd[0] - 1j * fd[1], rtol=1e-6)
    # second order, holomorphic: w″ = −2w − 2z w′
    one = np.ones_like(z)
    w, w1 = sps.wofz(z), -2 * z * sps.wofz(z) + 2j / np.sqrt(np.pi)
    w2 = ad.jvp(lambda z: ad.jvp(dsp.wofz, (z,), (one,))[1], (z,), (one,))[1]
    np.testing.assert_allclose(w2, -2 * w - 2 * z * w1, rtol=1e-12)
    with pytest.raises(TypeError, match="takes complex values only"):
        ad.grad(lambda x: np.real(dsp.wofz(x)))(0.5)


@pytest.mark.parametrize("name,out,deriv", [
    ("sici", 0, lambda x: np.where(x == 0, 1.0, np.sin(x) / np.where(x == 0, 1.0, x))),
    ("sici", 1, lambda x: np.cos(x) / x),
    ("fresnel", 0, lambda x: np.sin(np.pi * x * x / 2)),
    ("fresnel", 1, lambda x: np.cos(np.pi * x * x / 2)),
])
@pytest.mark.parametrize("reps", [1, 100])  # NumPy, then the kernels (SciPy's compiled pair)
def test_two_output_functions_sici_fresnel(name, out, deriv, reps):
    x = np.tile(np.array([-3.0, -0.5, 0.7, 2.0, 30.0]), reps)
    f = lambda x: getattr(dsp, name)(x)[out]
    y, t = ad.jvp(f, (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(y, getattr(sps, name)(x)[out])
    np.testing.assert_allclose(t, deriv(x), rtol=1e-13)  # the closed forms
    np.testing.assert_allclose(ad.grad(lambda x: np.sum(f(x)))(x), deriv(x), rtol=1e-13)
    if reps == 1:
        check(f, x, rtol=1e-6)
        h = 1e-5  # second order (nested) against differences of the closed form
        np.testing.assert_allclose(ad.hessian(lambda x: np.sum(f(x)))(x).diagonal(), (deriv(x + h) - deriv(x - h)) / (2 * h),
                                   rtol=1e-6, atol=1e-6)
    assert dsp.sici(0.0)[0] == 0.0 and ad.grad(lambda x: dsp.sici(x)[0])(0.0) == 1.0


def test_spence_at_one_and_its_edges():
    """spence′(z) = ln z / (1 − z): −1 at z = 1 (its limit), and the limit's series there to
    higher orders; SciPy's values (nan below 0); float32 kept; jit(grad) at a new point."""
    z = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    with np.errstate(invalid="ignore", divide="ignore"):
        np.testing.assert_array_equal(dsp.spence(z), sps.spence(z))
        g = ad.grad(lambda z: np.sum(dsp.spence(z)))(z)
    np.testing.assert_allclose(g[2:], [np.log(0.5) / 0.5, -1.0, -np.log(2.0)], rtol=1e-14)
    assert np.isneginf(g[1]) and np.isnan(g[0])
    for order, want in ((2, 0.5), (3, -2.0 / 3.0), (4, 1.5)):  # −ln(1 + u)/u = −1 + u/2 − u²/3 + u³/4
        np.testing.assert_allclose(ad.derivative(dsp.spence, order=order)(1.0), want, rtol=1e-14)
    h = 1e-3
    d = lambda z: np.log(z) / (1.0 - z)
    np.testing.assert_allclose(ad.derivative(dsp.spence, order=2)(1.0 + 2 * h), (d(1 + 3 * h) - d(1 + h)) / (2 * h), rtol=1e-5)
    y, t = ad.jvp(dsp.spence, (np.float32([0.5, 2.0]),), (np.ones(2, np.float32),))
    assert ad.primal(y).dtype == np.float32 and t.dtype == np.float32
    g = ad.jit(ad.grad(lambda z: np.sum(dsp.spence(z))))
    g(np.array([0.5, 2.0]))
    np.testing.assert_allclose(g(np.array([0.7, 3.0])), d(np.array([0.7, 3.0])), rtol=1e-14)


def test_bessel_jn_and_bernoulli():
    z = np.array([0.0, 0.5, 2.0, 7.5, 30.0, -1.5])
    got = dsp.bessel_jn(z, v=3)
    assert got.shape == (4, 6)
    np.testing.assert_array_equal(got, np.stack([sps.jv(k, z) for k in range(4)]))
    check(lambda z: dsp.bessel_jn(z, v=3, n_iter=20), z[1:])  # J_k′ through jv's rule
    np.testing.assert_allclose(ad.grad(lambda z: np.sum(dsp.bessel_jn(z, v=2)[1]))(z), 0.5 * (sps.jv(0, z) - sps.jv(2, z)), rtol=1e-12)
    assert dsp.bessel_jn(np.float32(0.5), v=2).dtype == np.float32
    g = ad.jit(ad.grad(lambda z: np.sum(dsp.bessel_jn(z, v=2))))
    g(z[1:])
    np.testing.assert_allclose(g(z[1:] + 0.1), ad.grad(lambda z: np.sum(dsp.bessel_jn(z, v=2)))(z[1:] + 0.1), rtol=1e-12)
    with pytest.raises(ValueError, match="nonnegative"):
        dsp.bessel_jn(z, v=-1)
    np.testing.assert_array_equal(dsp.bernoulli(6), sps.bernoulli(6))
    with pytest.raises(TypeError, match="plain integer"):
        ad.grad(lambda n: dsp.bernoulli(n))(3.0)


@pytest.mark.parametrize("bw", [None, "silverman", 0.4])
def test_gaussian_kde_matches_scipy_and_differences(bw):
    rng = np.random.default_rng(1)
    d1, d2, w = rng.normal(size=7), rng.normal(size=(2, 9)), rng.uniform(0.2, 1.0, size=9)
    p1, p2 = np.linspace(-2.0, 2.0, 5), rng.normal(size=(2, 4))
    for data, pts, wt in ((d1, p1, None), (d2, p2, None), (d2, p2, w)):
        ours, ref = dst.gaussian_kde(data, bw, wt), ss.gaussian_kde(data, bw, wt)
        for m in ("evaluate", "logpdf", "pdf", "__call__"):
            np.testing.assert_allclose(getattr(ours, m)(pts), getattr(ref, m)(pts), rtol=1e-12, err_msg=m)
        check(lambda p: dst.gaussian_kde(data, bw, wt).logpdf(p), pts)
        check(lambda d: dst.gaussian_kde(d, bw, wt).logpdf(pts), data, rtol=1e-5, atol=1e-8)
        if wt is not None:
            check(lambda w: dst.gaussian_kde(data, bw, w).evaluate(pts), wt, rtol=1e-5, atol=1e-8)
    f = lambda d: np.sum(dst.gaussian_kde(d, bw).logpdf(p1))
    g = ad.jit(ad.grad(f))
    g(d1)
    np.testing.assert_allclose(g(d1 + 0.1), ad.grad(f)(d1 + 0.1), rtol=1e-12)
    with pytest.raises(ValueError, match="dimension"):
        dst.gaussian_kde(d2).evaluate(np.zeros((3, 2)))


_CONTINUOUS = ["norm", "t", "gamma", "beta", "chi2", "expon", "laplace", "logistic", "cauchy", "uniform", "pareto",
               "gumbel_r", "gumbel_l", "truncnorm", "gennorm", "vonmises", "wrapcauchy"]


@pytest.mark.parametrize("name", _CONTINUOUS)
def test_shape_parameters_are_named_as_scipys(name):
    want = tuple(s.strip() for s in (getattr(ss, name).shapes or "").split(",") if s.strip())
    assert getattr(dst, name).shape_names() == want


def test_shape_parameters_by_keyword_as_scipy():
    x = np.array([-0.5, 0.3, 1.7])
    np.testing.assert_allclose(dst.t.logpdf(x, df=3.5), ss.t.logpdf(x, df=3.5), rtol=1e-13)
    np.testing.assert_allclose(dst.beta.cdf(x * 0.2 + 0.5, 2.0, b=3.0), ss.beta.cdf(x * 0.2 + 0.5, 2.0, b=3.0), rtol=1e-13)
    np.testing.assert_allclose(dst.gamma.sf(x + 2, a=2.5, loc=0.5, scale=2.0), ss.gamma.sf(x + 2, a=2.5, loc=0.5, scale=2.0), rtol=1e-13)
    np.testing.assert_allclose(dst.poisson.pmf(np.array([0, 2, 5]), mu=2.5), ss.poisson.pmf([0, 2, 5], mu=2.5), rtol=1e-13)
    np.testing.assert_allclose(dst.binom.sf(np.array([0, 2, 5]), n=8, p=0.3), ss.binom.sf([0, 2, 5], n=8, p=0.3), rtol=1e-12)
    g = ad.grad(lambda d: np.sum(dst.t.logpdf(x, df=d)))(3.5)
    eps = 1e-6
    fd = (np.sum(ss.t.logpdf(x, 3.5 + eps)) - np.sum(ss.t.logpdf(x, 3.5 - eps))) / (2 * eps)
    assert g == pytest.approx(fd, rel=1e-7)
    with pytest.raises(TypeError, match="shape parameters are df"):
        dst.t.logpdf(x, nu=3.0)
    with pytest.raises(TypeError, match="shape parameters are df"):
        dst.t.logpdf(x, 3.0, df=3.0)
