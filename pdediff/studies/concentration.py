"""Concentration of the reverse dynamics onto the data support (docs/theory, "Bounds").

Question: with the exact score, do reverse solutions started from *any* reasonable law
``q_T`` concentrate on ``K = supp p_0`` as ``t -> 0``, and how fast?  The bound

    E_{q_t}[d_K^2] <= 4 sigma_t^2 (KL0 + (n/2) ln 2),    KL0 = KL(q_T || p_T),

holds for the heat flow (Donsker–Varadhan and the KL contraction), so ``RMS d_K =
(E d_K^2)^(1/2)`` decays at least like ``sigma_t ~ t^(1/2)``.  The study uses
``HeatFlow(kappa=1/8, T=1)`` (``sigma_t^2 = t/4``, ``alpha_t = 1``) with supports
``K``: points and a segment (1-D); points, a box, a circle and an annulus (2-D);
reverse family ``eps in {0, 1}``; initialisations ``q_T``: ``p_T``, the prior
``N(0, sigma_T^2 I)`` and the uniform law on the box ``[-L, L]^n``.

Rates.  For ``K`` of codimension ``>= 1`` (points, circle) the mass near ``K`` is a
Gaussian layer of width ``sigma_t``, ``E d_K^2 ~ sigma_t^2``: the bound is sharp and
the rate is exactly 1/2.  For sets with interior (segment, box, annulus) only a
boundary layer of mass ``~ sigma_t`` lies outside ``K``, at distances ``~ sigma_t``, so
``E d_K^2 ~ sigma_t^3`` (rate 3/4 from ``q_T = p_T``; other ``q_T`` give other rates
above 1/2).  The measured rate is the least-squares slope of ``log RMS d_K`` against
``log t`` over the fixed window ``fit_window`` (``sigma_t <= 0.016``), from particles;
the slope over each decade of the window is stored too.  A finite window carries
finite-``t`` corrections (curvature ``sigma_t / R`` of the circle, edges of a box, a
ratio ``q_t / p_t`` varying along ``K``) that the checks do not remove: where the
particles' sampling error is far below them (the ODE from the prior, whose particles
keep their relative positions), a window slope can exclude the rate; the decade slopes
then show whether the deviation shrinks as ``t -> 0``.

Checks (criteria fixed before the numbers; every particle statistic is first
step-converged or extrapolated, see below):

* ``bound_grid`` (:meth:`Check.bound`): the grid ``E_{q_t}[d_K^2] <= bound`` at every
  output time of every grid case, on the finest grid, no tolerance.
* ``bound_particles`` (:meth:`Check.interval`, ``"below"``): at every output time the
  plain 95 % interval ``mean d_K^2 +- 1.96 SE`` lies below the bound; the worst
  (case, time) is reported.
* ``grid_matches_exact_pT`` (:meth:`Check.vanishing`): from ``q_T = p_T`` the grid
  ``E_{q_t}[d_K^2]`` equals the exact one (exact cell averages, same quadrature);
  the largest relative error over a *fixed* time window (``sigma_t >= grid_sigma_min``)
  at three resolutions, ``h`` and ``rtol`` refined together, must vanish with an order
  whose 95 % interval lies above 0.5.
* ``rate_codim_ge1`` (:meth:`Check.interval`, ``"contains"``): for points and the
  circle (every ``q_T``) the plain 95 % interval of the slope contains 1/2.
* ``rate_interior_pT`` (``"contains"``): sets with interior from ``q_T = p_T``: the
  interval contains 3/4.
* ``rate_at_least_half`` (``"above"``): sets with interior, every ``q_T``: the whole
  interval lies above 1/2, i.e. the data show a rate *faster* than the bound's 1/2.
  (Where the bound is sharp -- codimension >= 1 -- ">= 1/2" holds with equality and is
  ``rate_codim_ge1``.)  Together: every interval is consistent with a rate >= 1/2.

The slope interval is the regression interval (Student t, scatter about the fit)
combined in quadrature with the particle bootstrap (the same particles at every time,
so their sampling error is common to all points); nothing else is added.

Time step.  Each particle case runs ``particle_steps`` and ``2 particle_steps`` log
steps from the same ``x_T`` and the same Brownian path (:mod:`._halving`).  Every
statistic is Richardson-extrapolated per particle with the scheme's order ``p``
(Euler–Maruyama 1, Heun 2): ``d_ext = d_fine + (d_fine - d_coarse) / (2^p - 1)``;
the intervals are those of the extrapolated values, and the step-halving change is
shown against 1/5 of each half-width.

    python studies/concentration.py --quick
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from ..distributions import Annulus, Box, Circle, Points, point_mass
from ..fokker_planck import solve_reverse
from ..grid import Grid
from ..io import label_entries
from ..metrics import bootstrap, fit_rate, kl
from ..processes import HeatFlow
from ..scores import exact
from ..theory import concentration_bound
from ._halving import HALVING_FRACTION, halving_pair
from .harness import Check

DESCRIPTION = "sqrt(t) concentration of reverse dynamics onto supp p_0"

INITS = ("p_T", "prior", "uniform")
SUPPORTS = ("1d_points", "1d_segment", "2d_points", "2d_box", "2d_circle", "2d_annulus")


@dataclass(frozen=True)
class Settings:
    """Every parameter of the concentration study.

    Cases are ``"support:init:eps"`` strings.  ``grid_cells_1d`` are the three 1-D
    resolutions (``rtol`` at the coarsest, divided by 4 per halving of ``h``);
    ``grid_sigma_min`` is the smallest ``sigma_t`` of the grid output times in 1-D and
    2-D (a physical setting, at least 3 coarsest cells).
    """

    kappa: float = 0.125
    T: float = 1.0
    half_width: float = 2.5
    grid_cases: tuple[str, ...] = tuple(
        f"{k}:{i}:{e}" for k in SUPPORTS for i in INITS for e in (0, 1)
        if k != "2d_annulus" or (i, e) in (("p_T", 1), ("prior", 0), ("uniform", 1)))
    grid_cells_1d: tuple[int, ...] = (160, 320, 640)
    grid_cells_2d: int = 96
    rtol: float = 1e-3
    grid_sigma_min: tuple[float, float] = (0.1, 0.2)
    n_grid_times: int = 16
    kl_cells: tuple[int, int] = (640, 96)
    particle_cases: tuple[str, ...] = tuple(
        f"{k}:{i}:{e}" for k in SUPPORTS for i in INITS for e in (0, 1))
    n_particles: int = 20_000
    particle_steps: int = 100
    particle_t0: float = 1e-5
    n_particle_times: int = 26
    fit_window: tuple[float, float] = (1e-5, 1e-3)
    bootstrap: int = 200
    seed: int = 20240503

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            grid_cases=("1d_points:p_T:1", "1d_segment:p_T:0", "1d_segment:uniform:1",
                        "2d_circle:uniform:1"),
            grid_cells_2d=64,
            particle_cases=("1d_points:prior:0", "1d_points:uniform:1", "1d_segment:p_T:1",
                            "1d_segment:uniform:1", "2d_points:prior:0", "2d_box:p_T:1",
                            "2d_circle:prior:0", "2d_circle:uniform:1"),
            n_particles=10_000, particle_steps=50, bootstrap=150)

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    """One reverse solve: ``method`` ``"grid"`` (with ``cells`` per axis) or
    ``"particles"``, of ``support`` from ``init`` with ``eps``."""

    method: str
    support: str
    init: str
    eps: int
    cells: int = 0

    @property
    def key(self) -> str:
        tail = f"/n{self.cells}" if self.method == "grid" else ""
        return f"{self.method}/{self.support}/{self.init}_eps{self.eps}{tail}"


def supports() -> dict[str, tuple[Any, int]]:
    """The data laws ``p_0`` by name ``"{n}d_{kind}"``, with the codimension of their
    support ``K`` in ``R^n`` (0 for sets with interior).  Box edges lie on cell faces
    of every grid used (multiples of ``5/32``)."""
    return {
        "1d_points": (Points([[-0.75], [0.0], [0.5]]), 1),
        "1d_segment": (Box([-0.5], [0.5]), 0),
        "2d_points": (Points([[-0.5, -0.5], [0.5, -0.25], [0.0, 0.5]]), 2),
        "2d_box": (Box([-0.625, -0.46875], [0.625, 0.46875]), 0),
        "2d_circle": (Circle([0.0, 0.0], 0.75), 1),
        # panels=1, nodes=12: relative score error <= 4e-4 at t >= 1e-4 against the
        # default 4 x 16 rule, and 4x cheaper (the radial quadrature dominates the cost)
        "2d_annulus": (Annulus([0.0, 0.0], 0.5, 0.875, panels=1, nodes=12), 0),
    }


def predicted_rate(codimension: int) -> float:
    """Asymptotic log-log slope of ``RMS d_K`` against ``t`` from ``q_T = p_T``:
    ``1/2`` for codimension ``>= 1`` (``E d_K^2 ~ sigma_t^2``), ``3/4`` for sets with
    interior (boundary layer: ``E d_K^2 ~ sigma_t^3``)."""
    if not isinstance(codimension, (int, np.integer)) or codimension < 0:
        raise ValueError(f"codimension: expected an int >= 0, got {codimension!r}")
    return 0.5 if codimension >= 1 else 0.75


def _parse(entry: str) -> tuple[str, str, int]:
    try:
        support, init, eps = entry.split(":")
        eps_value = int(eps)
    except ValueError as error:
        raise ValueError(f"cases: expected 'support:init:eps', got {entry!r}") from error
    if support not in SUPPORTS or init not in INITS or eps_value not in (0, 1):
        raise ValueError(f"cases: {entry!r}: support in {SUPPORTS}, init in {INITS}, "
                         "eps in (0, 1)")
    return support, init, eps_value


def cases(settings: Settings) -> list[Case]:
    out = []
    for entry in settings.grid_cases:
        support, init, eps = _parse(entry)
        ndim = int(support[0])
        # the three resolutions serve grid_matches_exact_pT (q_T = p_T); other 1-D
        # cases (the bound only, which holds by a wide margin) run on the coarsest
        cells = ((settings.grid_cells_2d,) if ndim == 2 else settings.grid_cells_1d
                 if init == "p_T" else (min(settings.grid_cells_1d),))
        out += [Case("grid", support, init, eps, int(n)) for n in cells]
    out += [Case("particles", *_parse(entry)) for entry in settings.particle_cases]
    return out


def initial_density(init: str, dist: Any, grid: Grid, process: HeatFlow) -> np.ndarray:
    """Cell averages of ``q_T`` on ``grid`` (normalised to mass 1 in the box):
    ``"p_T"`` the exact ``p_T`` of ``dist``; ``"prior"`` ``N(0, sigma_T^2 I)``;
    ``"uniform"`` ``1 / |box|``.  Shape ``grid.shape``."""
    T = process.T
    if init == "p_T":
        q = dist.cell_average(grid, T, process)
    elif init == "prior":
        # the prior is the heat kernel from the origin (alpha_t = 1 for heat flow)
        q = point_mass(np.zeros(grid.ndim)).cell_average(grid, T, process)
    elif init == "uniform":
        q = np.full(grid.shape, 1.0 / grid.volume)
    else:
        raise ValueError(f"init: expected one of {INITS}, got {init!r}")
    return grid.normalize(q)


def initial_particles(init: str, dist: Any, n: int, process: HeatFlow, ndim: int,
                      half_width: float, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of the same ``q_T`` as :func:`initial_density`, shape ``(n, ndim)``."""
    if init == "p_T":
        return dist.sample(n, rng, process.T, process)
    if init == "prior":
        return math.sqrt(process.prior_variance()) * rng.standard_normal((n, ndim))
    if init == "uniform":
        return rng.uniform(-half_width, half_width, size=(n, ndim))
    raise ValueError(f"init: expected one of {INITS}, got {init!r}")


