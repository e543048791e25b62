"""The ODE-SDE gap and its Fokker-Planck-residual regularisation (Deveney, Stanczuk,
Kreusser, Budd, Schoenlieb, arXiv 2311.15996), with the paper's model class.

Question.  With an approximate score ``s_theta = grad phi_theta`` the probability-flow
ODE (eps = 0) and the reverse SDE (eps = 1) generate different laws.  Does penalising
the Fokker-Planck residual ``R[phi_theta]`` (docs/theory, "Equations") with weight ``w``
close the gap, at what cost in fidelity, and does the gap obey the bound of
docs/theory, "Bounds" (ODE-SDE gap)?

Setting (the paper's): OU forward process ``dX = -X dt + dW`` (prior ``N(0, I/2)``),
``T = 10``; data ``blob``, ``circles2``, ``checker`` (:func:`data_laws`); evaluation window
``[-3.5, 3.5]^2``.  Rows: model class {``mlp`` (the paper's log-density network
``(t, x) -> phi``, Linear 3-80-80-80-1 with Softplus(beta = 100), trained on the paper's
loss: unweighted DSM at ``t = T Beta(1, 2) + t_min`` plus ``w`` x mean ``R^2`` at
``t ~ U[t_min, T]``, ``x ~ U(box)``), ``spline`` (:class:`pdediff.score_model.ScoreModel`,
a second, labelled model class with its own loss)} x data x ``w`` in {0, 0.01, 0.1, 1,
10} x seeds.  Neural models come from the cache ``data/models`` (get-or-train, resumable).

Per row (``compute``):

* grid densities ``q_ODE(t0)``, ``q_SDE(t0)`` by :func:`pdediff.fokker_planck.solve_reverse`
  from the prior on a box larger than the window (half-width >= ``pad_half_width``, so
  the mass that free particles carry out has room), at ``len(levels) >= 3`` resolutions
  ``h = dx/m`` (``dx`` the node spacing, ``m`` in ``levels``, solver ``rtol`` and score
  table refined with ``m``), each binned exactly as the paper bins: ``nodes`` nodes on
  ``[-3.5, 3.5]^2``, nearest node, the mass outside folded onto the edge nodes (the
  folded share is stored);
* on the nodes: ``W2^2(ODE, SDE)``, ``W2^2(ODE, data)``, ``W2^2(SDE, data)`` and the
  collapse diagnostics ``W2^2(ODE, prior)`` (the prior is its own flow) and
  ``W2^2(ODE, G)``, ``G`` the ODE flow of the data's moment-matched Gaussian (the spline
  model's reference), each at every level with the observed order and the
  Richardson-extrapolated value (:func:`._evaluation.richardson`);
* the paper's sampler as a labelled row (Euler / Euler-Maruyama, 790 steps of 0.0125
  then 100 of 0.00125 down to t = 0, the SDE's last step noise-free,
  ``x_T ~ N(0, I/2)``, ``2 particles`` particles split in halves A, B: the noise floor is
  ``W2^2(A, B)``), the same with every step halved (time-step convergence), and its
  distance to the finest grid density (same score);
* held-out paper DSM, mean ``R^2`` under the paper's collocation law, score error
  ``E|s_theta - grad log p_t|^2``;
* the bound ``int ||v - w||_{L^2(q_SDE)} exp(int L) dt`` from the SDE snapshots of its
  own solve on ``bound_cells^2`` cells of the padded box (``L`` the one-sided Lipschitz
  constant over the box), and the ``W2`` it bounds measured by exact OT on the same
  cells (binning would move each side by up to a node spacing, more than the gap).

Per data set (case ``truth/<data>``): the data's node masses and the exact-score floor
(ODE and SDE solved with the exact score at every level: they coincide in the
continuum, so their ``W2^2`` is the grid's floor).

Pre-registered checks (criteria fixed before any number was computed; per model class
``M``; every ``W2^2`` is the finest-level grid value; ``spread(w)`` is the sample standard
deviation (ddof 1) over the seeds of that value at ``w``, and a criterion "below by more
than the seed spread" means ``mean(w_a) - mean(w_b) > spread(w_a) + spread(w_b)``):

* ``gap_shrinks_M`` (a): for every data set, ``W2^2(ODE, SDE)`` at ``w = 10`` is below its
  value at ``w = 0`` by more than the seed spread.  PASS iff so for every data set;
  FAIL otherwise, and FAIL when it cannot be evaluated (fewer than 2 seeds, or ``w = 0``
  or ``w = 10`` not run).
* ``ode_data_improves_M`` (b): for every data set, ``W2^2(ODE, data)`` at the better of
  ``w = 0.1`` and ``w = 1`` (smaller seed mean) is below its ``w = 0`` value by more than
  the seed spread.  PASS / FAIL as (a).
* ``sde_data_worsens_M`` (c): for every data set, the seed mean of ``W2^2(SDE, data)``
  at ``w = 10`` is above that at ``w = 0``.  PASS iff so for every data set, else FAIL
  (FAIL when not evaluable).
* ``gap_bound_M`` (d): ``W2(ODE, SDE) <= bound`` for every row (``Check.bound``): FAIL if
  violated anywhere; the rows with ``W2/bound <= 1e-2`` carry no evidence (listed in the
  detail); VACUOUS if every row is such, else PASS.  Both sides come from the bound's
  own solve (``bound_cells``), not from the binned levels.
* ``grid_convergence_M``, ``sampler_vs_grid_M``, ``paper_comparison``: OBSERVATIONs
  (orders and extrapolated values; the paper sampler's distance to the grid against its
  noise floor and its step-halving change; our table against the paper's published
  values :data:`PAPER_W2SQ`).  Recorded, never counted as pass or fail.

Full run (hours; resumable through the model cache, never needed in one piece):
``pdediff run ode_sde_gap`` -- an interrupted run restarts where the cache and the
training checkpoints stop.  Quick: ``pdediff run ode_sde_gap --quick`` (tiny networks
trained from scratch, coarse node grid, a labelled reduction of the sweep).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...distributions import GaussianMixture
from ...grid import Grid
from ...metrics import GridDensity, w2
from ...processes import OU
from ...scores import exact
from ._evaluation import (
    bin_masses,
    bin_particles,
    labelled_result,
    node_grid,
    richardson,
    w2sq,
)
from ._figures import figures
from ._models import CIRCLES2_NOTE, DATA, MODELS, build_model, data_laws, diagnostics
from ._solves import (
    gap_bound,
    grid_pair,
    paper_sampler,
    prior_cells,
    score_gap_and_lipschitz,
    solver_grid,
)
from ._verdicts import PAPER_W2SQ, QUANTITIES, checks

DESCRIPTION = "ODE-SDE gap and FP-residual regularisation (Deveney et al.), paper's MLP"
NAME = "ode_sde_gap"
#: Residual weights of the sweep (the paper's 0, 0.1, 1, 10 plus 0.01).
W_RESIDUAL = (0.0, 0.01, 0.1, 1.0, 10.0)

__all__ = ["DESCRIPTION", "Settings", "Case", "cases", "compute", "checks", "figures",
           "data_laws", "deveney_datasets", "PAPER_W2SQ", "QUANTITIES", "W_RESIDUAL",
           "gap_bound", "score_gap_and_lipschitz", "prior_cells", "paper_sampler",
           "solver_grid", "bin_masses", "bin_particles", "richardson", "CIRCLES2_NOTE"]

deveney_datasets = data_laws  # the old name


@dataclass(frozen=True)
class Settings:
    """Every parameter of the study (module docstring).

    Sweep: ``models`` (of :data:`MODELS`), ``data`` (of :data:`DATA`), ``w_values``,
    ``seeds_mlp`` / ``seeds_spline`` (seeds ``seed + k``).  Process: ``T``; ``t0`` the
    grid's stopping time.  Evaluation: ``nodes`` on ``[-half_width, half_width]^2``;
    solver box half-width >= ``pad_half_width``; ``levels`` solver cells per node cell
    (>= 3 values); ``rtol`` at ``m = 1`` (scaled ``m^-2``); ``table_nodes`` score-table
    times at ``m = 1`` (scaled ``m``); ``bound_times`` SDE snapshots and
    ``bound_cells`` cells per axis of the bound's own solve on
    ``[-pad_half_width, pad_half_width]^2`` (small enough for exact OT on its cells).
    Sampler: ``particles`` per half, ``sampler_refine`` also runs halved steps.
    MLP: ``mlp_widths``, ``train_*`` (the paper: 25k/65k/10k iterations at
    1e-3/1e-4/1e-5, batches 2e5/5e4, t_min 1e-5), ``model_root`` the cache folder.
    Spline: ``spline_*``.  Diagnostics: ``eval_points``, ``eval_times``."""

    models: tuple[str, ...] = MODELS
    data: tuple[str, ...] = DATA
    w_values: tuple[float, ...] = W_RESIDUAL
    seeds_mlp: int = 3
    seeds_spline: int = 3
    seed: int = 20261201
    T: float = 10.0
    t0: float = 1e-3
    nodes: int = 64
    half_width: float = 3.5
    pad_half_width: float = 5.25
    levels: tuple[int, ...] = (1, 2, 4)
    rtol: float = 1e-3
    table_nodes: int = 128
    bound_times: int = 40
    bound_cells: int = 64
    particles: int = 25_000
    sampler_refine: bool = True
    mlp_widths: tuple[int, ...] = (80, 80, 80)
    train_iterations: tuple[int, ...] = (25_000, 65_000, 10_000)
    train_learning_rates: tuple[float, ...] = (1e-3, 1e-4, 1e-5)
    train_batch_dsm: int = 200_000
    train_batch_residual: int = 50_000
    train_t_min: float = 1e-5
    train_checkpoint_every: int = 1000
    model_root: str = "data/models"
    spline_space: int = 14
    spline_time: int = 6
    spline_dsm: int = 50_000
    spline_collocation: int = 5_000
    spline_iterations: int = 15
    spline_data: int = 50_000
    eval_points: int = 20_000
    eval_times: int = 16

    @classmethod
    def quick(cls) -> Settings:
        # A labelled reduction: tiny networks trained from scratch for 500
        # iterations (fewer leave s ~ 0 at large t, and the reverse flow then
        # blows all mass to the walls), one data set, three weights, two seeds of the mlp and one of the
        # spline (its seed-spread checks then FAIL as not evaluable), a 12-node
        # binning (not the paper's 64) and three coarse levels.  Quick models are cached
        # apart (data/models/quick, not committed), so a cold run trains from scratch.
        return cls(data=("blob",), w_values=(0.0, 1.0, 10.0), seeds_mlp=2,
                   seeds_spline=1, t0=1e-2, nodes=12, levels=(1, 2, 4), rtol=2e-3,
                   table_nodes=32, bound_times=10, bound_cells=24, particles=1_000,
                   sampler_refine=False, mlp_widths=(32, 32), train_iterations=(300, 150, 50),
                   train_batch_dsm=1_000, train_batch_residual=500,
                   train_checkpoint_every=0, spline_space=8, spline_time=4,
                   spline_dsm=10_000, spline_collocation=2_000, spline_iterations=8,
                   spline_data=20_000, eval_points=2_000, eval_times=8,
                   model_root="data/models/quick")

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    """One row (``model`` in :data:`MODELS`) or the truth of a data set (``"truth"``)."""

    model: str
    data: str
    w: float = 0.0
    seed: int = 0

    @property
    def key(self) -> str:
        if self.model == "truth":
            return f"truth/{self.data}"
        return f"{self.model}/{self.data}/w={self.w:g}/seed={self.seed}"


def cases(settings: Settings) -> list[Case]:
    """Truth cases first, then every (model, data, w, seed)."""
    for name in settings.models:
        if name not in MODELS:
            raise ValueError(f"models: unknown model class {name!r}; known: {MODELS}")
    for name in settings.data:
        if name not in DATA:
            raise ValueError(f"data: unknown data set {name!r}; known: {DATA}")
    if len(settings.levels) < 3 or sorted(set(settings.levels)) != list(settings.levels):
        raise ValueError(f"levels: expected >= 3 increasing refinement factors, got "
                         f"{settings.levels!r}")
    out = [Case("truth", data) for data in settings.data]
    seeds = {"mlp": settings.seeds_mlp, "spline": settings.seeds_spline}
    for model in settings.models:
        out += [Case(model, data, float(w), settings.seed + k) for data in settings.data
                for w in settings.w_values for k in range(seeds[model])]
    return out


def _process(settings: Settings) -> OU:
    return OU(1.0, 1.0, T=settings.T)


def _law_masses(law: Any, t: float, process: Any, settings: Settings) -> np.ndarray:
    """Node masses of ``law`` pushed to time ``t``: exact cell averages on the aligned
    grid of 4 cells per node cell, binned with the fold."""
    grid, pad = solver_grid(settings.nodes, settings.half_width, 4, settings.pad_half_width)
    cells = law.cell_average(grid, t, process) * grid.volume / grid.size
    return bin_masses(cells, pad, 4, settings.nodes)[0]


def _references(law: Any, process: Any, settings: Settings) -> dict[str, np.ndarray]:
    """Node masses of the data, the prior and the ODE flow of the data's
    moment-matched Gaussian at ``t0`` (``N(alpha m, alpha^2 C + sigma^2 I)``, diagonal C)."""
    t0 = settings.t0
    alpha, s2 = float(process.alpha(t0)), float(process.sigma2(t0))
    mean, cov = law.mean(), np.diag(law.covariance())
    gaussian = GaussianMixture(alpha * mean[None, :], (alpha**2 * cov + s2)[None, :])
    prior = GaussianMixture(np.zeros((1, 2)), process.prior_variance())
    return {"data": _law_masses(law, 0.0, process, settings),
            "prior": _law_masses(prior, 0.0, process, settings),
            "gaussian": _law_masses(gaussian, 0.0, process, settings)}


def _level_rows(score: Any, process: Any, settings: Settings, refs: dict) -> dict[str, Any]:
    """Grid pair at every level, binned, with the node ``W2^2`` values."""
    nodes_grid = node_grid(settings.nodes, settings.half_width)
    out: dict[str, Any] = {}
    for m in settings.levels:
        grid, pad = solver_grid(settings.nodes, settings.half_width, m, settings.pad_half_width)
        pair = grid_pair(score, grid, process, settings.t0, settings.rtol / m**2,
                         settings.table_nodes * m, settings.bound_times, with_bound=False)
        ode, folded_ode = bin_masses(pair["ode"], pad, m, settings.nodes)
        sde, folded_sde = bin_masses(pair["sde"], pad, m, settings.nodes)
        row = {"h": float(grid.spacing[0]), "cells": int(grid.shape[0]), "ode": ode, "sde": sde,
               "folded_ode": folded_ode, "folded_sde": folded_sde,
               "w2sq_ode_sde": w2sq(ode, sde, nodes_grid),
               "w2sq_ode_data": w2sq(ode, refs["data"], nodes_grid),
               "w2sq_sde_data": w2sq(sde, refs["data"], nodes_grid),
               "collapse_prior": w2sq(ode, refs["prior"], nodes_grid),
               "collapse_gaussian": w2sq(ode, refs["gaussian"], nodes_grid),
               **{k: pair[k] for k in ("interpolation_error", "steps_ode", "steps_sde",
                                       "mass_error", "min_density")}}
        out[f"m={m}"] = row
    return out


def _bound_row(score: Any, process: Any, settings: Settings) -> dict[str, Any]:
    """The bound's own solve: ``bound_cells^2`` cells on ``[-pad_half_width,
    pad_half_width]^2``, SDE snapshots at ``bound_times`` times, and the measured
    ``W2(q_ODE(t0), q_SDE(t0))`` by exact OT on the same cells (so the two sides of the
    bound are those of one discrete solve; no binning between them)."""
    half = settings.pad_half_width
    grid = Grid([(-half, half)] * 2, settings.bound_cells)
    pair = grid_pair(score, grid, process, settings.t0, settings.rtol, settings.table_nodes,
                     settings.bound_times, with_bound=True)
    cell = grid.volume / grid.size
    measured = w2(GridDensity(grid.normalize(pair["ode"] / cell), grid),
                  GridDensity(grid.normalize(pair["sde"] / cell), grid))
    bound = pair["bound"]
    return {**bound, "measured_w2": float(measured), "h": float(grid.spacing[0])}


def _summarise(levels: dict[str, Any]) -> dict[str, Any]:
    """Finest values, orders and extrapolations of :data:`QUANTITIES`."""
    rows = list(levels.values())
    h = np.array([r["h"] for r in rows])
    out: dict[str, Any] = {"h": h, "ode": rows[-1]["ode"], "sde": rows[-1]["sde"],
                           "folded_ode": rows[-1]["folded_ode"],
                           "folded_sde": rows[-1]["folded_sde"]}
    for q in QUANTITIES:
        values = np.array([r[q] for r in rows])
        fit = richardson(h, values)
        out[q] = float(values[-1])
        out[f"{q}_levels"] = values
        out[f"{q}_order"] = fit["order"]
        out[f"{q}_extrapolated"] = fit["extrapolated"]
    return out


def _sampler(score: Any, process: Any, settings: Settings, refs: dict, grid_ode: np.ndarray,
             grid_sde: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """The paper's sampler (2 x ``particles``), binned; halves A, B give the floor."""
    nodes_grid = node_grid(settings.nodes, settings.half_width)
    n, k = settings.particles, settings.nodes
    x_T = rng.normal(0.0, math.sqrt(process.prior_variance()), size=(2 * n, 2))
    out: dict[str, Any] = {"particles": 2 * n}
    clouds = {}
    for label, eps in (("ode", 0.0), ("sde", 1.0)):
        refines = (1, 2) if settings.sampler_refine else (1,)
        for refine in refines:
            clouds[(label, refine)] = paper_sampler(score, process, x_T, eps, rng, refine)
        x = clouds[(label, 1)]
        mass, folded = bin_particles(x, k, settings.half_width)
        half_a, _ = bin_particles(x[:n], k, settings.half_width)
        half_b, _ = bin_particles(x[n:], k, settings.half_width)
        grid_mass = grid_ode if label == "ode" else grid_sde
        out[label] = mass
        out[f"folded_{label}"] = folded
        out[f"floor_{label}"] = w2sq(half_a, half_b, nodes_grid)
        out[f"w2sq_{label}_data"] = w2sq(mass, refs["data"], nodes_grid)
        out[f"w2sq_{label}_grid"] = w2sq(mass, grid_mass, nodes_grid)
        if settings.sampler_refine:
            fine, _ = bin_particles(clouds[(label, 2)], k, settings.half_width)
            out[f"w2sq_{label}_step_halving"] = w2sq(mass, fine, nodes_grid)
    out["w2sq_ode_sde"] = w2sq(out["ode"], out["sde"], nodes_grid)
    out["collapse_prior"] = w2sq(out["ode"], refs["prior"], nodes_grid)
    return out


