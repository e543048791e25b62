"""The paper's evaluation protocol: nearest-node binning on 64 x 64 nodes with the
outside mass folded onto the edge nodes, W2^2 between binned masses, and the
Richardson analysis of a refinement sequence.

The nearest-node rule has a grid form that makes the binning of a grid density exact:
the nodes ``-H + k dx`` (``k = 0..n-1``, ``dx = 2H/(n-1)``) are the centres of the
``n`` cells of width ``dx`` on ``[-H - dx/2, H + dx/2]`` (the *node cells*), and a point
is nearest to node ``k`` iff it lies in node cell ``k`` -- except outside the node
cells, where it goes to the nearest edge node (the fold).  A solver grid whose faces
contain the node-cell faces (spacing ``dx/m``, padding by whole cells) is therefore
binned without any interpolation: sum the ``m x m`` blocks, then add every outside row
and column onto the edge nodes.
"""

from __future__ import annotations

import math

import numpy as np

from ...grid import Grid
from ...io import Labelled, label_entries
from ...metrics import GridDensity, w2


def node_grid(nodes: int, half_width: float) -> Grid:
    """The node cells: ``nodes`` cells of width ``dx = 2 half_width/(nodes - 1)`` on
    ``[-half_width - dx/2, half_width + dx/2]^2``; their centres are the paper's nodes."""
    if nodes < 2:
        raise ValueError(f"nodes: expected an int >= 2, got {nodes!r}")
    dx = 2.0 * half_width / (nodes - 1)
    edge = half_width + 0.5 * dx
    return Grid([(-edge, edge)] * 2, nodes)


def node_index(x: np.ndarray, nodes: int, half_width: float) -> np.ndarray:
    """Index ``(N, 2)`` of the nearest node of each point of ``x`` (N, 2); points
    outside the node range go to the nearest edge node (``clip``)."""
    dx = 2.0 * half_width / (nodes - 1)
    k = np.floor((np.asarray(x, dtype=float) + half_width) / dx + 0.5).astype(np.int64)
    return np.clip(k, 0, nodes - 1)


def bin_particles(x: np.ndarray, nodes: int, half_width: float) -> tuple[np.ndarray, float]:
    """Masses ``(nodes, nodes)`` indexed ``[ix, iy]`` of the particles ``x`` (N, 2)
    binned to the nearest node (equal weights ``1/N``) and the share of particles
    outside the node cells ``[-H - dx/2, H + dx/2]^2`` (folded onto the edge nodes)."""
    x = np.asarray(x, dtype=float)
    k = node_index(x, nodes, half_width)
    mass = np.zeros((nodes, nodes))
    np.add.at(mass, (k[:, 0], k[:, 1]), 1.0 / x.shape[0])
    edge = half_width * nodes / (nodes - 1)
    folded = float(np.mean(np.any(np.abs(x) > edge, axis=1)))
    return mass, folded