def grid_mean_d2(solution_p: np.ndarray, d2: np.ndarray, grid: Grid) -> np.ndarray:
    """``E_{q_t}[d_K^2] = sum_cells q d_K(centre)^2 dV / sum_cells q dV`` for each
    snapshot; ``solution_p`` shape ``(nt, *grid.shape)``, ``d2`` shape ``grid.shape``
    (length^2).  Returns shape ``(nt,)`` (length^2)."""
    return grid.integrate(solution_p * d2) / grid.integrate(solution_p)


def _box(settings: Settings, ndim: int, cells: int) -> Grid:
    return Grid([(-settings.half_width, settings.half_width)] * ndim, cells)


def _kl0(settings: Settings, init: str, dist: Any, process: HeatFlow) -> float:
    grid = _box(settings, dist.ndim, settings.kl_cells[dist.ndim - 1])
    q_T = initial_density(init, dist, grid, process)
    return max(kl(q_T, initial_density("p_T", dist, grid, process), grid), 0.0)


def _process(settings: Settings) -> HeatFlow:
    return HeatFlow(kappa=settings.kappa, T=settings.T)


def compute(case: Case, settings: Settings) -> dict:
    """Grid: ``E d_K^2`` at fixed times (and the exact value from ``p_T``); particles:
    ``d_K^2`` statistics at ``steps`` and ``2 steps``, extrapolated, with the fits."""
    process = _process(settings)
    dist, codim = supports()[case.support]
    kl0 = _kl0(settings, case.init, dist, process)
    node: dict[str, Any] = {"kl0": kl0, "codimension": codim, "support": case.support,
                            "init": case.init, "eps": case.eps,
                            "predicted_rate": predicted_rate(codim)}
    if case.method == "grid":
        node.update(_compute_grid(case, settings, process, dist, kl0))
    else:
        node.update(_compute_particles(case, settings, process, dist, kl0))
    return node


