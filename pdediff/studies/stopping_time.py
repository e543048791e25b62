"""Imitation against generation as a function of the stopping time (docs/theory, "Bounds").

Question: a diffusion model trained perfectly on ``N`` samples has the *empirical*
score ``s_N(x, t) = grad log p^N_t``, ``p^N_t = (1/N) sum_j N(alpha_t y_j, sigma_t^2 I)``
(:class:`pdediff.distributions.Points` of the training set pushed through the process).
The reverse dynamics then collapse onto the training points as the stopping time
``t0 -> 0`` (memorisation); stopping at ``t0 > 0`` leaves samples blurred by
``sigma_t0``.  Which ``t0`` makes the samples closest to the *population*?

Setup: population ``Rings(radii=(0.5, 1.2), spread=0.08)`` in 2-D, ``VP(0.1, 20)``
(``T = 1``), training-set sizes ``sizes``, ``M`` particles of the reverse SDE
(``eps = 1``, Euler–Maruyama on a log step grid, exact empirical score) from the prior
down to ``t0_min``; the snapshots at the log-spaced output times are the samples
stopped at ``t0``.  Each of ``seeds`` independent replicates draws its own population
sample (the nested training sets are its first ``N`` points), reference sample of the
population, prior draws and Brownian path; within a replicate these are shared by all
``N`` and all ``t0`` (common random numbers).

Checks (criteria fixed before the numbers):

* ``memorisation_sqrt_t0`` (:meth:`Check.interval`, ``"contains"``): over the window
  ``sigma_t0 <= 0.1 x`` median training spacing each particle sits at ``alpha y_j +
  sigma_t0 Z``, so the mean distance to the nearest training point ``~ sigma_t0^1``
  (``~ t0^(1/2)``).  Slope of the log mean distance against ``log sigma_t0``, particles
  of all replicates pooled, Richardson-extrapolated in the step (``steps`` and ``2
  steps``, same Brownian path, Euler–Maruyama order 1); plain 95 % interval
  (regression and particle bootstrap in quadrature) contains 1 for every ``N``.
* ``interior_optimum`` (``"above"``): ``W2(samples, population)`` has an interior
  minimum with a gap larger than the noise.  Per replicate ``s`` the optimum ``t0`` is
  chosen from the mean curve of the *other* replicates (leave-one-out, so the gap is
  not the minimum of its own noise), and ``gap_s = min(W2_s(t0_max), W2_s(t0_min)) -
  W2_s(t0*)``; PASS iff for every ``N`` the plain 95 % t-interval of the mean gap over
  replicates lies above 0 (a chosen end gives ``gap <= 0``).
* ``best_t0_decreasing`` (``"below"``): the best ``t0`` decreases strictly with ``N``.
  Best ``t0`` per replicate: vertex of the parabola in ``log t0`` through the grid
  minimum and its neighbours (continuous, so no ties on the ``t0`` grid).  The exponent
  ``b`` of ``best t0 ~ N^b`` fitted over all (``N``, replicate) pairs; PASS iff its
  plain 95 % interval lies below 0, so an uninformative interval (containing 0) FAILs.

    python studies/stopping_time.py --quick
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..distributions import Points, Rings
from ..io import Labelled
from ..metrics import bootstrap, fit_rate, w2
from ..processes import VP
from ..scores import exact
from ._halving import HALVING_FRACTION, halving_pair
from .harness import Check

DESCRIPTION = "imitation vs generation against the stopping time t0"

#: memorisation window: sigma_t0 below this fraction of the median training spacing
MEMORISATION_FRACTION = 0.1


@dataclass(frozen=True)
class Settings:
    """Every parameter of the stopping-time study.  Output times: ``n_t0 + 1``
    geometric times from ``T = 1`` to ``t0_min`` (the first is ``T``; the others are
    the stopping times)."""

    sizes: tuple[int, ...] = (16, 64, 256, 1024)
    seeds: int = 6
    n_particles: int = 800
    steps: int = 300
    t0_min: float = 1e-6
    n_t0: int = 30
    bootstrap: int = 200
    seed: int = 20251105

    @classmethod
    def quick(cls) -> Settings:
        return cls(sizes=(16, 64, 256), seeds=4, n_particles=400, steps=100, t0_min=1e-5,
                   n_t0=20, bootstrap=150)

    @classmethod
    def full(cls) -> Settings:
        return cls()


@dataclass(frozen=True)
class Case:
    """One training-set size ``n_train`` in one replicate ``replicate``."""

    n_train: int
    replicate: int

    @property
    def key(self) -> str:
        return f"N{self.n_train}/seed{self.replicate}"


def cases(settings: Settings) -> list[Case]:
    return [Case(int(n), r) for n in settings.sizes for r in range(settings.seeds)]


def population() -> Rings:
    """The population law: two blurred rings in 2-D."""
    return Rings([0.5, 1.2], spread=0.08)


def nearest_training_distance(x: np.ndarray, training: Points) -> np.ndarray:
    """``min_j |x - y_j|`` for particles ``x`` of shape ``(..., n)`` and the training
    set ``training`` (atoms ``y_j``); returns shape ``x.shape[:-1]`` (length)."""
    if not isinstance(training, Points):
        raise TypeError(f"training: expected pdediff.distributions.Points, got "
                        f"{type(training).__name__}")
    return training.nearest(x)[0]


def _median_spacing(points: np.ndarray) -> float:
    """Median distance from each training point to its nearest other training point."""
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(points, k=2)
    return float(np.median(dist[:, 1]))


def compute(case: Case, settings: Settings) -> dict:
    """Samples of the reverse SDE with the empirical score, stopped at every ``t0``:
    ``W2`` to the population reference and nearest-training-point distances."""
    process = VP()
    pop = population()
    streams = np.random.SeedSequence([settings.seed, case.replicate]).spawn(4)
    train_rng, ref_rng, prior_rng, noise_rng = (np.random.default_rng(s) for s in streams)
    training = Points(pop.sample(max(settings.sizes), train_rng)[: case.n_train])
    reference = pop.sample(settings.n_particles, ref_rng)
    x_T = math.sqrt(process.prior_variance()) * prior_rng.standard_normal(
        (settings.n_particles, 2))
    t_eval = np.geomspace(process.T, settings.t0_min, settings.n_t0 + 1)
    t0 = t_eval[1:]
    x_c, x_f, fine_steps = halving_pair(x_T, process, exact(training, process), t_eval, 1.0,
                                        settings.steps, noise_rng)
    nn_f = nearest_training_distance(x_f[1:], training)
    nn_c = nearest_training_distance(x_c[1:], training)
    sigma_t0 = np.sqrt(process.sigma2(t0))
    spacing = _median_spacing(training.x)
    window = sigma_t0 <= MEMORISATION_FRACTION * spacing
    in_window = ("t0_window", "particle")
    return {
        "t0": Labelled(t0, ("t0",), long_name="stopping time t0"),
        "sigma_t0": Labelled(sigma_t0, ("t0",), long_name="sigma_t0 (noise scale at t0)"),
        "steps": fine_steps,
        "w2_population": Labelled(np.array([w2(x, reference) for x in x_f[1:]]), ("t0",),
                                  long_name="W2 of the samples to the population reference"),
        "w2_training_to_population": float(w2(training.x, reference)),
        "mean_nearest_distance": Labelled(nn_f.mean(axis=1), ("t0",),
                                          long_name="mean distance of a sample to its nearest "
                                                    "training point (fine steps)"),
        "mean_nearest_distance_coarse": Labelled(nn_c.mean(axis=1), ("t0",),
                                                 long_name="mean distance of a sample to its "
                                                           "nearest training point (coarse "
                                                           "steps)"),
        "median_training_spacing": spacing,
        "memorisation_window": Labelled(window.astype(np.int8), ("t0",),
                                        long_name="1 where sigma_t0 is within the "
                                                  "memorisation window"),
        # per-particle distances in the window, Richardson-extrapolated (order 1)
        "nearest_window": Labelled(2.0 * nn_f[window] - nn_c[window], in_window,
                                   long_name="distance to the nearest training point, "
                                             "Richardson-extrapolated, at the t0 in the window"),
        "nearest_window_fine": Labelled(nn_f[window], in_window,
                                        long_name="distance to the nearest training point "
                                                  "(fine steps), at the t0 in the window"),
        "nearest_window_coarse": Labelled(nn_c[window], in_window,
                                          long_name="distance to the nearest training point "
                                                    "(coarse steps), at the t0 in the window"),
        "training_set": Labelled(training.x, ("training_point", "component"),
                                 long_name="training points"),
    }


# ---------------------------------------------------------------------------- checks
def _by_size(results: dict) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for key, r in results.items():
        out.setdefault(int(key.split("/")[0][1:]), []).append(r)
    return dict(sorted(out.items()))


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    lx = np.log(x) - np.log(x).mean()
    ly = np.log(y)
    return float(np.sum(lx * (ly - ly.mean())) / np.sum(lx * lx))


def _best_log_t0(t0: np.ndarray, w: np.ndarray) -> float:
    """``log t0`` at the vertex of the parabola through the grid minimum of ``w`` and
    its two neighbours (the end point itself when the minimum is at an end)."""
    j = int(np.argmin(w))
    lt = np.log(t0)
    if j == 0 or j == w.size - 1:
        return float(lt[j])
    a, b, _ = np.polyfit(lt[j - 1:j + 2], w[j - 1:j + 2], 2)
    return float(-b / (2 * a)) if a > 0 else float(lt[j])


def _memorisation(groups: dict[int, list[dict]], settings: Settings) -> Check:
    rng = np.random.default_rng([settings.seed, 99])
    z = stats.norm.ppf(0.975)
    rows = []
    for n_train, reps in groups.items():
        windows = [r["memorisation_window"].astype(bool) for r in reps]
        # the window follows each replicate's training spacing: the times common to all
        common = np.logical_and.reduce(windows)
        if common.sum() < 3:
            rows.append((n_train, math.nan, math.nan, math.nan, math.nan))
            continue
        sigma = reps[0]["sigma_t0"][common]

        def pooled(name, reps=reps, windows=windows, common=common):
            # rows of each replicate's window that are common to all, particles pooled
            return np.concatenate([r[name][common[w]] for r, w in zip(reps, windows,
                                                                       strict=True)], axis=1)

        d = pooled("nearest_window")
        fit = fit_rate(sigma, d.mean(axis=1))
        boot = bootstrap(lambda v, sigma=sigma: _slope(sigma, v.mean(axis=1)), d, rng,
                         settings.bootstrap)
        half = math.hypot(0.5 * (fit.ci[1] - fit.ci[0]), z * boot.sd)
        change = abs(_slope(sigma, pooled("nearest_window_fine").mean(axis=1))
                     - _slope(sigma, pooled("nearest_window_coarse").mean(axis=1)))
        rows.append((n_train, fit.slope, half, change / (HALVING_FRACTION * half),
                     float(sigma.max())))
    finite = [r for r in rows if math.isfinite(r[1])]
    if not finite:
        return Check.interval("memorisation_sqrt_t0", "memorisation", math.nan, math.nan,
                              math.nan, 1.0, "contains",
                              detail="no N has 3 stopping times in the memorisation window")
    worst = min(finite, key=lambda r: r[2] - abs(r[1] - 1.0))
    detail = "; ".join(f"N={r[0]}: {r[1]:.4f} +- {r[2]:.4f} (step-halving change / (1/5 "
                       f"half-width) {r[3]:.2f} before extrapolation)" for r in rows)
    return Check.interval(
        "memorisation_sqrt_t0",
        "with the empirical score the samples collapse onto the training set: the mean "
        "distance to the nearest training point ~ sigma_t0^1 (~ t0^(1/2) as t0 -> 0) over "
        "sigma_t0 <= 0.1 x the median training spacing, for every N",
        worst[1], worst[1] - worst[2], worst[1] + worst[2], 1.0, "contains",
        criterion="plain 95% interval of the log-log slope against sigma_t0 (regression and "
        "particle bootstrap in quadrature; step-extrapolated) contains 1 for every N; the "
        "worst N is shown", figure="figures/stopping_time.png",
        detail=f"worst N={worst[0]}; " + detail
        + ("" if len(finite) == len(rows) else "; N without 3 window times: FAIL"))


def _interior(groups: dict[int, list[dict]]) -> tuple[Check, list]:
    rows = []
    for n_train, reps in groups.items():
        curves = np.array([r["w2_population"] for r in reps])
        gaps, chosen = [], []
        for s in range(len(reps)):
            others = np.delete(curves, s, axis=0).mean(axis=0) if len(reps) > 1 else curves[s]
            j = int(np.argmin(others))
            chosen.append(j)
            gaps.append(min(curves[s, 0], curves[s, -1]) - curves[s, j])
        gaps = np.array(gaps)
        k = gaps.size
        se = float(np.std(gaps, ddof=1) / math.sqrt(k)) if k > 1 else math.inf
        half = float(stats.t.ppf(0.975, k - 1)) * se if k > 1 else math.inf
        spread = float(np.std(curves[:, int(np.argmin(curves.mean(axis=0)))], ddof=1)) \
            if k > 1 else math.nan
        rows.append((n_train, float(gaps.mean()), half, chosen, spread))
    worst = min(rows, key=lambda r: r[1] - r[2])
    detail = "; ".join(f"N={r[0]}: gap {r[1]:.4f} +- {r[2]:.4f} (W2 seed-to-seed sd at the "
                       f"optimum {r[4]:.4f}; leave-one-out t0 indices {r[3]})" for r in rows)
    check = Check.interval(
        "interior_optimum",
        "W2(samples, population) has an interior minimum in t0, below both ends by more "
        "than the seed-to-seed noise, for every N", worst[1], worst[1] - worst[2],
        worst[1] + worst[2], 0.0, "above",
        criterion="per replicate, gap = min(W2 at t0_max, W2 at t0_min) - W2 at the t0 "
        "minimising the other replicates' mean curve; the plain 95% t-interval of the mean "
        "gap lies above 0 for every N (worst N shown)", figure="figures/stopping_time.png",
        detail=f"worst N={worst[0]}; " + detail)
    return check, rows


def _decreasing(groups: dict[int, list[dict]]) -> Check:
    sizes, logs = [], []
    means = []
    for n_train, reps in groups.items():
        values = [_best_log_t0(r["t0"], r["w2_population"]) for r in reps]
        sizes += [n_train] * len(values)
        logs += values
        means.append((n_train, float(np.mean(values)), float(np.std(values, ddof=1))
                      if len(values) > 1 else math.nan))
    statement = ("the best stopping time decreases strictly with the training-set size N "
                 "(more data: stop closer to t0 = 0): best t0 ~ N^b with b < 0")
    if len(groups) < 2 or len(set(logs)) < 2:
        return Check.interval("best_t0_decreasing", statement, math.nan, math.nan, math.nan,
                              0.0, "below", detail="fewer than two N: no exponent")
    fit = fit_rate(np.array(sizes, dtype=float), np.exp(np.array(logs)))
    return Check.interval(
        "best_t0_decreasing", statement, fit.slope, fit.ci[0], fit.ci[1], 0.0, "below",
        criterion="best t0 per replicate from the parabola in log t0 through the grid "
        "minimum (no ties); plain 95% interval of b, fitted over all (N, replicate) pairs, "
        "lies below 0 (an interval containing 0 is uninformative: FAIL)",
        figure="figures/stopping_time.png",
        detail="; ".join(f"N={n}: best t0 {math.exp(m):.3g} (log sd {s:.2f})"
                         for n, m, s in means))


def checks(results: dict, settings: Settings) -> list[Check]:
    groups = _by_size(results)
    interior, _ = _interior(groups)
    return [_memorisation(groups, settings), interior, _decreasing(groups)]


# --------------------------------------------------------------------------- figures
def figures(results: dict, folder: Path) -> list[Path]:
    from ..plotting import plt, save_figure, style

    groups = _by_size(results)
    with style():
        fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
        best = []
        for k, (n_train, reps) in enumerate(groups.items()):
            color = f"C{k}"
            t0 = reps[0]["t0"]
            for s, r in enumerate(reps):
                label = f"$N = {n_train}$" if s == 0 else None
                axes[0].plot(t0, r["mean_nearest_distance"], "-", color=color, lw=0.8,
                             alpha=0.6, label=label)
                axes[1].plot(t0, r["w2_population"], "-", color=color, lw=0.8, alpha=0.6,
                             label=label)
            axes[1].axhline(np.mean([r["w2_training_to_population"] for r in reps]),
                            color=color, ls=":", lw=0.8)
            values = [math.exp(_best_log_t0(r["t0"], r["w2_population"])) for r in reps]
            axes[2].plot([n_train] * len(values), values, "o", color=color, mfc="none")
            best.append((n_train, math.exp(np.mean(np.log(values)))))
        sigma = next(iter(groups.values()))[0]["sigma_t0"]
        axes[0].plot(next(iter(groups.values()))[0]["t0"], sigma * math.sqrt(math.pi / 2),
                     "k--", lw=0.8, label=r"$\sigma_{t_0}\sqrt{\pi/2}$ (collapsed onto the data)")
        axes[2].plot([b[0] for b in best], [b[1] for b in best], "k-",
                     label="geometric mean over replicates")
        titles = ("Mean distance to the nearest training point",
                  "$W_2$(samples, population); dotted: $W_2$(training set, population)",
                  r"Best stopping time $t_0$ per replicate (parabolic vertex)")
        ylabels = ("mean nearest-neighbour distance", r"$W_2$ to the population",
                   r"best $t_0$")
        for ax, title, ylabel in zip(axes, titles, ylabels, strict=True):
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(title, fontsize=9)
            ax.set_ylabel(ylabel)
            ax.set_xlabel("training set size $N$" if ax is axes[2] else "stopping time $t_0$")
        axes[2].set_xticks(list(groups), labels=[str(n) for n in groups])
        axes[2].minorticks_off()
        for ax in axes:
            ax.legend()
        fig.suptitle("Stopping time: empirical score, reverse VP SDE, two-ring population; "
                     "one line per replicate")
        fig.tight_layout()
        written = save_figure(fig, Path(folder) / "stopping_time", ("png",))
    return [Path(p) for p in written]
