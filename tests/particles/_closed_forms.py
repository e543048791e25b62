"""Closed-form scores and helpers shared by the particle tests."""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from pdediff.particles import forward


class IsotropicMixtureScore:
    """Exact score of ``p_0 = sum_k w_k N(m_k, c_k I)`` under a linear process:
    ``p_t = sum_k w_k N(alpha_t m_k, V_k I)``, ``V_k = alpha_t^2 c_k + sigma_t^2``.

    With responsibilities ``r_k`` and ``u_k = -(x - alpha_t m_k) / V_k``:
    ``s = sum_k r_k u_k`` and ``div s = sum_k r_k (|u_k|^2 - n/V_k) - |s|^2``.
    """

    def __init__(self, process, means, variances, weights):
        self.process = process
        self.means = np.atleast_2d(np.asarray(means, dtype=float))
        self.variances = np.asarray(variances, dtype=float)
        self.log_weights = np.log(np.asarray(weights, dtype=float))

    def _parts(self, x, t):
        alpha = self.process.alpha(t)
        V = alpha**2 * self.variances + self.process.sigma2(t)
        n = x.shape[-1]
        diff = x[:, None, :] - alpha * self.means[None, :, :]
        log_comp = (
            self.log_weights - 0.5 * np.sum(diff**2, axis=2) / V - 0.5 * n * np.log(2 * np.pi * V)
        )
        lse = logsumexp(log_comp, axis=1)
        r = np.exp(log_comp - lse[:, None])
        u = -diff / V[None, :, None]
        return V, r, u, lse

    def __call__(self, x, t):
        _, r, u, _ = self._parts(x, t)
        return np.einsum("mk,mkn->mn", r, u)

    def divergence(self, x, t):
        V, r, u, _ = self._parts(x, t)
        n = x.shape[-1]
        s = np.einsum("mk,mkn->mn", r, u)
        return np.einsum("mk,mk->m", r, np.sum(u**2, axis=2) - n / V) - np.sum(s**2, axis=1)

    def log_density(self, x, t):
        return self._parts(x, t)[3]

    def mean_var(self, t):
        """Mean and per-coordinate variance of a one-component law at time t."""
        alpha = self.process.alpha(t)
        return alpha * self.means[0], alpha**2 * self.variances[0] + self.process.sigma2(t)

    def cdf_1d(self, x, t):
        alpha = self.process.alpha(t)
        V = alpha**2 * self.variances + self.process.sigma2(t)
        w = np.exp(self.log_weights)
        return sum(
            w[k] * stats.norm.cdf(x, loc=alpha * self.means[k, 0], scale=np.sqrt(V[k]))
            for k in range(w.size)
        )

    def sample(self, n, rng):
        w = np.exp(self.log_weights)
        k = rng.choice(w.size, size=n, p=w)
        d = self.means.shape[1]
        return self.means[k] + np.sqrt(self.variances[k])[:, None] * rng.standard_normal((n, d))


def gaussian(process, mean, variance):
    return IsotropicMixtureScore(process, [mean], [variance], [1.0])


class ScoreOnly:
    """The same score without a ``divergence`` attribute."""

    def __init__(self, score):
        self.score = score

    def __call__(self, x, t):
        return self.score(x, t)


def slope(h, err):
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


def exact_prior_samples(score, T, n, seed):
    rng = np.random.default_rng(seed)
    return forward(score.sample(n, rng), score.process, T, seed=seed + 1)