def _compute_grid(case, settings, process, dist, kl0) -> dict:
    ndim = dist.ndim
    grid = _box(settings, ndim, case.cells)
    coarsest = min(settings.grid_cells_1d) if ndim == 1 else settings.grid_cells_2d
    # h and rtol refined together: rtol / 4 per halving of h (second-order scheme)
    rtol = settings.rtol * (coarsest / case.cells) ** 2
    t_end = process.time_where_sigma(settings.grid_sigma_min[ndim - 1])
    t = np.geomspace(settings.T, t_end, settings.n_grid_times)
    score = exact(dist, process)
    q_T = initial_density(case.init, dist, grid, process)
    sol = solve_reverse(q_T, grid, process, score, t, eps=float(case.eps), rtol=rtol)
    d2 = dist.distance_to_support(grid.points()) ** 2
    mean = grid_mean_d2(sol.p, d2, grid)
    out = {"t": t, "mean_d2": mean, "rms": np.sqrt(mean), "h": float(grid.spacing[0]),
           "rtol": rtol, "bound_d2": concentration_bound(kl0, ndim, process, t),
           "min_density": float(sol.p.min()), "n_steps": int(sol.metadata["n_steps"])}
    names = {"t": "time t of the reverse solve (T down to t_end)",
             "mean_d2": "E_q_t[d_K^2] of the grid solution (squared distance to the support)",
             "rms": "sqrt(E_q_t[d_K^2]) of the grid solution",
             "bound_d2": "concentration bound on E_q_t[d_K^2]"}
    if case.init == "p_T":
        exact_mean = np.array([grid_mean_d2(dist.cell_average(grid, float(s), process)[None],
                                            d2, grid)[0] for s in t])
        out["mean_d2_exact"] = exact_mean
        out["relerr"] = np.abs(mean / exact_mean - 1.0)
        names["mean_d2_exact"] = "E_p_t[d_K^2] of the exact p_t (cell averages)"
        names["relerr"] = "relative error of E_q_t[d_K^2] against the exact p_t"
    return label_entries(out, ("t",), names)


