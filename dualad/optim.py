"""Small, standard optimisers: SGD (with momentum and Nesterov momentum) and Adam.

Two ways to use each optimiser:

*Functional*, over any pytree (nested tuples, lists, dicts) of arrays, as in JAX's optax::

    opt = dualad.optim.Adam(1e-2)
    state = opt.init(params)
    for batch in data:
        grads = dualad.grad(loss)(params, batch)
        params, state = opt.update(grads, state, params)

*PyTorch style*, over :class:`~dualad.Variable` leaves whose ``.grad`` was filled by
``backward()``::

    opt = dualad.optim.SGD(0.1, momentum=0.9)
    for batch in data:
        opt.zero_grad([w, b])
        loss(w, b, batch).backward()
        opt.step([w, b])

``step`` replaces each Variable's value with a new array through :func:`assign`; the Variable
keeps its identity, so the same objects are used again in the next iteration.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .core import device
from .core.dispatch import Active, strip
from .reverse.variable import Variable
from .transforms.pytree import flatten_up_to, tree_flatten, tree_unflatten

__all__ = ["SGD", "Adam", "SGDState", "AdamState", "Optimizer", "assign", "zero_grad"]


def assign(variable: Variable, value) -> Variable:
    """Replace a leaf Variable's value, keeping the Variable (its identity, tape and ``.grad``).

    Variables are otherwise immutable: a leaf's value lives in its private slot ``_p``.  This
    is the one sanctioned way to change it, for optimisers and hand-written update loops.  The
    new value is copied into a fresh array (cast to the Variable's dtype), so values that a tape
    saved before the update are never changed under it.

    Parameters
    ----------
    variable : Variable
        A leaf Variable (made with ``Variable(x)`` or ``tape.variable(x)``) holding a plain array.
    value : array_like
        The new value, of the Variable's shape.

    Returns
    -------
    Variable
        ``variable`` itself.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.optim import assign
    >>> w = ad.Variable(np.array([1.0, 2.0]))
    >>> (np.sum(w * w)).backward()
    >>> _ = assign(w, w.value - 0.25 * w.grad)
    >>> w.value
    array([0.5, 1. ])
    """
    if not isinstance(variable, Variable):
        raise TypeError(f"assign(variable, value) needs a dualad.Variable, got {type(variable).__name__}")
    if not variable.is_leaf:
        raise ValueError("assign: only a leaf Variable's value can be replaced (this one was computed from others)")
    if isinstance(variable._p, Active):
        raise TypeError("assign: this Variable holds an active value of an outer transform; it cannot be replaced")
    if isinstance(value, Active):
        value = strip(value)
    if device.is_device(value):
        new = value.astype(variable.dtype, copy=True)
        device.locate([strip(variable._p), new], "assign(variable, value)")
    else:
        new = np.array(value, dtype=variable.dtype, copy=True)
        device.locate([new, strip(variable._p)], "assign(variable, value)")
    if tuple(new.shape) != variable.shape:
        raise ValueError(f"assign: new value has shape {new.shape}, the Variable has {variable.shape}")
    variable._p = new
    return variable


def _variables(variables) -> list:
    if isinstance(variables, Variable):
        return [variables]
    leaves, _ = tree_flatten(variables)
    for v in leaves:
        if not isinstance(v, Variable):
            raise TypeError(f"expected dualad.Variable objects (a Variable or a list/tuple/dict of them), got {type(v).__name__}")
    return leaves


def zero_grad(variables) -> None:
    """Forget the gradients accumulated in Variables (``.grad = None`` for each).

    Parameters
    ----------
    variables : Variable or pytree of Variable

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad.optim import zero_grad
    >>> w = ad.Variable(np.array([1.0, 2.0]))
    >>> np.sum(w * w).backward()
    >>> zero_grad([w])
    >>> w.grad is None
    True
    """
    for v in _variables(variables):
        v.grad = None


def _as_leaf(x):
    return x if isinstance(x, Active) else device.asarray(x)


def _zeros_like(p):
    p = device.asarray(strip(p))
    return device.zeros(p.shape, p.dtype if p.dtype.kind == "f" else np.float64, p)


class Optimizer:
    """Base of the optimisers: per-array rules ``_init_leaf``/``_update_leaf`` shared by the
    functional API (:meth:`init`, :meth:`update`) and the PyTorch-style :meth:`step`.

    Examples
    --------
    >>> from dualad.optim import SGD, Adam, Optimizer
    >>> isinstance(SGD(0.1), Optimizer) and isinstance(Adam(1e-3), Optimizer)
    True
    """

    _State: Callable = tuple
    _slot_names: tuple = ()

    def __init__(self, lr):
        if not callable(lr):
            lr = float(lr)
            if not lr > 0.0:
                raise ValueError(f"learning rate must be positive, got {lr}")
        self.lr = lr
        self._vars: dict[int, list] = {}

    def _rate(self, count: int) -> float:
        return float(self.lr(count)) if callable(self.lr) else self.lr

    # -- per array --------------------------------------------------------------------------
    def _init_leaf(self, p) -> tuple:
        raise NotImplementedError

    def _update_leaf(self, g, p, slots: tuple, count: int, lr: float):
        raise NotImplementedError

    # -- functional ---------------------------------------------------------------------------
    def init(self, params):
        """The optimiser's state for ``params`` (a pytree of arrays): step count 0, zero buffers.

        Returns
        -------
        NamedTuple
            ``count`` and one buffer pytree per slot, each mirroring ``params``.
        """
        leaves, treedef = tree_flatten(params)
        slots = [self._init_leaf(p) for p in leaves]
        trees = [tree_unflatten(treedef, [s[k] for s in slots]) for k in range(len(self._slot_names))]
        return self._State(0, *trees)

    def update(self, grads, state, params):
        """One step: ``(new_params, new_state)``; nothing is modified in place.

        Parameters
        ----------
        grads : pytree of arrays
            Same structure as ``params`` (a ``None`` leaf leaves that parameter as it is).
        state : NamedTuple
            From :meth:`init` or the previous :meth:`update`.
        params : pytree of arrays

        Returns
        -------
        (params, state)
        """
        p_leaves, treedef = tree_flatten(params)
        g_leaves = flatten_up_to(treedef, grads)
        if g_leaves is None:
            raise ValueError("update: grads must have the same structure as params")
        count = int(state[0]) + 1
        slot_leaves = []
        for k in range(len(self._slot_names)):
            leaves = flatten_up_to(treedef, state[1 + k])
            if leaves is None:
                raise ValueError(f"update: state.{self._slot_names[k]} does not match params; call init(params) again")
            slot_leaves.append(leaves)
        lr = self._rate(count)
        new_p, new_slots = [], [[] for _ in self._slot_names]
        for i, (g, p) in enumerate(zip(g_leaves, p_leaves)):
            slots = tuple(s[i] for s in slot_leaves)
            if g is None:
                q = p
            else:
                q, slots = self._update_leaf(_as_leaf(g), _as_leaf(p), slots, count, lr)
            new_p.append(q)
            for k, s in enumerate(slots):
                new_slots[k].append(s)
        trees = [tree_unflatten(treedef, s) for s in new_slots]
        return tree_unflatten(treedef, new_p), self._State(count, *trees)

    # -- PyTorch style --------------------------------------------------------------------------
    def step(self, variables) -> None:
        """Update Variables in place from their ``.grad`` (PyTorch style).

        Each Variable's value is replaced by a new array (see :func:`assign`); Variables whose
        ``.grad`` is None are skipped.  The optimiser keeps per-Variable buffers and step counts.

        Parameters
        ----------
        variables : Variable or pytree of Variable
        """
        for v in _variables(variables):
            if v.grad is None:
                continue
            key = id(v)
            entry = self._vars.get(key)
            if entry is None or entry[0]() is not v:
                entry = [weakref.ref(v, lambda _, k=key: self._vars.pop(k, None)), self._init_leaf(v.value), 0]
                self._vars[key] = entry
            entry[2] += 1
            g = device.asarray(strip(v.grad))
            q, entry[1] = self._update_leaf(g, v.value, entry[1], entry[2], self._rate(entry[2]))
            assign(v, q)

    def zero_grad(self, variables) -> None:
        """Same as :func:`dualad.optim.zero_grad`."""
        zero_grad(variables)


class SGDState(NamedTuple):
    """State of :class:`SGD`: the step count and the velocity (momentum buffer) per parameter.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.optim import SGD
    >>> state = SGD(0.1, momentum=0.9).init(np.zeros(2))
    >>> state.count, state.velocity
    (0, array([0., 0.]))
    """

    count: int
    velocity: Any


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum.

    With momentum μ the update is (as in PyTorch)::

        v ← μ v + g
        p ← p − lr · v                 (heavy ball)
        p ← p − lr · (g + μ v)         (nesterov=True)

    Parameters
    ----------
    lr : float or callable
        Learning rate, or a function of the 1-based step number returning it.
    momentum : float
        μ ≥ 0 (0: plain gradient descent).
    nesterov : bool
        Nesterov's accelerated momentum (needs ``momentum > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad import optim
    >>> opt = optim.SGD(0.1, momentum=0.9)
    >>> params = {"w": np.array([1.0, -2.0])}
    >>> state = opt.init(params)
    >>> for _ in range(2):
    ...     grads = ad.grad(lambda p: np.sum(p["w"] ** 2))(params)
    ...     params, state = opt.update(grads, state, params)
    >>> params["w"]
    array([ 0.46, -0.92])
    """

    _State = SGDState
    _slot_names = ("velocity",)

    def __init__(self, lr, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(lr)
        momentum = float(momentum)
        if momentum < 0.0:
            raise ValueError(f"momentum must be >= 0, got {momentum}")
        if nesterov and momentum == 0.0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.momentum, self.nesterov = momentum, bool(nesterov)

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr!r}, momentum={self.momentum!r}, nesterov={self.nesterov!r})"

    def _init_leaf(self, p) -> tuple:
        return (_zeros_like(p) if self.momentum else None,)

    def _update_leaf(self, g, p, slots, count, lr):
        if not self.momentum:
            return p - lr * g, slots
        v = self.momentum * slots[0] + g
        d = g + self.momentum * v if self.nesterov else v
        return p - lr * d, (v,)


