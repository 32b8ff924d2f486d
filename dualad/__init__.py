"""dualad: automatic differentiation of NumPy code in forward and reverse mode.

Forward mode pushes vectorised dual tensors (a primal plus k tangent lanes); reverse mode records
a Wengert list and sweeps it backwards.  Both draw every elementwise derivative from one rule
table (:mod:`dualad.rules`) that Numba compiles into fused kernels.

Examples
--------
>>> import numpy as np
>>> import dualad as ad
>>> ad.jacfwd(lambda x: np.sin(x) * x)(np.array([0.0, 1.0]))
array([[0.        , 0.        ],
       [0.        , 1.38177329]])
"""

from . import optim as optim
from . import rules as rules
from . import scipy as scipy  # SciPy's functions (dualad.scipy.linalg, dualad.scipy.fft); imports SciPy only when used
from . import tree as tree
from .benchmarking import asv_suite
from .core import dispatch as _dispatch  # noqa: F401  (installs the dispatcher into the rules)
from .core import fft_api as _fft_api  # noqa: F401  (registers the numpy.fft handlers)
from .core import linalg_api as _linalg_api  # noqa: F401  (registers the numpy.linalg handlers)
from .core import memory as _memory  # noqa: F401  (keeps freed memory for reuse; DUALAD_KEEP_MEMORY=0 disables)
from .explain import Trace, trace
from .forward.dual import Dual
from .functions import log_softmax, logsumexp, primal, relu, sigmoid, softmax, softplus, stop_gradient
from .objective import ScipyObjective, scipy_objective
from .reverse.tape import Tape, no_grad
from .reverse.variable import Variable
from .transforms.checkpoint import checkpoint
from .transforms.custom import custom_jvp, custom_vjp
from .transforms.forward import derivative, jacfwd, jvp
from .transforms.jacobian import Decision, jacobian
from .transforms.jit import JitFallbackWarning, Jitted, jit
from .transforms.nested import check_grads, hessian, hvp, sparse_hessian
from .transforms.record import Recording, record
from .transforms.reverse import grad, jacrev, value_and_grad, vjp
from .transforms.sparsity import hessian_sparsity, jacobian_sparsity

remat = checkpoint  # JAX's other name for it

__version__ = "0.1.0"

__all__ = [
    "asv_suite",
    "scipy_objective",
    "ScipyObjective",
    "Decision",
    "Dual",
    "Tape",
    "Trace",
    "Variable",
    "Recording",
    "record",
    "jit",
    "Jitted",
    "JitFallbackWarning",
    "check_grads",
    "checkpoint",
    "remat",
    "custom_jvp",
    "custom_vjp",
    "hessian",
    "hessian_sparsity",
    "hvp",
    "grad",
    "jacobian",
    "jacobian_sparsity",
    "jacrev",
    "no_grad",
    "optim",
    "value_and_grad",
    "vjp",
    "derivative",
    "jacfwd",
    "jvp",
    "log_softmax",
    "logsumexp",
    "primal",
    "relu",
    "rules",
    "scipy",
    "sigmoid",
    "softmax",
    "softplus",
    "sparse_hessian",
    "stop_gradient",
    "trace",
    "tree",
]