def _slope(t: np.ndarray, mean_d2: np.ndarray) -> float:
    lt = np.log(t) - np.log(t).mean()
    ly = 0.5 * np.log(mean_d2)
    return float(np.sum(lt * (ly - ly.mean())) / np.sum(lt * lt))


def _slope_interval(t: np.ndarray, values: np.ndarray, rng: np.random.Generator,
                    repeats: int) -> tuple[float, float, float, float]:
    """Least-squares slope of ``log (mean_k values)^(1/2)`` against ``log t`` and its
    95 % half-width: regression (Student t) and particle bootstrap (the same resample
    at every time) in quadrature.  ``values`` shape ``(len(t), N)``.  Returns
    ``(slope, half_width, regression_half_width, bootstrap_sd)``."""
    fit = fit_rate(t, np.sqrt(values.mean(axis=1)))
    sd = bootstrap(lambda v: _slope(t, v.mean(axis=1)), values, rng, repeats).sd
    regression = 0.5 * (fit.ci[1] - fit.ci[0])
    return fit.slope, math.hypot(regression, stats.norm.ppf(0.975) * sd), regression, sd


def _compute_particles(case, settings, process, dist, kl0) -> dict:
    ndim = dist.ndim
    rng = np.random.default_rng([settings.seed, SUPPORTS.index(case.support),
                                 INITS.index(case.init), case.eps])
    n = settings.n_particles if case.support != "2d_annulus" else \
        min(settings.n_particles, 10_000)  # the annulus score costs ~10x per point
    x_T = initial_particles(case.init, dist, n, process, ndim, settings.half_width, rng)
    t = np.geomspace(settings.T, settings.particle_t0, settings.n_particle_times)
    x_c, x_f, fine_steps = halving_pair(x_T, process, exact(dist, process), t,
                                        float(case.eps), settings.particle_steps, rng)
    d2_c = dist.distance_to_support(x_c) ** 2
    d2_f = dist.distance_to_support(x_f) ** 2
    order = 1 if case.eps > 0 else 2  # weak order: Euler–Maruyama 1, Heun 2
    d2_x = d2_f + (d2_f - d2_c) / (2**order - 1)
    mean = d2_x.mean(axis=1)
    se = d2_x.std(axis=1, ddof=1) / math.sqrt(n)
    window = settings.fit_window
    mask = (t >= window[0] * (1 - 1e-9)) & (t <= window[1] * (1 + 1e-9))
    slope, half, regression, boot_sd = _slope_interval(t[mask], d2_x[mask], rng,
                                                       settings.bootstrap)
    slope_f = _slope(t[mask], d2_f[mask].mean(axis=1))
    slope_c = _slope(t[mask], d2_c[mask].mean(axis=1))
    # the slope decade by decade: a deviation from the rate that shrinks towards t -> 0
    # is a finite-t correction, one that does not is a wrong rate
    decades = [(lo, 10 * lo) for lo in 10.0 ** np.arange(math.floor(math.log10(window[0]) + 1e-9),
                                                         math.ceil(math.log10(window[1]) - 1e-9))]
    decade_slopes = []
    for lo, hi in decades:
        k = (t >= lo * (1 - 1e-9)) & (t <= hi * (1 + 1e-9))
        decade_slopes.append(_slope(t[k], mean[k]) if k.sum() >= 2 else math.nan)
    z = stats.norm.ppf(0.975)
    out = {
        "t": t, "mean_d2": mean, "se_d2": se, "rms": np.sqrt(mean),
        "mean_d2_fine": d2_f.mean(axis=1), "mean_d2_coarse": d2_c.mean(axis=1),
        "bound_d2": concentration_bound(kl0, ndim, process, t),
        "fit_mask": mask.astype(np.int8), "n_particles": n, "steps": fine_steps,
        "scheme_order": order, "slope": slope, "slope_low": slope - half,
        "slope_high": slope + half, "slope_regression_half_width": regression,
        "slope_bootstrap_sd": boot_sd, "slope_fine": slope_f, "slope_coarse": slope_c,
        "decade_low": np.array([d[0] for d in decades]), "decade_slope": np.array(decade_slopes),
        # step-halving changes relative to 1/5 of the half-width (<= 1: converged)
        "slope_halving_ratio": abs(slope_f - slope_c) / (HALVING_FRACTION * half),
        "mean_halving_ratio": float(np.max(np.abs(d2_f.mean(axis=1) - d2_c.mean(axis=1))
                                           / (HALVING_FRACTION * z * se))),
    }
    out = label_entries(out, ("t",), {
        "t": "time t of the reverse samplers (T down to t0)",
        "mean_d2": "mean d_K^2 over the particles (step-halving extrapolated)",
        "se_d2": "standard error of the mean d_K^2",
        "rms": "sqrt of the mean d_K^2 (extrapolated)",
        "mean_d2_fine": "mean d_K^2 over the particles (fine steps)",
        "mean_d2_coarse": "mean d_K^2 over the particles (coarse steps)",
        "bound_d2": "concentration bound on E[d_K^2]",
        "fit_mask": "1 where t is in the fit window of the slope"})
    return label_entries(out, ("decade_low",), {
        "decade_low": "lower end of the decade of t",
        "decade_slope": "slope of log sqrt(mean d_K^2) against log t within the decade"})


