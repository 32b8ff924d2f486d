"""Tags and tapes are per thread: concurrent nested differentiation gives the serial results."""

import threading

import numpy as np

import dualad as ad


def _funcs():
    return [
        lambda x: np.sum(np.sin(x) * x**2),
        lambda x: np.sum(np.exp(-x) * np.cos(x)),
        lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
        lambda x: ad.logsumexp(x * np.arange(1.0, x.size + 1)),
    ]


def _work(f, x):
    return (
        ad.hessian(f, mode="forward-over-reverse")(x),
        ad.hessian(f, mode="reverse-over-reverse")(x),
        ad.hessian(f, mode="forward-over-forward")(x),
        ad.hessian(f, mode="reverse-over-forward")(x),
        ad.derivative(lambda t: t * ad.derivative(lambda y: t * y)(2.0))(1.5),
    )


def test_threads_nesting_concurrently_match_serial():
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal(5) for _ in range(8)]
    funcs = _funcs()
    jobs = [(funcs[i % len(funcs)], x) for i, x in enumerate(xs)]
    serial = [_work(f, x) for f, x in jobs]
    results = [None] * len(jobs)
    errors = []
    barrier = threading.Barrier(len(jobs))

    def run(i):
        try:
            barrier.wait()
            for _ in range(3):
                results[i] = _work(*jobs[i])
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, want in zip(results, serial):
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_variable_tapes_are_per_thread():
    out = {}

    def run(name, scale):
        w = ad.Variable(np.array([1.0, 2.0]))
        for _ in range(200):
            loss = np.sum((w * scale) ** 2)
            loss.backward()
        out[name] = w.grad

    threads = [threading.Thread(target=run, args=(i, float(i + 1))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_allclose(out[i], 200 * 2 * (i + 1) ** 2 * np.array([1.0, 2.0]))
