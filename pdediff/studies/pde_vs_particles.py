"""Grid densities of the reverse family against particles.

Question: do the two independent computations of what the probability-flow ODE
(``eps = 0``) and the reverse SDE (``eps = 1``) generate -- the finite-volume density
``q_t0`` of :func:`pdediff.fokker_planck.solve_reverse` and the particle cloud of
:func:`pdediff.particles.reverse` -- agree?

Setting: OU forward process (rate 1, g 1), ``T = 3``, exact scores of three data sets in
1-D and 2-D (a Gaussian mixture, a uniform box, three atoms), ``q_T = p_T`` on the grid
and exact samples of ``p_T`` for the particles, integrated down to ``t0``.  In 2-D both
sides are binned on the same coarse grid (mass-conserving) before exact optimal
transport (POT), so the binning acts identically on the measurement and on the null.

Check ``grid_matches_particles`` (:meth:`Check.bound`), per case, criterion fixed
before the numbers:

* null distribution: ``W2(X_M, Y_M)`` between two independent exact samples of
  ``p_t0`` of the particle count ``M`` (``null_repeats`` pairs, same binning);
* agreement: ``W2(grid q_t0, particles) < q95``, the null's 95 % quantile.  If the
  grid were exact this W2 would be ``W2(p_t0, X_M)``, about ``1/sqrt(2)`` of a typical
  null value, so the criterion is one-sided and lenient by design: it fails when the
  two computations differ by more than two independent particle sets do;
* time step converged: the particles run ``steps`` and ``2 steps`` log steps from the
  same ``x_T`` and the same Brownian path; the step-halving change of ``W2(grid,
  particles)`` is at most 1/5 of the null's half-width ``(q97.5 - q2.5) / 2``.  The
  fine run is the one compared.

PASS iff both hold in every case (the checked ratio is the larger of ``W2 / q95`` and
``change / (hw / 5)``); ``W2(grid, exact p_t0)`` (the grid's own error) and
``W2(exact p_t0, X_M)`` quantiles are stored and shown.

    python studies/pde_vs_particles.py --quick
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import Box, GaussianMixture, Points
from ..fokker_planck import solve_reverse
from ..grid import Grid
from ..io import Labelled
from ..metrics import GridDensity, w2
from ..particles import forward
from ..processes import OU
from ..scores import exact
from ._halving import HALVING_FRACTION, halving_pair
from .harness import Check

DESCRIPTION = "grid densities of the reverse ODE/SDE against particles (W2 vs a two-sample null)"

DATASETS = ("mixture", "box", "points")


@dataclass(frozen=True)
class Settings:
    """Every parameter of the grid-against-particles study."""

    T: float = 3.0
    t0: float = 0.05
    half_width: float = 4.0
    cells_1d: int = 400
    cells_2d: int = 96
    bins_2d: int = 32
    particles_1d: int = 100_000
    particles_2d: int = 20_000
    steps: int = 300
    null_repeats: int = 100
    rtol: float = 1e-4
    datasets: tuple[str, ...] = DATASETS
    seed: int = 20261123

    @classmethod
    def quick(cls) -> Settings:
        return cls(t0=0.1, cells_1d=200, cells_2d=48, bins_2d=24, particles_1d=20_000,
                   particles_2d=4_000, steps=100, null_repeats=60,
                   datasets=("mixture", "points"))

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    """One data set in ``ndim`` dimensions, one member ``eps`` of the family."""

    ndim: int
    dataset: str
    eps: int

    @property
    def key(self) -> str:
        return f"{self.ndim}d/{self.dataset}/eps{self.eps}"


def datasets(ndim: int) -> dict[str, Any]:
    """The data laws ``p_0`` in ``ndim`` (1 or 2) dimensions, by name."""
    if ndim == 1:
        return {
            "mixture": GaussianMixture([[-1.5], [1.0]], [0.1, 0.2], [0.4, 0.6]),
            "box": Box([-1.0], [1.5]),
            "points": Points([[-1.5], [0.0], [1.2]], [0.3, 0.3, 0.4]),
        }
    if ndim == 2:
        return {
            "mixture": GaussianMixture([[-1.2, -0.6], [1.0, 0.8]], [0.1, 0.15], [0.5, 0.5]),
            "box": Box([-1.0, -0.5], [1.0, 1.0]),
            "points": Points([[-1.2, -0.8], [0.0, 1.0], [1.2, -0.4]]),
        }
    raise ValueError(f"ndim: expected 1 or 2, got {ndim!r}")


def cases(settings: Settings) -> list[Case]:
    for name in settings.datasets:
        if name not in DATASETS:
            raise ValueError(f"datasets: expected names from {DATASETS}, got {name!r}")
    return [Case(ndim, name, eps) for ndim in (1, 2) for name in settings.datasets
            for eps in (0, 1)]


class _Measure:
    """W2 between grid densities and clouds, binned in 2-D on one coarse grid."""

    def __init__(self, grid: Grid, bins: Grid | None):
        self.grid, self.bins = grid, bins

    def prepare(self, item: np.ndarray) -> Any:
        if item.shape == self.grid.shape:
            density = item / self.grid.integrate(item)
            if self.bins is None:
                return GridDensity(density, self.grid)
            factor = self.grid.shape[0] // self.bins.shape[0]
            return GridDensity(self.grid.coarsen(density, factor), self.bins)
        if self.bins is None:
            return item
        return GridDensity(self.bins.deposit(item), self.bins)

    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(w2(self.prepare(a), self.prepare(b)))


def compute(case: Case, settings: Settings) -> dict:
    """Grid ``q_t0``, particles at ``steps`` and ``2 steps``, and the null distribution."""
    process = OU(1.0, 1.0, T=settings.T)
    T, t0 = settings.T, settings.t0
    law = datasets(case.ndim)[case.dataset]
    cells = settings.cells_1d if case.ndim == 1 else settings.cells_2d
    n = settings.particles_1d if case.ndim == 1 else settings.particles_2d
    box = [(-settings.half_width, settings.half_width)] * case.ndim
    grid = Grid(box, cells)
    bins = Grid(box, settings.bins_2d) if case.ndim == 2 else None
    if bins is not None and cells % settings.bins_2d:
        raise ValueError(f"bins_2d: expected a divisor of cells_2d={cells}, got "
                         f"{settings.bins_2d}")
    measure = _Measure(grid, bins)
    score = exact(law, process)
    q_T = grid.normalize(law.cell_average(grid, T, process))
    sol = solve_reverse(q_T, grid, process, score, [T, t0], eps=float(case.eps),
                        rtol=settings.rtol)
    q_t0 = sol.p[-1]
    exact_t0 = law.cell_average(grid, t0, process)

    index = (case.ndim, DATASETS.index(case.dataset))
    rng = np.random.default_rng([settings.seed, *index, case.eps])
    x_T = forward(law.sample(n, rng), process, T, seed=int(rng.integers(2**32)))
    x_c, x_f, fine_steps = halving_pair(x_T, process, score, np.array([T, t0]),
                                        float(case.eps), settings.steps, rng)
    w2_fine, w2_coarse = measure(q_t0, x_f[-1]), measure(q_t0, x_c[-1])

    # the null depends on the law only: seeded without eps, so both members share it
    null_rng = np.random.default_rng([settings.seed, *index, 7])

    def sample_t0() -> np.ndarray:
        return forward(law.sample(n, null_rng), process, t0, seed=int(null_rng.integers(2**32)))

    null = np.empty(settings.null_repeats)
    one_sample = np.empty(settings.null_repeats)
    for r in range(settings.null_repeats):
        x = sample_t0()
        null[r] = measure(x, sample_t0())
        one_sample[r] = measure(exact_t0, x)
    q = np.quantile(null, [0.025, 0.5, 0.95, 0.975])
    return {
        "w2_grid_particles": w2_fine, "w2_grid_particles_coarse": w2_coarse,
        "step_change": abs(w2_fine - w2_coarse), "particle_steps": fine_steps,
        "null_w2": Labelled(null, ("repeat",), long_name="W2 between two independent exact "
                            "particle samples of p_t0 (null distribution)"),
        "null_q95": float(q[2]), "null_median": float(q[1]),
        "null_half_width": float(0.5 * (q[3] - q[0])),
        "one_sample_w2": Labelled(one_sample, ("repeat",), long_name="W2 between the exact "
                                  "p_t0 and an exact particle sample of it"),
        "one_sample_q95": float(np.quantile(one_sample, 0.95)),
        "w2_grid_exact": measure(q_t0, exact_t0),
        "grid_steps": int(sol.metadata["n_steps"]),
        "grid_implicit_steps": int(sol.metadata["n_implicit"]),
        "mass_error": float(sol.metadata["max_mass_error"]),
        "min_density": float(q_t0.min()), "n_particles": n,
        "grid_bounds": Labelled(np.array(grid.bounds, dtype=float), ("axis", "end"),
                                long_name="lower and upper end of the grid box per axis"),
        "q_t0": Labelled.on_grid(q_t0, grid, long_name="grid density q_t0 (cell averages)"),
        "exact_t0": Labelled.on_grid(exact_t0, grid,
                                     long_name="exact density p_t0 (cell averages)"),
        "cloud": Labelled(x_f[-1][: min(n, 20_000)], ("particle", "component"),
                          long_name="particle positions at t0 (fine steps)"),
    }


def checks(results: dict, settings: Settings) -> list[Check]:
    keys = list(results)
    agreement = np.array([results[k]["w2_grid_particles"] / results[k]["null_q95"]
                          for k in keys])
    halving = np.array([results[k]["step_change"]
                        / (HALVING_FRACTION * results[k]["null_half_width"]) for k in keys])
    ratio = np.maximum(agreement, halving)
    i = int(np.argmax(ratio))
    rows = "; ".join(
        f"{k}: W2 {results[k]['w2_grid_particles']:.4g} / q95 {results[k]['null_q95']:.4g} = "
        f"{agreement[j]:.2f}, step change / (hw/5) {halving[j]:.2f}, W2(grid, exact) "
        f"{results[k]['w2_grid_exact']:.2g}"
        for j, k in enumerate(keys))
    return [Check.bound(
        "grid_matches_particles",
        "the grid density q_t0 of the reverse family (eps in {0, 1}) and the particle cloud "
        "agree: they differ by less than two independent exact particle sets of the same size",
        ratio, 1.0,
        criterion="in every case W2(grid, particles) / q95 <= 1 (q95: 95% quantile of W2 "
        "between two independent exact M-samples of p_t0, same binning) and the "
        "step-halving change of W2(grid, particles) (same x_T, same Brownian path) <= 1/5 "
        "of the null's half-width (q97.5 - q2.5)/2; measured = the larger of the two ratios",
        figure="figures/pde_vs_particles.png",
        detail=f"worst {keys[i]}; " + rows)]


def _case_name(key: str) -> str:
    from ..plotting import human

    dim, data, eps = key.split("/")
    return f"{human(dim)} {human(data)}, {human(eps)}"


def figures(results: dict, folder: Path) -> list[Path]:
    """``pde_vs_particles.png``: 1-D densities (exact, grid, particle histogram); per
    2-D data set one row on one colour scale (exact, then grid and particles for each
    ``eps``); the null distributions of ``W2 / q95`` with the measured grid-particle
    ratio."""
    from ..plotting import human, image_row, plt, save_figure, style

    keys_1d = [k for k in results if k.startswith("1d")]
    keys_2d = [k for k in results if k.startswith("2d")]
    data_2d = list(dict.fromkeys(k.split("/")[1] for k in keys_2d))
    width = max(len(keys_1d), 1)
    per_row = max([1 + 2 * sum(k.split("/")[1] == d for k in keys_2d) for d in data_2d] or [1])
    columns = width * per_row  # a common multiple of both row lengths
    rows = (1 if keys_1d else 0) + len(data_2d) + 1
    with style():
        figure = plt.figure(figsize=(max(2.6 * width, 2.3 * per_row) + 1.2, 2.9 * rows),
                            layout="constrained")
        spec = figure.add_gridspec(rows, columns)
        row = 0
        if keys_1d:
            span = columns // width
            for column, key in enumerate(keys_1d):
                r = results[key]
                low, high = np.atleast_2d(r["grid_bounds"])[0]
                x = np.linspace(low, high, r["q_t0"].size + 1)
                centres = 0.5 * (x[1:] + x[:-1])
                axis = figure.add_subplot(spec[0, column * span:(column + 1) * span])
                axis.plot(centres, r["exact_t0"], "k-", lw=0.8, label="exact $p_{t_0}$")
                axis.plot(centres, r["q_t0"], "C0--", label="grid $q_{t_0}$")
                axis.hist(r["cloud"][:, 0], bins=80, range=(low, high), density=True,
                          alpha=0.4, color="C1", label="particles")
                axis.set_title(f"{_case_name(key)}, $t = t_0$")
                axis.set_xlim(-3.5, 3.5)
                axis.set_xlabel("$x$")
                axis.set_ylabel("density")
                if column == 0:
                    axis.legend()
            row = 1
        for data in data_2d:
            members = [k for k in keys_2d if k.split("/")[1] == data]
            first = results[members[0]]
            bounds = np.atleast_2d(first["grid_bounds"])
            images = [first["exact_t0"]]
            titles = [f"exact $p_{{t_0}}$, {human(data)}"]
            for key in members:
                r = results[key]
                bins = r["q_t0"].shape[0] // 2
                histogram, _, _ = np.histogram2d(r["cloud"][:, 0], r["cloud"][:, 1], bins=bins,
                                                 range=[bounds[0], bounds[1]], density=True)
                eps = human(key.split("/")[2])
                images += [r["q_t0"], histogram]
                titles += [f"grid, {eps}", f"particles, {eps}"]
            span = columns // per_row
            axes = [figure.add_subplot(spec[row, j * span:(j + 1) * span])
                    for j in range(len(images))]
            image_row(figure, axes, images, titles, (*bounds[0], *bounds[1]),
                      label="density at $t = t_0$", ticks=False)
            row += 1
        # the null distributions with the measured W2 (the check)
        axis = figure.add_subplot(spec[row, :])
        keys = list(results)
        null = [results[k]["null_w2"] / results[k]["null_q95"] for k in keys]
        axis.violinplot(null, positions=range(len(keys)), showextrema=False)
        axis.plot(range(len(keys)), [results[k]["w2_grid_particles"] / results[k]["null_q95"]
                                     for k in keys], "kD", ms=5, label="grid\N{EN DASH}particles")
        axis.axhline(1.0, color="k", lw=0.8, ls=":", label="95% quantile of the null (the criterion)")
        axis.set_xticks(range(len(keys)), [_case_name(k) for k in keys], rotation=20, ha="right")
        axis.set_xlabel("case")
        axis.set_ylabel(r"$W_2\,/\,q_{95}$ of the null")
        axis.set_title("Null: $W_2$ between two independent exact particle sets (violins); "
                       "the grid\N{EN DASH}particle $W_2$ (diamonds)")
        axis.legend(loc="upper left")
        figure.suptitle("Reverse dynamics at $t = t_0$: finite-volume grid against particles "
                        "(Ornstein\N{EN DASH}Uhlenbeck, exact score)")
        written = save_figure(figure, Path(folder) / "pde_vs_particles", ("png",))
    return [Path(p) for p in written]