# ---------------------------------------------------------------------------- checks
def _label(r: dict) -> str:
    return f"{r['support']}/{r['init']}/eps={int(r['eps'])}"


def _grid_finest(results: dict) -> dict[str, dict]:
    best: dict[str, dict] = {}
    for key, r in results.items():
        if key.startswith("grid/"):
            case = key.rsplit("/", 1)[0]
            if case not in best or r["h"] < best[case]["h"]:
                best[case] = r
    return best


def checks(results: dict, settings: Settings) -> list[Check]:
    out: list[Check] = []
    figure, rates = "figures/concentration.png", "figures/concentration_rates.png"
    finest = _grid_finest(results)
    if finest:
        measured = np.concatenate([r["mean_d2"] for r in finest.values()])
        bound = np.concatenate([r["bound_d2"] for r in finest.values()])
        worst = max(finest.values(), key=lambda r: np.max(r["mean_d2"] / r["bound_d2"]))
        out.append(Check.bound(
            "bound_grid", "grid reverse solutions with the exact score obey E_{q_t}[d_K^2] "
            "<= 4 sigma_t^2 (KL0 + (n/2) ln 2) at every output time (finest grid, no "
            "tolerance)", measured, bound, figure=figure,
            detail=f"tightest {_label(worst)}; smallest grid density "
            f"{min(float(r['min_density']) for r in finest.values()):.3g}"))
    exact_runs: dict[float, float] = {}
    for key, r in results.items():
        if key.startswith("grid/") and "relerr" in r:
            exact_runs[float(r["h"])] = max(exact_runs.get(float(r["h"]), 0.0),
                                            float(np.max(r["relerr"])))
    if len(exact_runs) >= 3:
        h = sorted(exact_runs)
        out.append(Check.vanishing(
            "grid_matches_exact_pT", "from q_T = p_T the grid E_{q_t}[d_K^2] equals the "
            "exact E_{p_t}[d_K^2] (exact cell averages, same quadrature of d_K): the "
            "largest relative error over the fixed output times (sigma_t >= "
            f"{settings.grid_sigma_min[0]:g}) vanishes as h and rtol are refined together",
            h, [exact_runs[v] for v in h], figure=figure,
            detail="worst over the q_T = p_T grid cases at each h"))
    part = {k: r for k, r in results.items() if k.startswith("particles/")}
    if part:
        out.append(_bound_particles(part, figure))
    groups = (
        ("rate_codim_ge1", lambda r: r["codimension"] >= 1, 0.5, "contains",
         "supports of codimension >= 1 (points, circle), every q_T: the bound is sharp, so "
         "RMS d_K ~ t^(1/2): the slope's plain 95% interval contains 1/2"),
        ("rate_interior_pT", lambda r: r["codimension"] == 0 and r["init"] == "p_T", 0.75,
         "contains", "sets with interior from q_T = p_T: boundary layer E d_K^2 ~ "
         "sigma_t^3, RMS d_K ~ t^(3/4): the interval contains 3/4"),
        ("rate_at_least_half", lambda r: r["codimension"] == 0, 0.5, "above",
         "sets with interior, every q_T: RMS d_K decays faster than the bound's t^(1/2): "
         "the whole plain 95% interval of the slope lies above 1/2"),
    )
    for name, member, target, side, statement in groups:
        chosen = [r for r in part.values() if member(r)]
        if chosen:
            out.append(_rate_check(name, statement, chosen, target, side, settings, rates))
    return out


