"""Relative entropy along the reverse-time family with the exact score (DESIGN 3.3).

With the exact score ``s = grad log p_t`` both ``p_t`` and any reverse solution
``q_t`` solve the same reverse-time equation, and in reverse time ``tau = T - t``

    d/dtau KL(q_t || p_t) = -(eps g^2 / 2) int q |grad log(q / p)|^2 <= 0:

``KL`` is conserved by the probability-flow ODE (``eps = 0``) and non-increasing for
``eps > 0``.  The study solves (:func:`solve_reverse`) under OU(rate=1, g=1, T=0.5) (a
short horizon keeps ``p_T`` away from the prior, so every start has a sizeable initial
KL) for a 2-component Gaussian mixture in 1-D and in 2-D, from three starts ``q_T``:

* ``prior``: the standard prior ``N(0, sigma_T^2 I)`` (``process.prior_variance()``);
* ``uniform``: uniform on the box ``[-2, 2]^n`` blurred by ``N(0, 0.5^2 I)`` (strictly
  inside the grid, so that the no-flux walls, which the continuum problem on ``R^n``
  does not have, stay out of reach of the mass; the blur because the probability-flow
  ODE transports a jump unchanged, and its numerical smearing -- a KL loss that
  converges at order < 1 -- would mask the conservation being verified);
* ``perturbed``: ``p_T (1 + 0.5 sin(2 x_1))``, renormalised;

and measures ``KL(q_t || p_t)`` against exact cell averages of ``p_t`` (normalised on
the grid, since the solver conserves mass on the closed box).

Checks:

* ``eps = 0``: the drift ``D_h = max_t |KL_h(t) - KL_h(T)|`` converges under
  refinement (fitted log-log order, several resolutions) -- it is discretisation
  error, not dynamics -- and at the study resolution it is smaller than the KL
  decrease of the weakest dissipation (``eps = 0.5``), so the monotonicity checks
  are resolved;
* ``eps in {0.5, 1, 2}``: ``KL`` non-increasing in reverse time up to the tolerance
  ``D_h`` (the ``eps = 0`` drift of the same start at the same resolution);
* larger ``eps`` decays faster: ``KL(t0)`` decreases with ``eps`` by more than
  ``D_h`` for each start (an observed property, not a theorem of DESIGN 3.3: the
  dissipation rate ``eps g^2/2 I(q|p)`` grows with ``eps`` only for equal ``q``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import Box, GaussianMixture
from ..fokker_planck import solve_reverse
from ..grid import Grid
from ..metrics import kl, observed_order
from ..processes import OU, ForwardProcess
from ..scores import exact
from .common import Check, figure_dir, format_table, write_study

NAME = "entropy"
DESCRIPTION = "KL(q_t || p_t) conserved by the ODE, non-increasing for eps > 0 (DESIGN 3.3)"
EPS_SDE = (0.5, 1.0, 2.0)
STARTS = ("prior", "uniform", "perturbed")
UNIFORM_HALF_WIDTH = 2.0
UNIFORM_BLUR = 0.5
# Formal order of the least accurate ingredient (backward Euler / first-order upwind in
# the stiff phases of "auto"); the drift must converge at least this fast.
MIN_ORDER = 1.0
CHECK_NAMES = ("entropy_ode_drift_converges", "entropy_ode_drift_small", "entropy_sde_monotone",
               "entropy_faster_decay_larger_eps")
FIGURE = "figures/entropy.png"
FIGURE_DRIFT = "figures/entropy_drift.png"
HALF_WIDTH = {1: 5.0, 2: 4.5}
T0 = {1: 0.02, 2: 0.05}

# "cells": the eps = 0 resolutions (the drift-order fit needs >= 3); "main": the
# resolution of the eps > 0 solves, whose monotonicity tolerance is the eps = 0 drift there.
CONFIG = {
    True: {"cells": {1: (120, 240, 480), 2: (48,)}, "main": {1: 240, 2: 48},
           "nt": 16, "rtol": 1e-4},
    False: {"cells": {1: (200, 400, 800, 1600), 2: (96, 128, 160, 192)}, "main": {1: 400, 2: 128},
            "nt": 40, "rtol": 1e-5},
}


def data_law(ndim: int) -> GaussianMixture:
    """The data law of the study: a 2-component Gaussian mixture in ``ndim`` (1 or 2)."""
    if ndim == 1:
        return GaussianMixture([[-1.0], [0.8]], [0.04, 0.09], [0.4, 0.6])
    if ndim == 2:
        return GaussianMixture([[-1.0, 0.0], [0.8, 0.5]], [0.09, 0.16], [0.4, 0.6])
    raise ValueError(f"ndim: expected 1 or 2, got {ndim!r}")


def initial_density(start: str, grid: Grid, process: ForwardProcess, dist: Any) -> np.ndarray:
    """Cell averages of the start ``q_T`` named ``start`` (one of :data:`STARTS`) on
    ``grid``, normalised to mass 1.  Returns shape ``grid.shape``."""
    n = grid.ndim
    if start == "prior":
        field = GaussianMixture(np.zeros((1, n)), process.prior_variance()).cell_average(grid)
    elif start == "uniform":
        box = Box([-UNIFORM_HALF_WIDTH] * n, [UNIFORM_HALF_WIDTH] * n).smoothed(UNIFORM_BLUR)
        field = box.cell_average(grid)
    elif start == "perturbed":
        x1 = grid.points()[..., 0]
        field = dist.cell_average(grid, process.T, process) * (1.0 + 0.5 * np.sin(2.0 * x1))
    else:
        raise ValueError(f"start: expected one of {STARTS}, got {start!r}")
    return grid.normalize(field)


def kl_curve(
    q: np.ndarray, reference: np.ndarray, grid: Grid
) -> np.ndarray:
    """``KL(q_t || p_t)`` (nats) at every stored time; ``q`` and ``reference`` of shape
    ``(nt, *grid.shape)`` (densities of mass 1).  Returns shape ``(nt,)``.

    Round-off negatives of ``q`` (the schemes are positive, but cancellation in the
    Runge-Kutta combination leaves values like ``-1e-83``) down to ``-1e-12 max q``
    are set to 0; anything more negative raises ``ValueError``."""
    q = np.asarray(q, dtype=float)
    if q.min() < -1e-12 * q.max():
        raise ValueError(f"q: negative density {q.min():.3g} beyond round-off")
    q = np.maximum(q, 0.0)
    return np.array([kl(qi, pi, grid) for qi, pi in zip(q, reference, strict=True)])


def max_rise(values: np.ndarray) -> float:
    """Largest increase ``max_{j > i} (values[j] - values[i])`` of a sequence ordered in
    reverse time (0 for a non-increasing sequence)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"values: expected a 1-D array of >= 2 entries, got shape {values.shape}")
    return float(max(0.0, np.max(values[1:] - np.minimum.accumulate(values)[:-1])))