def bin_masses(cell_mass: np.ndarray, start: int, factor: int,
               nodes: int) -> tuple[np.ndarray, float]:
    """Paper binning of cell masses on an aligned solver grid.

    Parameters
    ----------
    cell_mass : (n, n) masses (density x cell volume) of the solver cells
    start : index of the first solver cell inside node cell 0 (the padding, in cells)
    factor : solver cells per node cell along an axis (``m``)
    nodes : number of nodes per axis

    Returns
    -------
    ``(mass, folded)``: node masses ``(nodes, nodes)`` (sum = total mass) and the share of
    the mass that lay outside the node cells and was folded onto the edge nodes.
    """
    cell_mass = np.asarray(cell_mass, dtype=float)
    n = cell_mass.shape[0]
    stop = start + factor * nodes
    if cell_mass.shape != (n, n) or start < 0 or stop > n:
        raise ValueError(f"cell_mass: expected a square array covering cells "
                         f"[{start}, {stop}), got shape {cell_mass.shape}")
    # node of every solver cell along an axis: its block, clipped (the fold)
    owner = np.clip((np.arange(n) - start) // factor, 0, nodes - 1)
    projection = np.zeros((nodes, n))
    projection[owner, np.arange(n)] = 1.0
    mass = projection @ cell_mass @ projection.T
    total = cell_mass.sum()
    inside = cell_mass[start:stop, start:stop].sum()
    folded = float((total - inside) / total) if total > 0 else 0.0
    return mass, folded


def node_density(mass: np.ndarray, grid: Grid) -> GridDensity:
    """Node masses as a :class:`GridDensity` on the node cells (renormalised to 1)."""
    mass = np.asarray(mass, dtype=float)
    mass = np.maximum(mass, 0.0)
    return GridDensity(mass / (mass.sum() * grid.volume / grid.size), grid)


def w2sq(a: np.ndarray, b: np.ndarray, grid: Grid) -> float:
    """``W2^2`` (length^2) between two node-mass arrays on the nodes of ``grid``:
    exact OT with the squared Euclidean cost (the paper's ``ot.emd2``)."""
    return float(w2(node_density(a, grid), node_density(b, grid), squared=True))


def richardson(h: np.ndarray, values: np.ndarray) -> dict[str, float]:
    """Observed order and extrapolated value of a sequence ``W(h_k)`` (>= 3 values).

    Model ``W(h) = W* + C h^p``: ``p`` solves
    ``(W_0 - W_1)/(W_1 - W_2) = (h_0^p - h_1^p)/(h_1^p - h_2^p)`` on the three finest
    values (bisection on ``p`` in (0, 8]); ``W* = W_2 - (W_1 - W_2) h_2^p/(h_1^p - h_2^p)``.
    When the differences change sign or the ratio admits no order in (0, 8] the
    sequence is not in its asymptotic range: ``p = W* = nan`` and ``change`` (the
    last difference ``|W_1 - W_2|``) is still reported.
    """
    h = np.asarray(h, dtype=float)
    v = np.asarray(values, dtype=float)
    order = np.argsort(h)[::-1]
    h, v = h[order][-3:], v[order][-3:]
    d01, d12 = v[0] - v[1], v[1] - v[2]
    out = {"order": math.nan, "extrapolated": math.nan, "change": float(abs(d12))}
    if h.size < 3 or d12 == 0 or d01 * d12 <= 0 or not np.all(np.isfinite(v)):
        return out
    target = d01 / d12

    def ratio(p: float) -> float:
        return (h[0] ** p - h[1] ** p) / (h[1] ** p - h[2] ** p)

    low, high = 1e-6, 8.0
    f_low, f_high = ratio(low) - target, ratio(high) - target
    if f_low * f_high > 0:
        return out
    for _ in range(200):
        mid = 0.5 * (low + high)
        f_mid = ratio(mid) - target
        if f_low * f_mid <= 0:
            high = mid
        else:
            low, f_low = mid, f_mid
    p = 0.5 * (low + high)
    extrapolated = v[2] - d12 * h[2] ** p / (h[1] ** p - h[2] ** p)
    return {"order": float(p), "extrapolated": float(extrapolated), "change": float(abs(d12))}


# Descriptions of the node-mass arrays of a result, by key.
NODE_MASSES = {
    "mass": "node masses of the data law",
    "prior": "node masses of the prior",
    "gaussian": "node masses of the moment-matched Gaussian's ODE flow at t0",
    "ode": "node masses of the ODE sample at t0",
    "sde": "node masses of the SDE sample at t0",
}
# Descriptions of the series of the gap bound, over the SDE's snapshot times.
BOUND_SERIES = {
    "t": "time t of the SDE snapshot",
    "gap_norm": "||v - w||_L2(q_SDE(t)) (drift gap)",
    "lipschitz_box": "one-sided Lipschitz constant L(t) of the ODE drift over the box",
    "lipschitz_mass": "one-sided Lipschitz constant L(t) of the ODE drift where the mass is",
}


def labelled_result(tree: dict, nodes: int, half_width: float) -> dict:
    """A case's result with named dimensions for its file: node masses over the node
    centres ``x, y``; the per-level sequences ``*_levels`` over the cell width ``h``;
    the bound's series over ``t``.  Values unchanged (:class:`pdediff.io.Labelled`)."""
    grid = node_grid(nodes, half_width)

    def walk(node: dict) -> dict:
        out = {}
        for key, value in node.items():
            if isinstance(value, dict):
                out[key] = walk(value)
            elif key in NODE_MASSES and np.shape(value) == grid.shape:
                out[key] = Labelled.on_grid(value, grid, long_name=NODE_MASSES[key])
            else:
                out[key] = value
        return out

    out = walk(tree)
    levels = {key: f"{key[: -len('_levels')]} at each level" for key in out
              if key.endswith("_levels")}
    if "h" in out and np.ndim(out["h"]) == 1:
        out = label_entries(out, ("h",), {"h": "cell width h of the level", **levels})
    if isinstance(out.get("bound"), dict):
        out["bound"] = label_entries(out["bound"], ("t",), BOUND_SERIES)
    return out