def _bound_particles(part: dict, figure: str) -> Check:
    z = stats.norm.ppf(0.975)
    worst, worst_high = None, -math.inf
    for r in part.values():
        high = (r["mean_d2"] + z * r["se_d2"]) / r["bound_d2"]
        i = int(np.argmax(high))
        if high[i] > worst_high:
            worst, worst_high, index = r, float(high[i]), i
    m, se, b = (float(worst[k][index]) for k in ("mean_d2", "se_d2", "bound_d2"))
    halving = max(float(r["mean_halving_ratio"]) for r in part.values())
    return Check.interval(
        "bound_particles", "particle reverse ODE/SDE with the exact score obey E[d_K^2] <= "
        "4 sigma_t^2 (KL0 + (n/2) ln 2) at every output time down to t0 (Richardson-"
        "extrapolated in the step)", m / b, (m - z * se) / b, (m + z * se) / b, 1.0, "below",
        criterion="at every (case, time) the plain 95% interval of mean d_K^2 / bound lies "
        "below 1; the worst (case, time) is shown", figure=figure,
        detail=f"worst {_label(worst)} at t = {worst['t'][index]:.3g}; largest step-halving "
        f"change of mean d_K^2 = {halving:.2f} x (1/5 of 1.96 SE) before extrapolation")


