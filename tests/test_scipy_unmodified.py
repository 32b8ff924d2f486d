"""SciPy's own functions, unmodified, differentiated through SciPy's array-API mode.

SciPy converts inputs with ``np.asanyarray`` unless ``SCIPY_ARRAY_API=1`` is set before it is
imported; with it, SciPy asks the array for its namespace and dualad values pass through.  The
flag must be set before SciPy is imported, so these checks run in a fresh interpreter.
"""

import os
import subprocess
import sys

CODE = r"""
import numpy as np
import dualad as ad
from scipy.optimize import minimize, rosen, rosen_der, rosen_hess, rosen_hess_prod

x = np.array([0.5, 1.2, -0.3, 2.0, 0.9])
v = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
np.testing.assert_allclose(ad.grad(rosen)(x), rosen_der(x), rtol=1e-12)
for mode in ("forward-over-reverse", "reverse-over-reverse", "forward-over-forward", "reverse-over-forward"):
    np.testing.assert_allclose(ad.hessian(rosen, mode=mode)(x), rosen_hess(x), rtol=1e-12, atol=1e-12)
np.testing.assert_allclose(ad.hvp(rosen, x, v), rosen_hess_prod(x, v), rtol=1e-12)
res = minimize(rosen, x, method="Newton-CG", jac=ad.grad(rosen), hessp=lambda x, p: ad.hvp(rosen, x, p), options={"xtol": 1e-10})
assert res.success and np.allclose(res.x, 1.0, atol=1e-5), res
print("ok")
"""


def test_rosen_unmodified_all_hessian_orders_hvp_and_newton_cg():
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


LOGSUMEXP = r"""
import numpy as np
import dualad as ad
from scipy.special import logsumexp, softmax
from tests.helpers import fd_jacobian

a = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
b = np.array([[0.3, 1.0, 2.0], [1.5, 0.2, 0.7]])
for axis in (None, 0, 1):
    for f in (lambda a, b: logsumexp(a, axis=axis), lambda a, b: logsumexp(a, axis=axis, b=b)):
        fd = fd_jacobian(lambda *v: np.asarray(f(*v)), [a, b], 0)
        for jac in (ad.jacfwd, ad.jacrev):  # both arguments active (a plain b: "Multiple namespaces")
            np.testing.assert_allclose(jac(f, argnums=(0, 1))(a, b)[0], fd, rtol=1e-6, atol=1e-8)
np.testing.assert_allclose(ad.grad(lambda a: logsumexp(a))(a), softmax(a), rtol=1e-13)
print("ok")
"""


def _run_in_array_api_mode(code: str) -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, SCIPY_ARRAY_API="1", PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


def test_logsumexp_unmodified_in_array_api_mode():
    """scipy.special.logsumexp copies its input (``at(...).set(copy=True)``) before writing:
    the namespace's ``asarray(copy=True)`` must hand back a copy, not the leaf itself."""
    _run_in_array_api_mode(LOGSUMEXP)