def _rng(settings: Settings, case: Case) -> np.random.Generator:
    return np.random.default_rng([settings.seed, zlib.crc32(case.key.encode())])


def compute(case: Case, settings: Settings) -> dict:
    """One case (module docstring); deterministic in ``(case, settings)``."""
    process = _process(settings)
    law = data_laws()[case.data]
    refs = _references(law, process, settings)
    if case.model == "truth":
        levels = _level_rows(exact(law, process), process, settings, refs)
        out = _summarise(levels)
        # the grid's own W2(ODE, SDE) at the bound's resolution (zero in the continuum)
        out["bound_floor_w2"] = _bound_row(exact(law, process), process,
                                           settings)["measured_w2"]
        return labelled_result({
            "mass": refs["data"], "prior": refs["prior"], "gaussian": refs["gaussian"],
            **out, "levels": levels, "note": CIRCLES2_NOTE if case.data == "circles2" else ""},
            settings.nodes, settings.half_width)
    rng = _rng(settings, case)
    model, info = build_model(case.model, law, process, case.w, case.seed, settings)
    score = model.score
    levels = _level_rows(score, process, settings, refs)
    out = _summarise(levels)
    bound = _bound_row(score, process, settings)
    out.update({
        "model": case.model, "data": case.data, "w": float(case.w), "seed": int(case.seed),
        "t0": settings.t0, "half_width": settings.half_width,
        "levels": levels, "bound": bound, "bound_box": float(bound["bound_box"]),
        "bound_mass": float(bound["bound_mass"]), "bound_measured_w2": bound["measured_w2"],
        "sampler": _sampler(score, process, settings, refs, out["ode"], out["sde"], rng),
        **diagnostics(model, law, process, settings, rng),
        "model_info": info,
    })
    return labelled_result(out, settings.nodes, settings.half_width)