def _rate_check(name, statement, chosen, target, side, settings, figure) -> Check:
    def margin(r):
        lo, hi = float(r["slope_low"]), float(r["slope_high"])
        return lo - target if side == "above" else min(target - lo, hi - target)

    worst = min(chosen, key=margin)
    cases_text = "; ".join(
        f"{_label(r)} {float(r['slope']):.4f} [{float(r['slope_low']):.4f}, "
        f"{float(r['slope_high']):.4f}] (halving {float(r['slope_halving_ratio']):.2f})"
        for r in chosen)
    window = settings.fit_window
    explain = ""
    if margin(worst) < 0 and np.all(np.isfinite(worst["decade_slope"])):
        gaps = np.abs(np.atleast_1d(worst["decade_slope"]) - target)
        if gaps.size >= 2 and gaps[0] < gaps[-1]:
            explain = (f" (FAIL: the deviation from {target:g} shrinks decade by decade towards "
                       "t -> 0, a finite-t correction larger than the sampling error, which "
                       "the window fit does not remove)")
    decades = ", ".join(f"t >= {lo:g}: {v:.4f}" for lo, v in
                        zip(np.atleast_1d(worst["decade_low"])[::-1],
                            np.atleast_1d(worst["decade_slope"])[::-1], strict=True))
    return Check.interval(
        name, statement + f" (fit over t in [{window[0]:g}, {window[1]:g}])",
        float(worst["slope"]), float(worst["slope_low"]), float(worst["slope_high"]), target,
        side, figure=figure,
        detail=f"worst {_label(worst)}, slope by decade {decades}{explain}; all (slope [95%], "
        f"step-halving change of the slope / (1/5 half-width), <= 1 is converged before "
        f"extrapolation): {cases_text}")