def _solve(start, dist, grid, process, t_eval, eps, rtol, reference) -> np.ndarray:
    q_T = initial_density(start, grid, process, dist)
    solution = solve_reverse(q_T, grid, process, exact(dist, process), t_eval, eps=eps, rtol=rtol)
    return kl_curve(solution.p, reference, grid)


def run(quick: bool = False, out: Path = Path("data"), progress: bool = True) -> dict:
    """Run the study; write ``out/entropy.h5`` and the figures; return
    ``{"table": str, "checks": [Check, ...], "wall_time": s, "path": str}``.

    ``quick``: eps = 0 at 120, 240, 480 cells in 1-D and 48^2 in 2-D (no order fit in
    2-D), eps > 0 at 240 cells and 48^2; otherwise eps = 0 at 200..1600 cells and
    96^2..192^2 (order fits in both), eps > 0 at 400 cells and 128^2.
    """
    start_clock = time.perf_counter()
    out = Path(out)
    config = CONFIG[bool(quick)]
    process = OU(rate=1.0, g=1.0, T=0.5)
    results: dict[str, Any] = {}
    jobs = [(ndim, start) for ndim in (1, 2) for start in STARTS]
    iterator = jobs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(jobs, desc=NAME)
    references: dict[tuple[int, int], np.ndarray] = {}
    for ndim, start in iterator:
        dist = data_law(ndim)
        t_eval = np.geomspace(process.T, T0[ndim], config["nt"])
        cells = config["cells"][ndim]
        node: dict[str, Any] = {"t": t_eval, "cells": np.asarray(cells), "data": repr(dist)}
        drift, spacing, main = [], [], None
        for n_cells in cells:
            grid = Grid([(-HALF_WIDTH[ndim], HALF_WIDTH[ndim])] * ndim, n_cells)
            if (ndim, n_cells) not in references:
                # Normalised on the box: the solver conserves mass there, p_t leaks a tail.
                references[(ndim, n_cells)] = np.stack(
                    [grid.normalize(dist.cell_average(grid, float(t), process)) for t in t_eval])
            reference = references[(ndim, n_cells)]
            curve = _solve(start, dist, grid, process, t_eval, 0.0, config["rtol"], reference)
            node[f"kl_eps0_n{n_cells}"] = curve
            drift.append(float(np.max(np.abs(curve - curve[0]))))
            spacing.append(float(grid.spacing[0]))
            if n_cells == config["main"][ndim]:
                main = (grid, reference, curve, drift[-1])
        if main is None:
            raise ValueError(f"CONFIG: main resolution {config['main'][ndim]} not in {cells}")
        grid, reference, node["kl_eps0"], node["tolerance"] = main
        node["drift"] = np.asarray(drift)
        node["spacing"] = np.asarray(spacing)
        node["main_cells"] = config["main"][ndim]
        if len(cells) >= 3:
            fit = observed_order(node["spacing"], node["drift"])
            node["drift_order"] = {"slope": fit.slope, "ci": np.asarray(fit.ci), "r2": fit.r2}
        for eps in EPS_SDE:
            tic = time.perf_counter()
            node[f"kl_eps{eps:g}"] = _solve(start, dist, grid, process, t_eval, eps,
                                            config["rtol"], reference)
            node[f"wall_time_eps{eps:g}"] = time.perf_counter() - tic
        results.setdefault(f"{ndim}d", {})[start] = node
    checks = _checks(results)
    _figures(results, out)
    parameters = {
        "process": repr(process), "eps_sde": list(EPS_SDE), "starts": list(STARTS),
        "t0_1d": T0[1], "t0_2d": T0[2], "n_times": config["nt"], "rtol": config["rtol"],
        "cells_1d": list(config["cells"][1]), "cells_2d": list(config["cells"][2]),
        "uniform_box_half_width": UNIFORM_HALF_WIDTH,
    }
    path = write_study(out, NAME, parameters, results, checks, quick)
    wall = time.perf_counter() - start_clock
    table = format_table(checks) + f"\n{NAME}: {len(jobs)} cases in {wall:.1f} s"
    return {"table": table, "checks": checks, "wall_time": wall, "path": str(path)}


