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
from . import scipy as scipy
from .core import dispatch as _dispatch  # noqa: F401  (installs the dispatcher into the rules)
from .core import memory as _memory  # noqa: F401  (keeps freed memory for reuse; DUALAD_KEEP_MEMORY=0 disables)
from .explain import Trace, trace
from .forward.dual import Dual
from .functions import log_softmax, logsumexp, primal, relu, sigmoid, softmax, softplus
from .reverse.tape import Tape, no_grad
from .reverse.variable import Variable
from .transforms.forward import derivative, jacfwd, jvp
from .transforms.jacobian import Decision, jacobian
from .transforms.nested import check_grads, hessian, hvp, sparse_hessian
from .transforms.record import Recording, record
from .transforms.reverse import grad, jacrev, value_and_grad, vjp
from .transforms.sparsity import hessian_sparsity, jacobian_sparsity

__version__ = "0.1.0"

__all__ = [
    "Decision",
    "Dual",
    "Tape",
    "Trace",
    "Variable",
    "Recording",
    "record",
    "check_grads",
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
    "trace",
]
