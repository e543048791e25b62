"""Shared cases of the distribution tests: one instance per class and dimension, and
one time per process at which p_t is smooth on the scale of the support."""

from __future__ import annotations

import numpy as np

from pdediff.distributions import (
    Annulus,
    Ball,
    Box,
    Checkerboard,
    Circle,
    GaussianMixture,
    Points,
    RadialNormal,
    Rings,
    Sphere,
    point_mass,
)
from pdediff.processes import OU, VE, VP, HeatFlow, SubVP

PROCESSES = {
    "heat": (HeatFlow(kappa=0.5), 0.1),
    "ou": (OU(), 0.5),
    "vp": (VP(), 0.1),
    "subvp": (SubVP(), 0.25),
    "ve": (VE(), 0.4),
}


def make_cases() -> dict:
    rng = np.random.default_rng(7)
    a = rng.normal(size=(3, 3, 3))
    full = np.einsum("kij,klj->kil", a, a) * 0.1 + 0.05 * np.eye(3)
    return {
        "gm1": GaussianMixture([[-1.0], [0.5]], [0.2, 0.05], [0.3, 0.7]),
        "gm2full": GaussianMixture(
            [[0.0, 0.0], [1.0, -0.5]], [[[0.3, 0.1], [0.1, 0.2]], [[0.1, -0.05], [-0.05, 0.4]]]
        ),
        "gm3full": GaussianMixture(rng.normal(size=(3, 3)), full, [0.2, 0.3, 0.5]),
        "gm3diag": GaussianMixture(
            [[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]], [[0.1, 0.2, 0.3], [0.3, 0.1, 0.05]]
        ),
        "points2": Points(rng.normal(size=(5, 2)), [0.1, 0.2, 0.3, 0.2, 0.2]),
        "pointmass3": point_mass([0.3, -0.2, 0.1]),
        "box1": Box(-1.0, 0.5),
        "box2": Box([-1.0, 0.0], [0.5, 2.0]),
        "box3": Box([-1.0, 0.0, -0.5], [0.5, 1.0, 0.5]),
        "checker": Checkerboard(),
        "ball2": Ball([0.2, -0.1], 1.0),
        "ball3": Ball([0.0, 0.1, 0.0], 0.8),
        "annulus2": Annulus([0.0, 0.0], 0.5, 1.2),
        "annulus3": Annulus([0.1, 0.0, 0.0], 0.4, 0.9),
        "circle": Circle([0.3, 0.0], 1.0),
        "sphere": Sphere([0.0, 0.0, 0.0], 0.7),
        "rings": Rings([1.3, 2.8], 0.2),
        "radialnormal2": RadialNormal([1.3, 2.8], 0.2, [0.5, 0.5]),
        "radialnormal2fold": RadialNormal([0.3], 0.4),
        "radialnormal3": RadialNormal([0.6, 1.0], [0.3, 0.15], [0.3, 0.7], center=[0.1, 0.0, 0.0]),
        "box2blur": Box([-1.0, 0.0], [0.5, 2.0]).smoothed(0.1),
    }


CASES = make_cases()


def scale(dist) -> float:
    """A length of the support (to place test points)."""
    return float(np.sqrt(np.trace(dist.covariance())) + 0.1)


def probe_points(dist, n: int, seed: int = 0, spread: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return dist.mean() + spread * scale(dist) * rng.uniform(-1, 1, size=(n, dist.ndim))
