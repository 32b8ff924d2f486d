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


def test_logsumexp_unmodified_in_array_api_mode():
    """scipy.special.logsumexp copies its input (``at(...).set(copy=True)``) before writing:
    the namespace's ``asarray(copy=True)`` must hand back a copy, not the leaf itself."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, SCIPY_ARRAY_API="1", PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", LOGSUMEXP], env=env, capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
