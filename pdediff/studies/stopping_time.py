"""Imitation against generation as a function of the stopping time (DESIGN 3.6).

Question: a diffusion model trained perfectly on ``N`` samples has the *empirical*
score ``s_N(x, t) = grad log p^N_t``, ``p^N_t = (1/N) sum_j N(alpha_t y_j, sigma_t^2 I)``
(:class:`pdediff.distributions.Points` of the training set pushed through the
process).  The reverse dynamics then collapse onto the training points as the
stopping time ``t0 -> 0`` (memorisation); stopping at ``t0 > 0`` leaves samples
blurred by ``sigma_t0``.  Which ``t0`` makes the samples closest to the *population*?

Setup: population ``Rings(radii=(0.5, 1.2), spread=0.08)`` in 2-D, forward process
``VP(0.1, 20)`` (``T = 1``, prior ``N(0, sigma_T^2 I)``), ``N in {16, 64, 256, 1024}``
training samples (quick: ``{16, 64, 256}``), ``M`` particles of the reverse SDE
(``eps = 1``, Euler–Maruyama on a log-spaced step grid, exact empirical score) from
the prior down to ``t0_min``; snapshots at log-spaced ``t0`` are the samples stopped
at ``t0``.  Against ``t0``:

* ``W2(samples, training set)`` (:func:`pdediff.metrics.w2`, exact discrete OT);
* mean distance to the nearest training point;
* ``W2(samples, population)`` against a fixed population sample of size ``M``, with
  the particle noise floor ``W2(population_M, population'_M)``
  (:func:`pdediff.metrics.noise_floor`);
* the best ``t0`` (minimising ``W2`` to the population) per ``N``.

The prior draws, the Brownian increments (same seed) and the population reference
sample are shared by all ``N`` (common random numbers), so differences between ``N``
are not sampling noise of the sampler.

Checks: memorisation (the mean nearest-training-point distance falls like
``sigma_t0`` -- i.e. like ``t0^(1/2)`` as ``t0 -> 0``, since ``sigma_t^2 ~ beta_min t``
-- over the window where ``sigma_t0`` is below a tenth of the median spacing of the
training set: the CI of the fitted log-log slope against ``sigma_t0`` contains 1; the
ratio to the Rayleigh mean ``sigma_t0 sqrt(pi/2)`` is reported); an interior optimum
of ``W2`` to the population (the minimum is not at an end of the ``t0`` range and lies
below both ends; whether the gap exceeds the noise-floor spread is reported); the best
``t0`` non-increasing in ``N``.

    python studies/stopping_time.py --quick
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..distributions import Points, Rings
from ..metrics import fit_rate, noise_floor, w2
from ..particles import reverse as particles_reverse
from ..plotting import save_figure
from ..processes import VP
from ..scores import exact
from .common import Check, figure_dir, format_table, write_study
from .concentration import bootstrap_slope_sd

DESCRIPTION = "imitation vs generation against the stopping time t0"
NAME = "stopping_time"

#: memorisation window: sigma_t0 below this fraction of the median training spacing
MEMORISATION_FRACTION = 0.1


@dataclass(frozen=True)
class Settings:
    """Sizes of one run (quick or full)."""

    sizes: tuple[int, ...]
    n_particles: int
    steps: int
    t0_min: float
    t0_max: float
    n_t0: int
    floor_repeats: int


def settings(quick: bool) -> Settings:
    """Quick: three training-set sizes, 600 particles; full: four sizes, 2000."""
    if quick:
        return Settings((16, 64, 256), 600, 240, 1e-5, 0.5, 14, 4)
    return Settings((16, 64, 256, 1024), 2000, 600, 1e-6, 0.5, 22, 8)


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


def run(quick: bool = False, out: Path = Path("data"), progress: bool = True) -> dict:
    """Run the stopping-time study (module docstring); write ``out/stopping_time.h5``
    and ``out/figures/stopping_time.{png,pdf}``.

    Returns ``{"table": str, "checks": [Check, ...], "rows": [...], "elapsed_s": s}``.
    """
    start = time.perf_counter()
    out = Path(out)
    cfg = settings(quick)
    process = VP()
    T = process.T
    pop = population()
    root = np.random.SeedSequence(20251105)
    train_seq, prior_seq, ref_seq, floor_seq, boot_seq, noise_seq = root.spawn(6)
    reference = pop.sample(cfg.n_particles, np.random.default_rng(ref_seq))
    x_T = math.sqrt(process.prior_variance()) * np.random.default_rng(prior_seq) \
        .standard_normal((cfg.n_particles, 2))
    sampler_seed = int(np.random.default_rng(noise_seq).integers(2**31))
    floor = noise_floor(pop, cfg.n_particles, "w2", repeats=cfg.floor_repeats,
                        seed=np.random.default_rng(floor_seq))
    t0 = np.geomspace(cfg.t0_max, cfg.t0_min, cfg.n_t0)
    t_eval = np.concatenate([[T], t0])
    sigma_t0 = np.sqrt(process.sigma2(t0))
    full_training = pop.sample(max(cfg.sizes), np.random.default_rng(train_seq))
    boot_rng = np.random.default_rng(boot_seq)

    results: dict[str, Any] = {
        "t0": t0, "sigma_t0": sigma_t0, "noise_floor_w2": floor.values,
        "noise_floor_mean": floor.mean, "noise_floor_std": floor.std,
    }
    rows = []
    iterator = list(cfg.sizes)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc=NAME, leave=False)
    for n_train in iterator:
        # nested training sets: the first N of one population sample
        training = Points(full_training[:n_train])
        tic = time.perf_counter()
        # the exact score of the empirical measure: s_N = grad log p^N_t
        sol = particles_reverse(x_T, process, exact(training, process), t_eval, eps=1.0,
                                steps=cfg.steps, seed=sampler_seed, time_grid="log")
        wall_sampler = time.perf_counter() - tic
        snapshots = sol.x[1:]
        nn = nearest_training_distance(snapshots, training)
        # the same prior draws and noise seed with half the steps: the sampler's
        # time-discretisation error of the memorisation statistics
        half_sol = particles_reverse(x_T, process, exact(training, process), t_eval, eps=1.0,
                                     steps=cfg.steps // 2, seed=sampler_seed, time_grid="log")
        nn_half = nearest_training_distance(half_sol.x[1:], training).mean(axis=1)
        tic = time.perf_counter()
        w2_train = np.array([w2(x, training.x) for x in snapshots])
        w2_pop = np.array([w2(x, reference) for x in snapshots])
        wall_w2 = time.perf_counter() - tic
        w2_train_pop = w2(training.x, reference)
        spacing = _median_spacing(training.x)
        window = sigma_t0 <= MEMORISATION_FRACTION * spacing
        node: dict[str, Any] = {
            "training_set": training.x, "w2_train": w2_train, "w2_population": w2_pop,
            "mean_nearest_distance": nn.mean(axis=1), "w2_training_to_population": w2_train_pop,
            "median_training_spacing": spacing, "memorisation_window": window.astype(np.int8),
            "wall_time_sampler_s": wall_sampler, "wall_time_w2_s": wall_w2,
            "n_steps": int(sol.metadata["n_steps"]),
        }
        row: dict[str, Any] = {"N": n_train, "w2_train_pop": w2_train_pop}
        # at t0 -> 0 each particle sits at alpha_t0 y_j + sigma_t0 Z: the distance is
        # sigma_t0 |Z|, mean sigma_t0 sqrt(pi/2) in 2-D (Rayleigh)
        ratio = nn.mean(axis=1) / (sigma_t0 * math.sqrt(math.pi / 2))
        node["nearest_over_rayleigh_mean"] = ratio
        node["mean_nearest_distance_half_steps"] = nn_half
        row["rayleigh_ratio"] = float(ratio[-1])
        row["rayleigh_ratio_half"] = float(nn_half[-1] / (sigma_t0[-1] * math.sqrt(math.pi / 2)))
        if window.sum() >= 3:
            # against sigma_t0 (slope 1), not t0: for VP sigma_t^2 = 1 - exp(-B(t)) is
            # proportional to t only for t << beta_min / (beta_max - beta_min) = 5e-3
            fit = fit_rate(sigma_t0[window], nn.mean(axis=1)[window])
            boot = bootstrap_slope_sd(sigma_t0[window], nn[window], boot_rng,
                                      statistic="mean")
            half = math.hypot(0.5 * (fit.ci[1] - fit.ci[0]), 1.96 * boot)
            fit_t = fit_rate(t0[window], nn.mean(axis=1)[window])
            step_tol = abs(fit.slope - fit_rate(sigma_t0[window], nn_half[window]).slope)
            node.update({"memorisation_slope_sigma": fit.slope,
                         "memorisation_ci": np.array([fit.slope - half, fit.slope + half]),
                         "memorisation_ci_regression": np.array(fit.ci),
                         "memorisation_bootstrap_sd": boot,
                         "memorisation_slope_t0": fit_t.slope,
                         "memorisation_ci_t0": np.array(fit_t.ci),
                         "memorisation_step_tolerance": step_tol})
            row.update({"slope": fit.slope, "ci": (fit.slope - half, fit.slope + half),
                        "slope_t0": fit_t.slope, "step_tol": step_tol})
        best = int(np.argmin(w2_pop))
        node.update({"best_index": best, "best_t0": float(t0[best]),
                     "best_w2_population": float(w2_pop[best])})
        row.update({"best": best, "best_t0": float(t0[best]), "best_w2": float(w2_pop[best]),
                    "w2_ends": (float(w2_pop[0]), float(w2_pop[-1])),
                    "nn_small": float(nn.mean(axis=1)[-1]), "nn_large": float(nn.mean(axis=1)[0])})
        results[f"N{n_train}"] = node
        rows.append(row)
    checks = _checks(rows, cfg, floor)
    figures = _figure(results, cfg, figure_dir(out))
    elapsed = time.perf_counter() - start
    parameters = {
        "process": repr(process), "population": repr(pop.to_dict()), "sizes": list(cfg.sizes),
        "n_particles": cfg.n_particles, "steps": cfg.steps, "eps": 1.0,
        "t0_min": cfg.t0_min, "t0_max": cfg.t0_max, "n_t0": cfg.n_t0,
        "memorisation_fraction": MEMORISATION_FRACTION, "sampler_seed": sampler_seed,
        "elapsed_s": elapsed, "figures": ", ".join(figures),
    }
    write_study(out, NAME, parameters, results, checks, quick)
    table = _table(rows, floor) + "\n" + format_table(checks) + f"\n{NAME}: {elapsed:.1f} s"
    return {"table": table, "checks": checks, "rows": rows, "elapsed_s": elapsed}


def _median_spacing(points: np.ndarray) -> float:
    """Median distance from each training point to its nearest other training point."""
    from scipy.spatial import cKDTree

    dist, _ = cKDTree(points).query(points, k=2)
    return float(np.median(dist[:, 1]))


def _checks(rows: list[dict], cfg: Settings, floor) -> list[Check]:
    figure = "figures/stopping_time.png"
    checks = []
    fitted = [r for r in rows if "slope" in r]
    if fitted:
        # the target may be missed by at most the step-halving error (discretisation)
        margins = [min(1.0 - r["ci"][0], r["ci"][1] - 1.0) + r["step_tol"] for r in fitted]
        i = int(np.argmin(margins))
        shrink = min(r["nn_large"] / r["nn_small"] for r in rows)
        checks.append(Check(
            name="memorisation_sqrt_t0",
            statement="with the empirical score the samples collapse onto the training set: "
            "mean distance to the nearest training point ~ sigma_t0^slope with slope 1 "
            "(i.e. ~ t0^(1/2) as t0 -> 0), over sigma_t0 < 0.1 x median training spacing",
            bound="95% CI (regression + particle bootstrap) widened by |slope(steps) - "
            "slope(steps/2)| contains 1",
            worst=float(fitted[i]["slope"]), margin=float(margins[i]),
            passed=bool(min(margins) >= 0), figure=figure,
            detail="; ".join(f"N={r['N']}: {r['slope']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
                             f" +- {r['step_tol']:.3f} (vs t0: {r['slope_t0']:.3f})"
                             for r in fitted)
            + "; mean distance / (sigma_t0 sqrt(pi/2)) at t0_min (Euler-Maruyama, steps and "
            "steps/2; -> 1 as steps -> inf): "
            + ", ".join(f"{r['rayleigh_ratio']:.3f}/{r['rayleigh_ratio_half']:.3f}"
                        for r in rows)
            + f"; distance shrinks by >= {shrink:.0f}x from t0={cfg.t0_max:g} to "
            f"{cfg.t0_min:g}" + ("" if len(fitted) == len(rows) else
                                 f"; {len(rows) - len(fitted)} N without a resolved window"),
        ))
    gaps = [min(r["w2_ends"]) - r["best_w2"] for r in rows]
    i = int(np.argmin(gaps))
    significant = [r["N"] for r, g in zip(rows, gaps, strict=True) if g > floor.std]
    checks.append(Check(
        name="interior_optimum",
        statement="W2(samples, population) has an interior minimum in t0: the best t0 is "
        "neither end of [t0_min, t0_max] and W2 there is below W2 at both ends",
        bound="min(W2 at ends) - min W2 > 0 with the argmin strictly inside",
        worst=float(rows[i]["best_w2"]), margin=float(gaps[i]),
        passed=bool(all(0 < r["best"] < cfg.n_t0 - 1 for r in rows) and gaps[i] > 0),
        figure=figure,
        detail="; ".join(f"N={r['N']}: best t0 {r['best_t0']:.2e}, W2 {r['best_w2']:.3f} "
                         f"(ends {r['w2_ends'][0]:.3f} / {r['w2_ends'][1]:.3f})" for r in rows)
        + f"; noise floor {floor.mean:.3f} +- {floor.std:.3f}; gap exceeds the floor's "
        f"spread for N in {significant} (common random numbers across t0 and N, so the "
        "independent-sample spread overstates the noise of the gap)",
    ))
    best = np.array([r["best_t0"] for r in rows])
    ratios = best[1:] / best[:-1]
    log_margin = float(np.min(np.log(best[:-1] / best[1:]))) + 0.0 if ratios.size else 0.0
    slope_text = ""
    if best.size >= 3:
        fit = fit_rate(np.array([r["N"] for r in rows], dtype=float), best)
        slope_text = f"; best t0 ~ N^{fit.slope:.2f} [{fit.ci[0]:.2f}, {fit.ci[1]:.2f}]"
    checks.append(Check(
        name="best_t0_decreasing",
        statement="the best stopping time does not increase with the training-set size N "
        "(more data: stop later in reverse time, closer to t0 = 0; ties are possible on "
        "the discrete t0 grid)",
        bound="log(best t0(N_k) / best t0(N_{k+1})) >= 0 for consecutive N",
        worst=float(np.max(ratios)) if ratios.size else float("nan"),
        margin=log_margin, passed=bool(log_margin >= 0), figure=figure,
        detail=", ".join(f"N={r['N']}: {r['best_t0']:.2e}" for r in rows) + slope_text,
    ))
    return checks


def _table(rows: list[dict], floor) -> str:
    lines = [f"{'N':>5} {'W2(train,pop)':>13} {'best t0':>9} {'best W2(pop)':>12} "
             f"{'nn-dist vs sigma_t0 slope (CI)':>30}"]
    for r in rows:
        slope = (f"{r['slope']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]" if "slope" in r
                 else "-")
        lines.append(f"{r['N']:>5} {r['w2_train_pop']:>13.4f} {r['best_t0']:>9.2e} "
                     f"{r['best_w2']:>12.4f} {slope:>30}")
    lines.append(f"noise floor W2(pop_M, pop'_M) = {floor.mean:.4f} +- {floor.std:.4f} "
                 f"(M = {floor.n})")
    return "\n".join(lines)


def _figure(results: dict, cfg: Settings, folder: Path) -> list[str]:
    import matplotlib.pyplot as plt

    t0 = results["t0"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.9))
    sizes = list(cfg.sizes)
    for k, n_train in enumerate(sizes):
        node = results[f"N{n_train}"]
        color = f"C{k}"
        axes[0].plot(t0, node["w2_train"], "-o", ms=3, color=color, label=f"N={n_train}")
        axes[1].plot(t0, node["mean_nearest_distance"], "-o", ms=3, color=color)
        axes[2].plot(t0, node["w2_population"], "-o", ms=3, color=color)
        axes[2].axhline(node["w2_training_to_population"], color=color, ls=":", lw=0.8)
        axes[2].plot([node["best_t0"]], [node["best_w2_population"]], "*", ms=12, color=color)
    axes[1].plot(t0, results["sigma_t0"] * math.sqrt(math.pi / 2), "k--", lw=0.8,
                 label="sigma_t0 sqrt(pi/2) (collapsed)")
    floor = results["noise_floor_mean"]
    axes[2].axhspan(floor - results["noise_floor_std"], floor + results["noise_floor_std"],
                    color="0.85", label="noise floor")
    best = [results[f"N{n}"]["best_t0"] for n in sizes]
    axes[3].plot(sizes, best, "ko-")
    titles = ("W2(samples, training set)", "mean distance to nearest training point",
              "W2(samples, population); dotted W2(train, pop)", "best t0 vs N")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("N" if ax is axes[3] else "t0")
    axes[3].set_xticks(sizes, labels=[str(n) for n in sizes])
    axes[3].minorticks_off()
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    fig.suptitle("Stopping time: empirical score, reverse SDE (VP), two-ring population",
                 fontsize=10)
    fig.tight_layout()
    return [p.name for p in save_figure(fig, folder / "stopping_time", ("png", "pdf"))]
