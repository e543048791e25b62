"""Grid scores: the score of a forward grid solution (face differences of ``log p``)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .. import _validate
from ..grid import Grid


def _multilinear(
    values: np.ndarray, node_low: np.ndarray, spacing: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Multilinear interpolation of ``values`` (nodes ``node_low + j * spacing``) at
    ``points`` (m, n); beyond the outermost nodes the value is held constant."""
    n = points.shape[1]
    index, frac = [], []
    for k in range(n):
        s = (points[:, k] - node_low[k]) / spacing[k]
        i0 = np.clip(np.floor(s).astype(np.int64), 0, values.shape[k] - 2)
        index.append(i0)
        frac.append(np.clip(s - i0, 0.0, 1.0))
    out = np.zeros(points.shape[0])
    for corner in itertools.product((0, 1), repeat=n):
        weight = np.ones(points.shape[0])
        for k, c in enumerate(corner):
            weight *= frac[k] if c else 1.0 - frac[k]
        out += weight * values[tuple(index[k] + corner[k] for k in range(n))]
    return out


class GridScore:
    """Score of a forward grid :class:`~pdediff.solution.Solution`.

    Let ``phi = log max(p, floor * max p)`` per snapshot.  Along axis ``d`` the score
    component lives on the faces normal to ``d``:

        s_d(face i+1/2) = (phi_{i+1} - phi_i) / h_d

    which is a second-order approximation of ``d_d log p`` at the face centre (the
    cell-average error ``O(h^2)`` of ``phi`` is smooth, so it cancels to ``O(h^2)`` in
    the difference).  Values at arbitrary ``x`` are multilinear in the staggered face
    grid of each component (second order), and linear in ``t`` between the two
    bracketing snapshots (error ``O(dt^2 d_t^2 s)``); ``t`` outside the stored range
    raises ``ValueError``.  Points outside the box get the value at the nearest
    boundary (constant extrapolation); periodic axes wrap.

    **Small densities.**  A face is *resolved* when both adjacent cells hold
    ``p >= floor * max p``.  Unresolved faces get the score of the Gaussian with the
    snapshot's mean ``m`` and covariance ``C``: ``s = -C^{-1} (x - m)``.  This is exact
    for Gaussian data under any linear process, has the right direction and growth
    far from compact data, and its error elsewhere is ``O(alpha_t^2 |Cov_0| /
    sigma_t^4 * |x - m|)`` (the Tweedie correction it ignores).  On a no-flux wall
    the face value is linearly extrapolated from the two nearest interior faces
    (resolved when both are).  :attr:`resolved` gives the per-snapshot masks.

    Parameters
    ----------
    solution : Solution with ``p`` of shape ``(nt, *grid.shape)``
    floor : float in (0, 1), relative density floor (default ``1e-10``)
    """

    def __init__(self, solution: Any, floor: float = 1e-10) -> None:
        for attr in ("t", "p", "grid", "process"):
            if not hasattr(solution, attr):
                raise TypeError(f"solution: expected a pdediff Solution (missing .{attr})")
        grid = solution.grid
        if not isinstance(grid, Grid):
            raise TypeError("solution: .grid must be a pdediff Grid")
        t = np.asarray(solution.t, dtype=float).reshape(-1)
        p = np.asarray(solution.p, dtype=float)
        if p.shape != (t.size, *grid.shape):
            raise ValueError(
                f"solution: p has shape {p.shape}, expected {(t.size, *grid.shape)}"
            )
        if not (np.all(np.isfinite(p)) and np.all(p >= 0)):
            raise ValueError("solution: p must be finite and nonnegative")
        if np.any(p.reshape(t.size, -1).max(axis=1) <= 0):
            raise ValueError("solution: every snapshot needs positive mass")
        floor = _validate.probability(floor, "floor", open_left=True, open_right=True)
        order = np.argsort(t, kind="stable")
        if np.any(np.diff(t[order]) <= 0):
            raise ValueError("solution: snapshot times must be distinct")
        self.grid = grid
        self.process = solution.process
        self.floor = float(floor)
        self.t = t[order]
        self._p = p[order]
        self.ndim = grid.ndim
        self._faces: dict[int, list[np.ndarray]] = {}
        self._div: dict[int, np.ndarray] = {}
        self._resolved: dict[int, list[np.ndarray]] = {}

    # -- construction of the face fields --------------------------------------
    def _gaussian_fit(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        grid = self.grid
        x = grid.points().reshape(-1, grid.ndim)
        w = p.reshape(-1) / p.sum()
        mean = w @ x
        centred = x - mean
        cov = (centred * w[:, None]).T @ centred
        # Cell-averaging adds h^2/12 per axis to the continuous covariance; keep the
        # raw covariance if the correction would leave it non-positive (unresolved).
        corrected = cov - np.diag(grid.spacing**2 / 12.0)
        for candidate in (corrected, cov):
            try:
                np.linalg.cholesky(candidate)
            except np.linalg.LinAlgError:
                continue
            return mean, np.linalg.inv(candidate)
        raise ValueError("solution: a snapshot has a degenerate covariance (a point mass?)")

    def _build(self, k: int) -> list[np.ndarray]:
        if k in self._faces:
            return self._faces[k]
        grid = self.grid
        p = self._p[k]
        threshold = self.floor * p.max()
        ok = p >= threshold
        phi = np.log(np.maximum(p, threshold))
        mean, precision = self._gaussian_fit(p)
        faces, resolved = [], []
        for d in range(grid.ndim):
            h = grid.spacing[d]
            a = np.moveaxis(phi, d, 0)
            okd = np.moveaxis(ok, d, 0)
            if grid.periodic[d]:
                nxt = np.roll(a, -1, axis=0)
                inner = (nxt - a) / h  # face i+1/2 for i = 0..N-1
                good = okd & np.roll(okd, -1, axis=0)
                face = np.concatenate([inner[-1:], inner], axis=0)
                mask = np.concatenate([good[-1:], good], axis=0)
            else:
                inner = (a[1:] - a[:-1]) / h
                good = okd[1:] & okd[:-1]
                first = 2.0 * inner[0] - inner[1]
                last = 2.0 * inner[-1] - inner[-2]
                face = np.concatenate([first[None], inner, last[None]], axis=0)
                mask = np.concatenate(
                    [(good[0] & good[1])[None], good, (good[-1] & good[-2])[None]], axis=0
                )
            face = np.moveaxis(face, 0, d)
            mask = np.moveaxis(mask, 0, d)
            if not mask.all():
                xf = grid.face_points(d)[~mask]
                face[~mask] = -((xf - mean) @ precision[d])
            faces.append(self._pad(face, d))
            resolved.append(mask)
        self._faces[k] = faces
        self._resolved[k] = resolved
        return faces

    def _pad(self, values: np.ndarray, d: int) -> np.ndarray:
        """Wrap-pad periodic cross axes so interpolation between the last and the
        first centre is the periodic one."""
        for k in range(self.grid.ndim):
            if k != d and self.grid.periodic[k]:
                values = np.concatenate(
                    [np.take(values, [-1], axis=k), values, np.take(values, [0], axis=k)], axis=k
                )
        return values

    def _node_low(self, d: int | None) -> np.ndarray:
        grid = self.grid
        low = grid.low + 0.5 * grid.spacing
        if d is not None:
            low[d] = grid.low[d]
        for k in range(grid.ndim):
            if k != d and grid.periodic[k]:
                low[k] -= grid.spacing[k]
        return low

    def resolved(self, index: int) -> list[np.ndarray]:
        """Per axis ``d``, the boolean mask of faces normal to ``d`` (shape of
        ``grid.face_points(d)[..., 0]``) computed from data in snapshot ``index``
        (sorted by time); ``False`` faces carry the Gaussian fallback."""
        self._build(index)
        return self._resolved[index]

    def _bracket(self, t: float) -> tuple[int, int, float]:
        t = _validate.forward_time(t, "t")
        lo, hi = self.t[0], self.t[-1]
        tol = 1e-12 * max(abs(lo), abs(hi), 1.0)
        if t < lo - tol or t > hi + tol:
            raise ValueError(f"t: {t!r} is outside the stored range [{lo!r}, {hi!r}]")
        if self.t.size == 1:
            return 0, 0, 0.0
        k = int(np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, self.t.size - 2))
        theta = float(np.clip((t - self.t[k]) / (self.t[k + 1] - self.t[k]), 0.0, 1.0))
        return k, k + 1, theta

    def _wrap(self, x: np.ndarray) -> np.ndarray:
        points = x.reshape(-1, self.ndim).copy()
        for k in range(self.ndim):
            if self.grid.periodic[k]:
                points[:, k] = self.grid.low[k] + np.mod(
                    points[:, k] - self.grid.low[k], self.grid.length[k]
                )
        return points

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Interpolated ``grad log p_t(x)``; ``x`` shape ``(..., n)``, returns the same."""
        x = _validate.points(x, "x", self.ndim)
        k0, k1, theta = self._bracket(t)
        points = self._wrap(x)
        out = np.zeros_like(points)
        for k, w in ((k0, 1.0 - theta), (k1, theta)):
            if w == 0.0:
                continue
            faces = self._build(k)
            for d in range(self.ndim):
                out[:, d] += w * _multilinear(
                    faces[d], self._node_low(d), self.grid.spacing, points
                )
        return out.reshape(x.shape)

    def divergence(self, x: np.ndarray, t: float) -> np.ndarray:
        """Discrete divergence of the face field, ``sum_d (s_d(i+1/2) - s_d(i-1/2))/h_d``
        (the 2n+1-point Laplacian of ``phi``, second order), multilinear from the
        cell centres and linear in ``t``; shape ``x.shape[:-1]``."""
        x = _validate.points(x, "x", self.ndim)
        k0, k1, theta = self._bracket(t)
        points = self._wrap(x)
        out = np.zeros(points.shape[0])
        for k, w in ((k0, 1.0 - theta), (k1, theta)):
            if w == 0.0:
                continue
            if k not in self._div:
                faces = self._build(k)
                div = np.zeros(self.grid.shape)
                for d in range(self.ndim):
                    f = faces[d]
                    for j in range(self.ndim):  # strip the periodic padding again
                        if j != d and self.grid.periodic[j]:
                            f = np.take(f, np.arange(1, f.shape[j] - 1), axis=j)
                    div += np.diff(f, axis=d) / self.grid.spacing[d]
                self._div[k] = self._pad(div, -1)
            out += w * _multilinear(self._div[k], self._node_low(None), self.grid.spacing, points)
        return out.reshape(x.shape[:-1])

    def __repr__(self) -> str:
        return f"GridScore(grid={self.grid!r}, nt={self.t.size}, floor={self.floor!r})"


def grid_score(solution: Any, floor: float = 1e-10) -> GridScore:
    """The score of a forward grid solution (see :class:`GridScore`)."""
    return GridScore(solution, floor=floor)


# The Fokker–Planck residual lives in pdediff.residual; kept here under its old names.
