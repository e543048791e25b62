"""Tests of pdediff.score_model.mlp: exact autodiff derivatives of JAX log-densities,
the Fokker–Planck residual of a closed-form law, and the MLP's configuration."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")

from pdediff.distributions import GaussianMixture  # noqa: E402
from pdediff.processes import OU  # noqa: E402
from pdediff.score_model import JaxLogDensity, MLPLogDensity  # noqa: E402

PROCESS = OU(rate=1.3, g=0.9, T=10.0)
MEANS = np.array([[1.0, -0.5], [-1.2, 0.8]])
VARIANCES = np.array([0.3, 0.7])
WEIGHTS = np.array([0.35, 0.65])


def _mixture_log_pt(variance_error: float = 0.0):
    """Exact ``log p_t`` of an isotropic 2-component Gaussian mixture under OU(rate, g),
    written in JAX (``variance_error`` perturbs the variance law, for the negative
    control)."""
    rate, g2 = PROCESS.rate, PROCESS.g**2

    def fn(params, t, x):
        alpha = jnp.exp(-rate * t)
        sigma2 = g2 * (-jnp.expm1(-2.0 * rate * t)) / (2.0 * rate)
        v = (alpha**2 * VARIANCES + sigma2) * (1.0 + variance_error)
        r2 = jnp.sum((x[None, :] - alpha * MEANS) ** 2, axis=1)
        terms = jnp.log(WEIGHTS) - 0.5 * r2 / v - jnp.log(2.0 * jnp.pi * v)
        return jax.scipy.special.logsumexp(terms)

    return fn


def _points(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-3.0, 3.0, (n, 2)), rng.uniform(0.05, 3.0, n)


def test_autodiff_residual_of_exact_log_density_is_round_off():
    # Claim: R[log p_t] = 0 for the exact law; criterion: |R| <= 50 eps * (size of the
    # terms of R) at every point in float64, while a 1e-3 perturbation of the law gives
    # |R| far above that (the test can fail).
    model = JaxLogDensity(_mixture_log_pt(), ndim=2, dtype="float64")
    x, t = _points()
    d = model.derivatives(x, t)
    a = PROCESS.a(t)
    D = PROCESS.diffusion(t)
    scale = (np.abs(d["dt"]) + 2 * np.abs(a) + np.abs(a * np.sum(x * d["grad"], axis=1))
             + D * (np.abs(d["lap"]) + np.sum(d["grad"] ** 2, axis=1)))
    R = model.residual(x, t, PROCESS)
    assert np.max(np.abs(R) / scale) < 50 * np.finfo(float).eps
    wrong = JaxLogDensity(_mixture_log_pt(1e-3), ndim=2, dtype="float64").residual(x, t, PROCESS)
    assert np.max(np.abs(wrong) / scale) > 1e-5


def test_autodiff_score_matches_the_distribution_machinery():
    # independent closed form: pdediff.distributions' exact score of the same mixture
    model = JaxLogDensity(_mixture_log_pt(), ndim=2, dtype="float64")
    law = GaussianMixture(MEANS, [v * np.eye(2) for v in VARIANCES], WEIGHTS)
    x, _ = _points(200, 1)
    for t in (0.1, 1.0):
        np.testing.assert_allclose(model.score(x, t), law.score(x, t, PROCESS), rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(model.log_density(x, t), law.log_density(x, t, PROCESS), rtol=1e-12)
        np.testing.assert_allclose(model.divergence(x, t), law.score_divergence(x, t, PROCESS),
                                   rtol=1e-10, atol=1e-11)


def _fd_errors(model, x, t, h):
    """Errors of central differences of ``log_density`` (step h) against the autodiff
    score, Laplacian and time derivative."""
    phi = model.log_density
    e = np.eye(2)
    grad = np.stack([(phi(x + h * e[d], t) - phi(x - h * e[d], t)) / (2 * h) for d in range(2)], axis=-1)
    lap = sum((phi(x + h * e[d], t) - 2 * phi(x, t) + phi(x - h * e[d], t)) / h**2 for d in range(2))
    dt = (phi(x, t + h) - phi(x, t - h)) / (2 * h)
    return (np.max(np.abs(grad - model.score(x, t))), np.max(np.abs(lap - model.divergence(x, t))),
            np.max(np.abs(dt - model.dt_log_density(x, t))))


@pytest.mark.parametrize("activation,beta", [("softplus", 10.0), ("tanh", 1.0)])
def test_mlp_derivatives_agree_with_finite_differences_at_second_order(activation, beta):
    # Claim: the autodiff derivatives are the derivatives of log_density. Criterion:
    # central-difference errors fall at the observed order 2 +- 0.3 over h, h/2, h/4
    # (an autodiff bug leaves an h-independent error and order ~0).
    model = MLPLogDensity(widths=(12, 12), activation=activation, beta=beta, dtype="float64", seed=3)
    x, t = _points(50, 2)
    t = t + 0.5
    hs = np.array([4e-3, 2e-3, 1e-3])
    errors = np.array([_fd_errors(model, x, t, h) for h in hs])  # (3 h, 3 quantities)
    orders = np.polyfit(np.log(hs), np.log(errors), 1)[0]
    assert np.all(np.abs(orders - 2.0) < 0.3), orders


def test_scalar_and_per_point_times_and_precisions_agree():
    model = MLPLogDensity(widths=(16, 16), seed=1)
    x, _ = _points(300, 3)
    t = 0.7
    np.testing.assert_array_equal(model.score(x, t), model.score(x, np.full(300, t)))
    double = MLPLogDensity(widths=(16, 16), dtype="float64")
    double.set_weights([{k: v.astype(np.float64) for k, v in layer.items()} for layer in model.get_weights()])
    # the same network in two precisions: agreement to float32 round-off
    np.testing.assert_allclose(model.score(x, t), double.score(x, t), rtol=1e-5, atol=1e-5)
    assert model.score(x[:7].reshape(7, 1, 2), t).shape == (7, 1, 2)
    assert model.divergence(x, t).dtype == np.float64


def test_chunking_does_not_change_results():
    big = MLPLogDensity(widths=(8,), seed=2, dtype="float64")
    small = MLPLogDensity(widths=(8,), seed=2, dtype="float64", chunk=256)
    x, t = _points(1000, 4)
    np.testing.assert_allclose(big.derivatives(x, t)["lap"], small.derivatives(x, t)["lap"], rtol=1e-14)


def test_paper_network_size_and_config():
    model = MLPLogDensity()
    assert model.n_params == 3 * 80 + 80 + 2 * (80 * 80 + 80) + 81
    assert model.config() == {"widths": [80, 80, 80], "activation": "softplus", "beta": 100.0,
                              "ndim": 2, "dtype": "float32", "seed": 0}


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"widths": 80}, TypeError, "widths"),
        ({"widths": ()}, ValueError, "widths"),
        ({"widths": (8, 0)}, ValueError, "widths"),
        ({"activation": "relu"}, ValueError, "activation"),
        ({"beta": 0.0}, ValueError, "beta"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"seed": -1}, ValueError, "seed"),
    ],
)
def test_constructor_validation(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLPLogDensity(**kwargs)


def test_evaluation_validation():
    model = MLPLogDensity(widths=(4,))
    with pytest.raises(ValueError, match="x"):
        model.score(np.zeros((3, 3)), 1.0)
    with pytest.raises(ValueError, match="t"):
        model.score(np.zeros((3, 2)), -1.0)
    with pytest.raises(ValueError, match="t"):
        model.score(np.zeros((3, 2)), np.ones(4))
    with pytest.raises(TypeError, match="process"):
        model.residual(np.zeros((3, 2)), 1.0, "ou")


def test_import_without_jax_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['jax'] = None\n"
        "import pdediff.score_model as s\n"
        "assert s.ScoreModel is not None\n"
        "try:\n"
        "    s.MLPLogDensity\n"
        "except ImportError as error:\n"
        "    assert 'pdediff[nn]' in str(error), error\n"
        "    print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


def test_from_linear_layers_matches_a_torch_layout_forward_pass():
    # the torch convention y = x W^T + b, written out in numpy, against the JAX model
    rng = np.random.default_rng(11)
    sizes = (3, 7, 5, 1)
    layers = [(rng.normal(size=(o, i)), rng.normal(size=o)) for i, o in zip(sizes[:-1], sizes[1:])]
    model = MLPLogDensity.from_linear_layers(layers, beta=4.0, dtype="float64")
    assert model.widths == (7, 5) and model.ndim == 2
    x, t = rng.normal(size=(20, 2)), 0.4
    z = np.concatenate([np.full((20, 1), t), x], axis=1)
    for w, b in layers[:-1]:
        z = np.logaddexp(0.0, 4.0 * (z @ w.T + b)) / 4.0
    expected = (z @ layers[-1][0].T + layers[-1][1])[:, 0]
    np.testing.assert_allclose(model.log_density(x, t), expected, rtol=1e-13)
    with pytest.raises(ValueError, match="layers"):
        MLPLogDensity.from_linear_layers(layers[:-1])