# --------------------------------------------------------------------------- figures
def figures(results: dict, folder: Path) -> list[Path]:
    from matplotlib.lines import Line2D

    from ..plotting import human, plt, save_figure, style

    by_support: dict[str, list[tuple[str, dict]]] = {}
    for key, r in results.items():
        by_support.setdefault(str(r["support"]), []).append((key, r))
    keys = [k for k in SUPPORTS if k in by_support]
    ncol = 3
    nrow = max(1, math.ceil(len(keys) / ncol))
    colors = {"p_T": "C0", "prior": "C1", "uniform": "C2"}
    finest = {id(r) for r in _grid_finest(results).values()}
    with style():
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
        for ax, support in zip(axes.ravel(), keys, strict=False):
            for key, r in by_support[support]:
                color = colors[str(r["init"])]
                if key.startswith("particles/"):
                    ax.plot(r["t"], r["rms"], "-" if int(r["eps"]) == 0 else "--", color=color,
                            lw=1.2)
                elif id(r) in finest:
                    ax.plot(r["t"], r["rms"], "o" if int(r["eps"]) == 0 else "s", color=color,
                            ms=3.5, mfc="none")
                else:
                    continue
                ax.plot(r["t"], np.sqrt(r["bound_d2"]), ":", color=color, lw=1.0)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(f"{human(support)} (codimension {supports()[support][1]})")
            ax.set_xlabel("reverse time $t$")
            ax.set_ylabel(r"RMS distance to $K$, $\sqrt{E\,d_K^2}$")
        for ax in axes.ravel()[len(keys):]:
            ax.axis("off")
        handles = [Line2D([], [], color=c, lw=2, label=human(i)) for i, c in colors.items()]
        handles += [
            Line2D([], [], color="k", ls="-", label=r"particles, $\varepsilon = 0$ (ODE)"),
            Line2D([], [], color="k", ls="--", label=r"particles, $\varepsilon = 1$ (SDE)"),
            Line2D([], [], color="k", ls="", marker="o", mfc="none", label=r"grid, $\varepsilon = 0$"),
            Line2D([], [], color="k", ls="", marker="s", mfc="none", label=r"grid, $\varepsilon = 1$"),
            Line2D([], [], color="k", ls=":",
                   label=r"bound $\sqrt{4\sigma_t^2(\mathrm{KL}_0 + (n/2)\ln 2)}$"),
        ]
        fig.legend(handles=handles, loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.06))
        fig.suptitle(r"Concentration onto the support $K$ of $p_0$ (heat flow): RMS distance "
                     "and the square root of the bound")
        fig.tight_layout()
        written = save_figure(fig, Path(folder) / "concentration", ("png",))

        fig, ax = plt.subplots(figsize=(9, 4.2))
        labels = []
        for key, r in results.items():
            if not key.startswith("particles/"):
                continue
            i = len(labels)
            slope = float(r["slope"])
            ax.errorbar([i], [slope], yerr=[[slope - float(r["slope_low"])],
                                            [float(r["slope_high"]) - slope]],
                        fmt="o", color=colors[str(r["init"])], capsize=3)
            labels.append(f"{human(str(r['support']))}, {human(str(r['init']))}, "
                          f"$\\varepsilon = {int(r['eps'])}$")
        ax.axhline(0.5, color="k", lw=0.8, label="1/2 (the bound; sharp for codimension $\\geq 1$)")
        ax.axhline(0.75, color="k", lw=0.8, ls="--", label="3/4 (sets with interior, $q_T = p_T$)")
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=70, fontsize=8, ha="right")
        ax.set_xlabel("particle case (support, start, noise)")
        ax.set_ylabel("slope of $\\log$ RMS $d_K$ vs $\\log t$")
        ax.set_title("Particle rate fits (time step extrapolated): plain 95% intervals")
        ax.legend()
        fig.tight_layout()
        written += save_figure(fig, Path(folder) / "concentration_rates", ("png",))
    return [Path(p) for p in written]
