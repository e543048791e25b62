"""The data laws of Deveney, Stanczuk, Kreusser, Budd and Schönlieb (arXiv 2311.15996),
exactly as their released sampler draws them, with exact ``log p_t`` and scores.

* ``blob``: 9 equal-weight Gaussians ``N(0.65 m_k, 0.2 * 0.65^2 I)``, ``m_k`` in
  ``(+-2, +-2), (0, 0), (+-4, 0), (0, +-4)`` (a :class:`GaussianMixture`);
* ``circles2``: two rings of equal mass, radius ``~ N(1.3, 0.2^2)`` and ``N(2.8,
  0.2^2)`` (0.2 the standard deviation), uniform angle (a :class:`RadialNormal`: the
  radius law is the folded normal, since a negative draw reflects through the origin);
* ``checker``: the 8 squares of side 1.5 on ``[-3, 3]^2`` that are the alternate squares
  ``(i, j)``, ``i + j`` even, of the 4x4 board, the bottom-left square ``[-3, -1.5]^2``
  included (the colour of the FFJORD toy checkerboard, scaled from ``[-4, 4]^2`` by 3/4;
  a :class:`Checkerboard`, a union of boxes).
"""

from __future__ import annotations

from .base import Distribution
from .boxes import Checkerboard
from .gaussian import GaussianMixture
from .radial_normal import RadialNormal

__all__ = ["PAPER_LAWS", "blob", "checker", "circles2", "paper_law"]

#: the names accepted by :func:`paper_law`
PAPER_LAWS = ("blob", "circles2", "checker")

_BLOB_SCALE = 0.65
_BLOB_MEANS = ((2, 2), (2, -2), (-2, 2), (-2, -2), (0, 0), (4, 0), (-4, 0), (0, 4), (0, -4))


def blob() -> GaussianMixture:
    """The 9-Gaussian ``blob``: ``(1/9) sum_k N(0.65 m_k, 0.2 * 0.65^2 I)`` in 2-D."""
    means = [[_BLOB_SCALE * a, _BLOB_SCALE * b] for a, b in _BLOB_MEANS]
    return GaussianMixture(means, 0.2 * _BLOB_SCALE**2)


def circles2() -> RadialNormal:
    """The two rings ``circles2``: mass 1/2 each, radius ``|N(1.3, 0.2^2)|`` and
    ``|N(2.8, 0.2^2)|``, uniform angle, about the origin."""
    return RadialNormal([1.3, 2.8], 0.2, weights=[0.5, 0.5])


def checker() -> Checkerboard:
    """The ``checker`` law: uniform on the 8 squares ``[-3 + 1.5 i, -1.5 + 1.5 i] x
    [-3 + 1.5 j, -1.5 + 1.5 j]``, ``i + j`` even (``i, j`` in 0..3)."""
    return Checkerboard(scale=6.0)


def paper_law(name: str) -> Distribution:
    """The data law ``name`` in ``("blob", "circles2", "checker")`` (see the module
    docstring); a new object at every call."""
    if name not in PAPER_LAWS:
        raise ValueError(f"name: expected one of {list(PAPER_LAWS)}, got {name!r}")
    return {"blob": blob, "circles2": circles2, "checker": checker}[name]()
