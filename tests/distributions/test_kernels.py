"""Building blocks of the Gaussian-mixture kernel (``pdediff.distributions._kernels``)."""

import math

import numba
import numpy as np
import pytest

from pdediff.distributions._kernels import component_exponent, mixture_normalise, mixture_weights


@numba.njit(cache=True)
def _every_exponential(lw, top):
    # The reference: every term evaluated, exp(0) included.
    total = 0.0
    for k in range(lw.shape[0]):
        lw[k] = math.exp(lw[k] - top)
        total += lw[k]
    return total


_EXPONENTS = [
    [0.3, -1.2],
    [-1.2, 0.3],
    [1.5, 1.5],  # a tie at the top: both terms are exp(0)
    [2.0, 2.0, -3.0, 2.0],
    [-700.0, 0.0, -800.0],  # terms that underflow to 0 and subnormals
    [-745.5, -0.25],
    [-np.inf, 4.0],  # a zero-weight component
    [-np.inf, -np.inf],  # no finite exponent: both paths give nan
    [7.0],
]


@pytest.mark.parametrize("exponents", _EXPONENTS)
def test_skipping_the_top_exponential_changes_no_bit(exponents):
    """Claim: ``mixture_normalise``, which does not evaluate the top term's ``exp(0)``,
    gives the bits of evaluating every exponential (libm's ``exp(0) = 1`` exactly),
    with ties at the top, underflowing terms and ``-inf`` exponents.  Criterion: the
    weights and the total are bitwise equal (nan where both are nan)."""
    lw = np.array(exponents, dtype=float)
    top = float(np.max(lw))
    ours, reference = lw.copy(), lw.copy()
    total = mixture_normalise(ours, top)
    expected = _every_exponential(reference, top)
    assert np.array_equal(ours.view(np.int64), reference.view(np.int64))
    assert np.array_equal(np.array([total]).view(np.int64), np.array([expected]).view(np.int64))


@pytest.mark.parametrize("isotropic", [True, False])
def test_mixture_weights_is_the_exponents_then_the_normalisation(isotropic):
    """Claim: ``mixture_weights`` at a point equals ``component_exponent`` per
    component, the maximum, then the every-term normalisation, bit for bit; and the
    exponent is ``logc_k - (x - m_k)^T P_k (x - m_k) / 2`` (to rounding)."""
    rng = np.random.default_rng(3)
    K, n = 3, 2
    means = rng.normal(size=(K, n))
    a = rng.normal(size=(K, n, n))
    prec = np.einsum("kij,klj->kil", a, a) + np.eye(n)
    if isotropic:
        prec = np.broadcast_to(np.eye(n) * np.array([0.5, 2.0, 3.0])[:, None, None],
                               (K, n, n)).copy()
    logc = rng.normal(size=K)
    for x in rng.normal(size=(20, n)):
        y, lw = np.empty((K, n)), np.empty(K)
        top, total = mixture_weights(x, means, prec, logc, isotropic, y, lw)
        y2, exps = np.empty((K, n)), np.empty(K)
        for k in range(K):
            exps[k] = component_exponent(x, means, prec, logc, isotropic, k, y2)
            diff = x - means[k]
            assert exps[k] == pytest.approx(logc[k] - 0.5 * diff @ prec[k] @ diff, rel=1e-13)
        assert top == np.max(exps)
        assert np.array_equal(y, y2)
        assert total == _every_exponential(exps, top)
        assert np.array_equal(lw, exps)
