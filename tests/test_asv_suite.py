"""dualad.asv_suite: a benchmark class asv collects, timing a user's function and its derivatives."""

import numpy as np
import pytest

import dualad as ad


def loss(w, X):
    return np.sum(np.tanh(X @ w) ** 2)


def vector(x):
    return np.sin(x) * np.cumsum(x)


def run_all(cls):
    bench = cls()
    bench.setup()
    results = {}
    for name in dir(cls):
        if name.startswith(("time_", "peakmem_")):
            results[name] = getattr(bench, name)()
    return bench, results


def test_scalar_function_gets_gradient_hessians_and_memory():
    X = np.random.default_rng(0).standard_normal((20, 5))
    cls = ad.asv_suite(loss, (np.ones(5), X), name="Loss", hessian_orders=["forward-over-reverse", "reverse-over-forward"])
    assert cls.__name__ == "Loss"
    bench, results = run_all(cls)
    assert set(results) == {
        "time_value", "time_grad", "time_hessian_forward_over_reverse", "time_hessian_reverse_over_forward",
        "time_jacobian_forward", "time_jacobian_reverse", "time_jacobian_auto", "peakmem_grad",
    }
    # what is timed is the real transform at the example arguments
    np.testing.assert_allclose(bench.fns["grad"](*bench.args), ad.grad(loss)(np.ones(5), X))
    np.testing.assert_allclose(bench.fns["hessian_reverse_over_forward"](*bench.args), ad.hessian(loss)(np.ones(5), X))


def test_vector_function_gets_jacobians_only_and_args_are_copied():
    x = np.linspace(0.0, 1.0, 30)
    cls = ad.asv_suite(vector, (x,), jacobian_modes=("forward", "auto"))
    assert cls.__name__ == "VectorSuite"
    bench, results = run_all(cls)
    assert set(results) == {"time_value", "time_jacobian_forward", "time_jacobian_auto"}
    assert bench.args[0] is not x
    np.testing.assert_allclose(bench.fns["jacobian_auto"](*bench.args), ad.jacfwd(vector)(x))


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match="unknown Jacobian mode 'sideways'"):
        ad.asv_suite(vector, (np.ones(3),), jacobian_modes=("sideways",))
    with pytest.raises(ValueError, match="unknown Hessian order"):
        ad.asv_suite(loss, (np.ones(2), np.ones((3, 2))), hessian_orders=["forward"])
    with pytest.raises(ValueError, match="scalar float output"):
        ad.asv_suite(vector, (np.ones(3),), hessian_orders=["forward-over-reverse"])
    with pytest.raises(TypeError, match="callable"):
        ad.asv_suite(3.0, ())