def _checks(results: dict) -> list[Check]:
    cases = [(f"{dim}/{start}", node) for dim, per in results.items() for start, node in per.items()]
    # eps = 0: drift converging under refinement at (at least) the scheme's order.
    margin, where, converging = np.inf, "", True
    fitted = [(lab, node) for lab, node in cases if "drift_order" in node]
    for lab, node in fitted:
        slope = float(node["drift_order"]["slope"])
        converging &= bool(np.all(np.diff(node["drift"]) < 0))
        if slope - MIN_ORDER < margin:
            margin, where = slope - MIN_ORDER, lab
    orders = "; ".join(
        f"{lab}: D_h {node['drift'][0]:.2e} -> {node['drift'][-1]:.2e}, order "
        f"{node['drift_order']['slope']:.2f} (95% CI [{node['drift_order']['ci'][0]:.2f}, "
        f"{node['drift_order']['ci'][1]:.2f}])" for lab, node in fitted)
    checks = [Check(
        name="entropy_ode_drift_converges",
        statement="eps = 0: KL(q_t||p_t) is conserved up to discretisation; the drift "
                  "D_h = max_t |KL_h(t) - KL_h(T)| decreases at every refinement with "
                  f"fitted order >= {MIN_ORDER:g}",
        bound=f"D_h decreasing in h and fitted log-log order >= {MIN_ORDER:g}; "
              "margin = min order - 1",
        worst=float(margin + MIN_ORDER), margin=float(margin),
        passed=bool(margin >= 0 and converging), figure=FIGURE_DRIFT,
        detail=f"lowest order at {where}; monotone in h: {converging}; {orders}",
    )]
    # The drift must be small against the weakest dissipation, or monotonicity is moot.
    ratios = [(node["tolerance"] / (node["kl_eps0"][0] - node["kl_eps0.5"][-1]), lab)
              for lab, node in cases]
    worst, label = max(ratios)
    checks.append(Check(
        name="entropy_ode_drift_small",
        statement="eps = 0 drift at the study resolution is smaller than the KL decrease "
                  "KL(T) - KL(t0) of the eps = 0.5 solve (dissipation resolved)",
        bound="D_h / (KL(T) - KL_0.5(t0)) < 1", worst=float(worst), margin=float(1 - worst),
        passed=bool(worst < 1), figure=FIGURE, detail=f"largest ratio at {label}",
    ))
    # eps > 0: non-increasing up to the eps = 0 drift of the same start and resolution.
    margin, worst, where = np.inf, 0.0, ""
    for lab, node in cases:
        tol = float(node["tolerance"])
        for eps in EPS_SDE:
            rise = max_rise(node[f"kl_eps{eps:g}"])
            worst = max(worst, rise)
            if tol - rise < margin:
                margin, where = tol - rise, f"{lab} eps={eps:g} (rise {rise:.2e}, tol {tol:.2e})"
    checks.append(Check(
        name="entropy_sde_monotone",
        statement="eps in {0.5, 1, 2}: KL(q_t||p_t) non-increasing in reverse time "
                  "(DESIGN 3.3), every start, 1-D and 2-D",
        bound="max_{t' < t} KL(t') - KL(t) <= D_h (eps = 0 drift, same start and grid)",
        worst=worst, margin=float(margin), passed=bool(margin >= 0), figure=FIGURE,
        detail=f"tightest at {where}",
    ))
    # Larger eps dissipates more by t0.
    margin, where = np.inf, ""
    for lab, node in cases:
        tol = float(node["tolerance"])
        finals = [node[f"kl_eps{eps:g}"][-1] for eps in EPS_SDE]
        for (e1, k1), (e2, k2) in zip(zip(EPS_SDE, finals), zip(EPS_SDE[1:], finals[1:])):
            if k1 - k2 - tol < margin:
                margin, where = k1 - k2 - tol, f"{lab} eps {e1:g} vs {e2:g}: {k1:.3e} vs {k2:.3e}"
    checks.append(Check(
        name="entropy_faster_decay_larger_eps",
        statement="larger eps gives smaller KL(q_t0||p_t0) (faster decay), every start",
        bound="KL_eps(t0) - KL_eps'(t0) > D_h for eps < eps'", worst=float(margin),
        margin=float(margin), passed=bool(margin > 0), figure=FIGURE,
        detail=f"tightest at {where}",
    ))
    return checks