MIXED = r"""
import numpy as np
import pytest
import dualad as ad
import scipy.special as sp
import scipy.stats as st
from tests.helpers import fd_jacobian

a = np.array([[1.0, 2.2, 3.0], [0.5, -1.0, 2.6]])   # no ties: order statistics are smooth here
b = np.array([[0.3, 1.0, 2.0], [1.5, 0.2, 0.7]])   # plain NumPy arrays beside the active one
cases = {
    "logsumexp(b=)": lambda a: sp.logsumexp(a, b=b),  # the first call of a session, too
    "logsumexp(b=, axis=1)": lambda a: sp.logsumexp(a, b=b, axis=1),
    "logsumexp(return_sign=)": lambda a: sp.logsumexp(a, b=b - 1.0, return_sign=True)[0],
    "softmax(a + b)": lambda a: sp.softmax(a + b, axis=0),
    "xlogy(active, plain)": lambda a: sp.xlogy(a, b),
    "xlogy(plain, active)": lambda a: sp.xlogy(b, np.exp(a)),
    "rel_entr": lambda a: sp.rel_entr(np.exp(a), b),
    "entr": lambda a: sp.entr(np.exp(a)),
    "erf": lambda a: sp.erf(a),
    "gammainc(plain, active)": lambda a: sp.gammainc(b, np.exp(a)),
    "betainc(plain, 2, active)": lambda a: sp.betainc(b, 2.0, 0.3 * np.exp(-np.abs(a))),
    "stats.zscore": lambda a: st.zscore(a, axis=1),
    "stats.entropy(p, q)": lambda a: st.entropy(np.exp(a[0]), b[0]),
    "stats.skew": lambda a: st.skew(a, axis=None),
    "stats.kurtosis": lambda a: st.kurtosis(a, axis=1),
    "stats.variation": lambda a: st.variation(np.exp(a), axis=None),
    "stats.gmean(weights=)": lambda a: st.gmean(np.exp(a), axis=None, weights=b),
    "stats.hmean(weights=)": lambda a: st.hmean(np.exp(a), axis=None, weights=b),
    "stats.pmean(weights=)": lambda a: st.pmean(np.exp(a), 2.5, axis=None, weights=b),
    "stats.describe": lambda a: st.describe(a, axis=None).variance,
    "stats.pearsonr": lambda a: st.pearsonr(a[0], b[0]).statistic,
    "stats.ttest_1samp": lambda a: st.ttest_1samp(a[0], 0.5).pvalue,
    "stats.ttest_ind": lambda a: st.ttest_ind(a[0], b[0]).pvalue,
    "stats.chisquare": lambda a: st.chisquare(np.exp(a[0]), b[0] * np.exp(a[0]).sum() / b[0].sum()).pvalue,
    "stats.iqr": lambda a: st.iqr(a),
    "stats.tvar": lambda a: st.tvar(a, axis=None),
    "stats.boxcox_llf": lambda a: st.boxcox_llf(0.5, np.exp(a[0])),
    "stats.circmean": lambda a: st.circmean(a, axis=1),
}
for name, f in cases.items():
    fd = fd_jacobian(lambda v: np.asarray(f(v)), [a], 0)
    for jac in (ad.jacrev, ad.jacfwd):
        np.testing.assert_allclose(jac(f)(a), fd, rtol=1e-6, atol=1e-7, err_msg=f"{name} ({jac.__name__})")

# the derivative in an input dualad does not differentiate still raises, naming it
with pytest.raises(TypeError, match="stdtr is not differentiable in its argument 'df'"):
    ad.grad(lambda df: sp.stdtr(df, 0.3))(3.0)
# SciPy's distribution objects convert with np.asarray in array-API mode too (SciPy 1.17: the
# rv_continuous methods and the new scipy.stats.Normal infrastructure alike): the error says so,
# naming dualad.scipy's equivalent where there is one, and does not suggest SCIPY_ARRAY_API=1
for f, name in [(lambda a: st.norm.logpdf(a), "Use dualad.scipy.stats.norm.logpdf"),
                (lambda a: st.gamma.cdf(np.exp(a), 2.0), "Use dualad.scipy.stats.gamma.cdf"),
                (lambda a: st.Normal(mu=0.5).logpdf(a), "Look for an equivalent in dualad.scipy")]:
    with pytest.raises(TypeError, match="distribution objects convert their inputs with np.asarray, even in SciPy's array-API mode") as info:
        ad.grad(lambda a: f(a).sum())(a)
    assert name in str(info.value) and "set SCIPY_ARRAY_API" not in str(info.value)
# array-API attributes
v = ad.Variable(a)
assert v.device == a.device == "cpu"
print("ok")
"""


def test_scipy_mixing_active_and_numpy_arrays_in_array_api_mode():
    """SciPy's array-API code given an active value and plain NumPy arrays in one call (a weight,
    a second sample): "Multiple namespaces" before; now dualad's namespace serves both, SciPy's
    special-function ufuncs run through dualad's rules, and both modes match central differences."""
    _run_in_array_api_mode(MIXED)
