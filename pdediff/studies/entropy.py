"""Relative entropy along the reverse-time family with the exact score (docs/theory,
"Bounds").

With the exact score ``s = grad log p_t`` both ``p_t`` and any reverse solution
``q_t`` solve the same reverse-time equation, and in reverse time ``tau = T - t``::

    d/dtau KL(q_t || p_t) = -(eps g^2 / 2) int q |grad log(q / p)|^2 <= 0:

``KL`` is conserved by the probability-flow ODE (``eps = 0``) and non-increasing for
``eps > 0``.  The study solves (:func:`solve_reverse`) under OU(rate=1, g=1, T=0.5) (a
short horizon keeps ``p_T`` away from the prior, so every start has a sizeable initial
KL) for a 2-component Gaussian mixture in 1-D (and 2-D in the full settings), from
three starts ``q_T``:

* ``prior``: the standard prior ``N(0, sigma_T^2 I)`` (``process.prior_variance()``);
* ``uniform``: uniform on the box ``[-2, 2]^n`` blurred by ``N(0, 0.5^2 I)`` (strictly
  inside the grid, so the no-flux walls stay out of reach of the mass; blurred because
  the probability-flow ODE transports a jump unchanged and its numerical smearing would
  mask the conservation being verified);
* ``perturbed``: ``p_T (1 + 0.5 sin(2 x_1))``, renormalised;

and measures ``KL(q_t || p_t)`` against exact cell averages of ``p_t`` (normalised on
the grid, since the solver conserves mass on the closed box).  Every solve runs at
each resolution of ``cells_1d`` / ``cells_2d`` with ``rtol`` refined as ``h^2``, at
the same times (``t0`` fixed per dimension).

Checks (criteria fixed before the numbers; docs/verification):

* ``entropy_ode_drift_converges_{1d,2d}`` -- ``eps = 0``, per dimension (each has its
  own resolutions): the raw violation of conservation, the drift ``D_h = max_t
  |KL_h(t) - KL_h(T)|`` (max over starts), must vanish:
  ``Check.vanishing``, PASS iff the 95 % interval of its fitted order lies above 0.5.
* ``entropy_sde_monotone_{1d,2d}`` -- ``eps > 0``: the raw violation of monotonicity, the
  largest rise ``max_{t' < t} KL(t') - KL(t)`` in reverse time (max over starts and
  eps), must be zero or vanish likewise.
* ``entropy_drift_vs_dissipation`` -- OBSERVATION: at the finest resolution, the
  ``eps = 0`` drift relative to the KL decrease of the weakest dissipation (the
  monotonicity above is resolved when this is small).
* ``entropy_faster_decay_larger_eps`` -- OBSERVATION (no theorem states it: the
  dissipation rate ``eps g^2/2 I(q|p)`` grows with ``eps`` only for equal ``q``): the
  smallest ``KL_eps(t0) - KL_eps'(t0)``, ``eps < eps'``, at the finest resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import Box, GaussianMixture
from ..fokker_planck import solve_reverse
from ..grid import Grid
from ..io import Labelled
from ..metrics import kl
from ..processes import OU, ForwardProcess
from ..scores import exact
from .harness import Check

DESCRIPTION = "KL(q_t || p_t) conserved by the ODE, non-increasing for eps > 0"
STARTS = ("prior", "uniform", "perturbed")
UNIFORM_HALF_WIDTH = 2.0
UNIFORM_BLUR = 0.5
#: The checks with 1-D data only (2-D adds ``entropy_ode_drift_converges_2d`` and
#: ``entropy_sde_monotone_2d`` after the 1-D pair).
CHECK_NAMES = ("entropy_ode_drift_converges_1d", "entropy_sde_monotone_1d",
               "entropy_drift_vs_dissipation", "entropy_faster_decay_larger_eps")
FIGURE = "figures/entropy.png"
FIGURE_DRIFT = "figures/entropy_drift.png"


def process() -> OU:
    return OU(rate=1.0, g=1.0, T=0.5)


@dataclass(frozen=True)
class Settings:
    """``cells_1d``/``cells_2d``: resolutions (cells per axis, increasing; ``()`` skips
    the dimension); ``rtol``: solver tolerance at the coarsest resolution, refined as
    ``h^2``; ``t0_1d``/``t0_2d``: final forward time; ``n_times``: stored times,
    log-spaced from T to t0; ``eps_sde``: the dissipative family members; ``starts``:
    initial laws (:func:`initial_density`); ``half_width_*``: the box."""

    cells_1d: tuple[int, ...] = (100, 200, 400, 800)
    cells_2d: tuple[int, ...] = (32, 64, 128)
    rtol: float = 1e-3
    t0_1d: float = 0.02
    t0_2d: float = 0.05
    n_times: int = 24
    eps_sde: tuple[float, ...] = (0.5, 1.0, 2.0)
    starts: tuple[str, ...] = STARTS
    half_width_1d: float = 5.0
    half_width_2d: float = 4.5

    @classmethod
    def quick(cls) -> Settings:
        return cls(cells_1d=(60, 120, 240, 480), cells_2d=(), n_times=12, eps_sde=(0.5, 2.0))

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    ndim: int
    start: str
    eps: float
    cells: int

    @property
    def key(self) -> str:
        return f"{self.ndim}d/{self.start}/eps{self.eps:g}/n{self.cells}"


def cases(settings: Settings) -> list[Case]:
    out = []
    for ndim, cells in ((1, settings.cells_1d), (2, settings.cells_2d)):
        if cells and (len(cells) < 3 or any(b <= a for a, b in zip(cells, cells[1:]))):
            raise ValueError(f"cells_{ndim}d: expected >= 3 increasing resolutions, got {cells}")
        for start in settings.starts:
            if start not in STARTS:
                raise ValueError(f"starts: expected names from {STARTS}, got {start!r}")
            out += [Case(ndim, start, float(eps), int(n)) for eps in (0.0, *settings.eps_sde)
                    for n in cells]
    return out


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


def compute(case: Case, settings: Settings) -> dict:
    """``KL(q_t || p_t)`` at the stored times for one start, eps and resolution."""
    proc = process()
    dist = data_law(case.ndim)
    cells = settings.cells_1d if case.ndim == 1 else settings.cells_2d
    half = settings.half_width_1d if case.ndim == 1 else settings.half_width_2d
    t0 = settings.t0_1d if case.ndim == 1 else settings.t0_2d
    grid = Grid([(-half, half)] * case.ndim, case.cells)
    h_relative = cells[0] / case.cells
    rtol = settings.rtol * h_relative**2
    t_eval = np.geomspace(proc.T, t0, settings.n_times)
    # Normalised on the box: the solver conserves mass there, p_t leaks a tail.
    reference = np.stack([grid.normalize(dist.cell_average(grid, float(t), proc))
                          for t in t_eval])
    q_T = initial_density(case.start, grid, proc, dist)
    solution = solve_reverse(q_T, grid, proc, exact(dist, proc), t_eval, eps=case.eps, rtol=rtol)
    curve = kl_curve(solution.p, reference, grid)
    return {"t": Labelled(t_eval, ("t",), long_name="time t of the reverse solve (T down to t0)"),
            "kl": Labelled(curve, ("t",), long_name="KL(q_t || p_t)", units="nat"),
            "h": float(grid.spacing[0]), "h_relative": h_relative,
            "rtol": rtol, "drift": float(np.max(np.abs(curve - curve[0]))),
            "rise": max_rise(curve), "min_density": float(solution.p.min())}


def _per_level(results: dict, select) -> tuple[list[float], list[float], list[str]]:
    levels: dict[float, tuple[float, str]] = {}
    for key, r in results.items():
        value = select(key, r)
        if value is None:
            continue
        h = float(r["h_relative"])
        if h not in levels or value > levels[h][0]:
            levels[h] = (float(value), key)
    hs = sorted(levels, reverse=True)
    return hs, [levels[h][0] for h in hs], [levels[h][1] for h in hs]


def _finest(results: dict) -> dict[str, dict]:
    """Results at the finest resolution of each dimension, keyed ``dim/start/epsE``."""
    best: dict[str, dict] = {}
    for key, r in results.items():
        stem = key.rsplit("/", 1)[0]
        if stem not in best or r["h_relative"] < best[stem]["h_relative"]:
            best[stem] = r
    return best


def checks(results: dict[str, dict], settings: Settings) -> list[Check]:
    out = []
    # One refinement sequence per dimension: the dimensions have their own resolutions,
    # and a maximum over both would splice two sequences into one.
    for dim in sorted({key.split("/")[0] for key in results}):
        mine = {k: r for k, r in results.items() if k.startswith(f"{dim}/")}
        h, drift, worst = _per_level(mine, lambda k, r: r["drift"] if "/eps0/" in k else None)
        out.append(Check.vanishing(
            f"entropy_ode_drift_converges_{dim}",
            f"{dim}, eps = 0: KL(q_t||p_t) is conserved; its discrete drift D_h = max_t "
            "|KL_h(t) - KL_h(T)| is discretisation error and vanishes, every start",
            h, drift, criterion="D_h (max over starts) at >= 3 resolutions, rtol ~ h^2: PASS "
            "iff its fitted order's 95% interval lies above 0.5", figure=FIGURE_DRIFT,
            detail=f"worst per level: {', '.join(worst)}"))
        h, rise, worst = _per_level(mine, lambda k, r: None if "/eps0/" in k else r["rise"])
        out.append(Check.vanishing(
            f"entropy_sde_monotone_{dim}",
            f"{dim}, eps in {tuple(settings.eps_sde)}: KL(q_t||p_t) non-increasing in reverse "
            "time, every start", h, rise,
            criterion="largest rise max_{t'<t} KL(t') - KL(t) (max over starts and eps) at >= 3 "
            "resolutions: PASS iff zero, or vanishing with fitted order whose 95% interval "
            "lies above 0.5", figure=FIGURE, detail=f"worst per level: {', '.join(worst)}"))
    finest = _finest(results)
    weakest = min(settings.eps_sde)
    ratios = []
    for stem, r in finest.items():
        if stem.endswith("/eps0"):
            other = finest[stem[: -len("eps0")] + f"eps{weakest:g}"]
            ratios.append((r["drift"] / (other["kl"][0] - other["kl"][-1]), stem))
    ratio, where = max(ratios)
    out.append(Check.observation(
        "entropy_drift_vs_dissipation",
        f"at the finest resolution the eps = 0 drift is small against the KL decrease of eps "
        f"= {weakest:g}", ratio, detail=f"largest D_h / (KL(T) - KL_{weakest:g}(t0)) at {where}",
        figure=FIGURE))
    gaps = []
    eps = sorted(settings.eps_sde)
    for stem in finest:
        if stem.endswith("/eps0"):
            base = stem[: -len("eps0")]
            finals = [finest[f"{base}eps{e:g}"]["kl"][-1] for e in eps]
            gaps += [(a - b, f"{base}eps {e1:g} vs {e2:g}")
                     for (e1, a), (e2, b) in zip(zip(eps, finals), zip(eps[1:], finals[1:]))]
    if not gaps:  # a single eps > 0: nothing to order
        return out
    gap, where = min(gaps)
    out.append(Check.observation(
        "entropy_faster_decay_larger_eps",
        "larger eps gives smaller KL(q_t0||p_t0) (not a theorem)", gap,
        detail=f"smallest KL_eps(t0) - KL_eps'(t0) for eps < eps' is {gap:.3g} at {where} "
        f"({'ordered in every case' if gap > 0 else 'NOT ordered in every case'})",
        figure=FIGURE))
    return out


def figures(results: dict[str, dict], folder: Path) -> list[Path]:
    from matplotlib.ticker import NullFormatter

    from ..plotting import human, plt, save_figure, style

    folder = Path(folder)
    finest = _finest(results)
    dims = sorted({k.split("/")[0] for k in finest})
    starts = list(dict.fromkeys(k.split("/")[1] for k in finest))
    start_names = {"prior": "the prior", "uniform": "uniform", "perturbed": "perturbed $p_T$"}
    with style():
        fig, axes = plt.subplots(len(dims), len(starts), squeeze=False,
                                 figsize=(4.0 * len(starts), 3.2 * len(dims)))
        for row, dim in enumerate(dims):
            for col, start in enumerate(starts):
                ax = axes[row, col]
                for c, (stem, r) in enumerate(sorted(
                        ((s, r) for s, r in finest.items() if s.startswith(f"{dim}/{start}/")),
                        key=lambda item: float(item[0].rsplit("eps", 1)[1]))):
                    ax.plot(r["t"], r["kl"], color=f"C{c}", label=human(stem.rsplit("/", 1)[1]))
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.invert_xaxis()
                ax.xaxis.set_minor_formatter(NullFormatter())
                ax.yaxis.set_minor_formatter(NullFormatter())
                ax.set_title(f"{human(dim)}, $q_T$ = {start_names.get(start, human(start))}")
                ax.set_xlabel("time $t$ (the reverse solve runs left to right)")
                ax.set_ylabel(r"$\mathrm{KL}(q_t \,\|\, p_t)$ [nats]")
        axes[0, 0].legend()
        fig.suptitle(r"Relative entropy $\mathrm{KL}(q_t \,\|\, p_t)$ under the reverse "
                     "dynamics: Ornstein\N{EN DASH}Uhlenbeck, exact score, finest grid")
        fig.tight_layout()
        paths = save_figure(fig, folder / "entropy", formats=("png",))

        fig, ax = plt.subplots(figsize=(5.5, 4.0))
        for c, dim in enumerate(dims):
            for k, start in enumerate(starts):
                rows = sorted((r["h"], r["drift"]) for key, r in results.items()
                              if key.startswith(f"{dim}/{start}/eps0/"))
                ax.loglog(*zip(*rows), "os^"[k % 3] + "-", color=f"C{c}",
                          label=f"{human(dim)}, $q_T$ = {start_names.get(start, human(start))}")
        ax.set_xlabel(r"grid spacing $h$ (rtol $\propto h^2$)")
        ax.set_ylabel(r"ODE drift $\max_t |\mathrm{KL}(t) - \mathrm{KL}(T)|$ [nats]")
        ax.set_title(r"$\varepsilon = 0$: the drift of KL vanishes under refinement")
        ax.legend()
        fig.tight_layout()
        paths += save_figure(fig, folder / "entropy_drift", formats=("png",))
    return paths