def _figures(results: dict, out: Path) -> None:
    from matplotlib.ticker import NullFormatter

    from ..plotting import plt, save_figure

    folder = figure_dir(out)
    dims = list(results)
    fig, axes = plt.subplots(len(dims), len(STARTS), figsize=(4.0 * len(STARTS), 3.2 * len(dims)),
                             squeeze=False)
    for row, dim in enumerate(dims):
        for col, start in enumerate(STARTS):
            ax = axes[row, col]
            node = results[dim][start]
            for c, eps in enumerate((0.0, *EPS_SDE)):
                ax.plot(node["t"], node[f"kl_eps{eps:g}"], color=f"C{c}", label=f"eps={eps:g}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.invert_xaxis()
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_title(f"{dim}, start {start}", fontsize=9)
            ax.set_xlabel("t (reverse time runs left to right)")
            if col == 0:
                ax.set_ylabel("KL(q_t || p_t) [nats]")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("KL(q_t || p_t), OU, exact score", fontsize=10)
    fig.tight_layout()
    save_figure(fig, folder / "entropy", formats=("png", "pdf"))

    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for c, (dim, per) in enumerate(results.items()):
        for k, (start, node) in enumerate(per.items()):
            order = (f"order {node['drift_order']['slope']:.2f}" if "drift_order" in node
                     else "one resolution")
            ax.loglog(node["spacing"], node["drift"], "os^"[k] + "-", color=f"C{c}",
                      label=f"{dim} {start}: {order}")
    ax.set_xlabel("grid spacing h")
    ax.set_ylabel("eps = 0 drift max_t |KL(t) - KL(T)|")
    ax.legend(fontsize=7)
    save_figure(fig, folder / "entropy_drift", formats=("png", "pdf"))