class AdamState(NamedTuple):
    """State of :class:`Adam`: step count, first-moment (``mu``) and second-moment (``nu``) estimates.

    Examples
    --------
    >>> import numpy as np
    >>> from dualad.optim import Adam
    >>> state = Adam(1e-3).init(np.zeros(2))
    >>> state.count, state.mu, state.nu
    (0, array([0., 0.]), array([0., 0.]))
    """

    count: int
    mu: Any
    nu: Any


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015): per-coordinate steps from bias-corrected moment estimates.

    The update, with g the gradient and t the step number::

        m ← β₁ m + (1 − β₁) g          m̂ = m / (1 − β₁ᵗ)
        v ← β₂ v + (1 − β₂) g²         v̂ = v / (1 − β₂ᵗ)
        p ← p − lr · m̂ / (√v̂ + ε)

    Parameters
    ----------
    lr : float or callable
        Learning rate, or a function of the 1-based step number returning it.
    b1, b2 : float
        Decay rates of the moment estimates, in [0, 1).
    eps : float
        Added to √v̂ for numerical stability.

    Examples
    --------
    >>> import numpy as np
    >>> import dualad as ad
    >>> from dualad import optim
    >>> w = ad.Variable(np.array([1.0, -2.0]))
    >>> opt = optim.Adam(0.1)
    >>> for _ in range(2):
    ...     opt.zero_grad([w])
    ...     np.sum(w ** 2).backward()
    ...     opt.step([w])
    >>> np.round(w.value, 2)         # each of the first steps moves every coordinate by about lr
    array([ 0.8, -1.8])
    """

    _State = AdamState
    _slot_names = ("mu", "nu")

    def __init__(self, lr, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8):
        super().__init__(lr)
        for name, b in (("b1", b1), ("b2", b2)):
            if not 0.0 <= float(b) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {b}")
        if float(eps) < 0.0:
            raise ValueError(f"eps must be >= 0, got {eps}")
        self.b1, self.b2, self.eps = float(b1), float(b2), float(eps)

    def __repr__(self) -> str:
        return f"Adam(lr={self.lr!r}, b1={self.b1!r}, b2={self.b2!r}, eps={self.eps!r})"

    def _init_leaf(self, p) -> tuple:
        return (_zeros_like(p), _zeros_like(p))

    def _update_leaf(self, g, p, slots, count, lr):
        m = self.b1 * slots[0] + (1.0 - self.b1) * g
        v = self.b2 * slots[1] + (1.0 - self.b2) * (g * g)
        m_hat = m / (1.0 - self.b1**count)
        v_hat = v / (1.0 - self.b2**count)
        return p - lr * m_hat / (np.sqrt(v_hat) + self.eps), (m, v)
