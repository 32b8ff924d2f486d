"""NumPy functions beyond the issue's list: tile, repeat, pad, average — both modes vs FD."""

import numpy as np
import pytest

import dualad as ad
from tests.helpers import check_jacfwd

X = np.random.default_rng(3).standard_normal((2, 3))

CASES = {
    "tile": lambda x: np.tile(x, (2, 1)),
    "repeat_axis": lambda x: np.repeat(x, 2, axis=1),
    "repeat_counts": lambda x: np.repeat(x, [1, 2], axis=0),
    "repeat_flat": lambda x: np.repeat(x, 3),
    "pad_zero": lambda x: np.pad(x, ((1, 0), (2, 1))),
    "pad_value": lambda x: np.pad(x, 1, constant_values=3.0),
    "pad_edge": lambda x: np.pad(x, ((2, 1), (0, 3)), mode="edge"),
    "pad_reflect": lambda x: np.pad(x, ((1, 1), (2, 2)), mode="reflect"),
    "pad_symmetric": lambda x: np.pad(x, 2, mode="symmetric"),
    "pad_wrap": lambda x: np.pad(x, ((1, 0), (4, 2)), mode="wrap"),
    "average_weights": lambda x: np.average(x, axis=1, weights=np.array([1.0, 2.0, 3.0])),
    "average_all": lambda x: np.average(x),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_extra_functions_forward_reverse_fd(name):
    f = CASES[name]
    check_jacfwd(f, X)
    np.testing.assert_allclose(ad.jacrev(f)(X), ad.jacfwd(f)(X), rtol=1e-12, atol=1e-14)
    y, _ = ad.jvp(f, (X,), (np.ones_like(X),))
    np.testing.assert_allclose(y, f(X))


def test_pad_other_modes_say_so():
    with pytest.raises(NotImplementedError, match="'symmetric' and 'wrap'"):
        ad.jacfwd(lambda x: np.pad(x, 1, mode="mean"))(X)
    with pytest.raises(NotImplementedError, match="reflect_type='odd'"):
        ad.jacfwd(lambda x: np.pad(x, 1, mode="reflect", reflect_type="odd"))(X)


@pytest.mark.parametrize("value", [0.0, 3.0])
def test_pad_keeps_float32(value):
    """np.pad of float32 is float32 in NumPy; a nonzero constant_values once made it float64."""
    x = X.astype(np.float32)
    f = lambda x: np.pad(x, 1, constant_values=value)
    assert f(x).dtype == np.float32
    y, y_dot = ad.jvp(f, (x,), (np.ones_like(x),))
    assert y.dtype == np.float32 and y_dot.dtype == np.float32
    assert ad.jacfwd(f)(x).dtype == np.float32 and ad.jacrev(f)(x).dtype == np.float32
    np.testing.assert_array_equal(ad.primal(y), f(x))
