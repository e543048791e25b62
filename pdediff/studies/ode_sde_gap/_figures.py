"""Figures and the side-by-side table of the ODE-SDE gap study (from ``results`` only)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ._verdicts import PAPER_W2SQ, QUANTITIES, model_rows, seed_stats

_DATA_NAMES = {"blob": "blob", "circles2": "two circles", "checker": "checkerboard"}
_MODEL_NAMES = {"mlp": "neural log-density (MLP)", "spline": "spline model"}


def _density(mass: np.ndarray, half_width: float) -> np.ndarray:
    dx = 2.0 * half_width / (mass.shape[0] - 1)
    return np.asarray(mass) / dx**2


def _density_figure(results: dict, model: str, path: Path) -> list[Path]:
    from ...plotting import image_row, plt, save_figure, style

    rows = model_rows(results, model)
    if not rows:
        return []
    data_sets = list(dict.fromkeys(r["data"] for r in rows))
    weights = sorted({float(r["w"]) for r in rows})
    seed = min(int(r["seed"]) for r in rows)
    t0, half = float(rows[0]["t0"]), float(rows[0]["half_width"])
    extent = (-half, half, -half, half)
    columns = 1 + 2 * len(weights)
    with style():
        figure, axes = plt.subplots(len(data_sets), columns, squeeze=False, layout="constrained",
                                    figsize=(1.8 * columns + 1.2, 1.9 * len(data_sets) + 0.6))
        for i, data in enumerate(data_sets):
            truth = results[f"truth/{data}"]["mass"]
            panels = [("data ($t = 0$)", truth)]
            for w in weights:
                row = next(r for r in rows if r["data"] == data and math.isclose(r["w"], w)
                           and int(r["seed"]) == seed)
                panels += [(f"ODE, $w_R = {w:g}$", row["ode"]), (f"SDE, $w_R = {w:g}$", row["sde"])]
            titles = [label if i == 0 else "" for label, _ in panels]
            # one colour scale per row (the data and every model density of that law)
            image_row(figure, axes[i], [_density(m, half) for _, m in panels], titles, extent,
                      label="density", ticks=False, xlabel="", ylabel=_DATA_NAMES.get(data, data))
        figure.suptitle(f"{_MODEL_NAMES.get(model, model)}: grid densities at $t = t_0 = {t0:g}$ "
                        f"binned on the paper's {truth.shape[0]}$^2$ nodes (seed {seed}); "
                        f"first column the exact data law", fontsize=10)
        return save_figure(figure, path)


def _bound_figure(results: dict, path: Path) -> list[Path]:
    from ...plotting import plt, save_figure, style

    with style():
        figure, axis = plt.subplots(figsize=(5, 4))
        lows, highs = [], []
        for k, model in enumerate(("mlp", "spline")):
            rows = model_rows(results, model)
            if not rows:
                continue
            measured = np.array([r["bound_measured_w2"] for r in rows])
            bound = np.array([r["bound_box"] for r in rows])
            axis.loglog(measured, bound, "os"[k], color=f"C{k}", label=_MODEL_NAMES[model],
                        mfc="none")
            lows.append(measured.min())
            highs.append(bound.max())
        if lows:
            line = [min(lows) / 2, max(highs) * 2]
            axis.plot(line, line, "k--", lw=0.8, label="bound = measured")
            axis.plot(line, [100 * v for v in line], "k:", lw=0.8,
                      label="measured / bound = $10^{-2}$ (below: vacuous)")
        axis.set_xlabel("measured $W_2$(ODE, SDE) (the bound's own solve)")
        axis.set_ylabel("bound ($L$ over the box)")
        axis.set_title("ODE\N{EN DASH}SDE gap bound against the measured $W_2$")
        axis.legend()
        return save_figure(figure, path)


def _fmt(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.4f}"


def table(results: dict) -> str:
    """Markdown: per model class, data set and w, the seed-mean W2^2 (+- spread), the
    extrapolated value, the exact-score floor, the paper sampler and the paper's value."""
    lines = []
    for model in ("mlp", "spline"):
        rows = model_rows(results, model)
        if not rows:
            continue
        lines += [f"## {model}", "",
                  "| data | w | pair | grid W2^2 (finest) | extrapolated | order | exact-score "
                  "floor | paper sampler | paper (published) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for data in dict.fromkeys(r["data"] for r in rows):
            truth = results.get(f"truth/{data}", {})
            for w in sorted({float(r["w"]) for r in rows if r["data"] == data}):
                sub = [r for r in rows if r["data"] == data and math.isclose(r["w"], w)]
                for q in QUANTITIES[:3]:
                    mean, spread, n = seed_stats(rows, data, w, q)
                    extra = np.nanmean([r[f"{q}_extrapolated"] for r in sub]) \
                        if any(math.isfinite(r[f"{q}_extrapolated"]) for r in sub) else math.nan
                    order = np.nanmedian([r[f"{q}_order"] for r in sub]) \
                        if any(math.isfinite(r[f"{q}_order"]) for r in sub) else math.nan
                    floor = float(truth.get(q, math.nan)) if truth else math.nan
                    sampler = float(np.mean([r["sampler"][q] for r in sub]))
                    paper = PAPER_W2SQ.get((data, q), {}).get(w, math.nan)
                    spread_text = "" if not math.isfinite(spread) else f" +- {spread:.4f}"
                    lines.append(f"| {data} | {w:g} | {q[5:]} | {_fmt(mean)}{spread_text} (n={n}) "
                                 f"| {_fmt(extra)} | {order:.2g} | {_fmt(floor)} | "
                                 f"{_fmt(sampler)} | {_fmt(paper)} |")
        lines.append("")
        lines += ["| data | w | score MSE | mean R^2 | DSM | W2/bound | collapse prior | "
                  "collapse Gaussian | folded ODE | folded SDE |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['data']} | {r['w']:g} (s={r['seed']}) | {r['score_mse']:.4g} | "
                f"{r['residual']:.4g} | {r['dsm']:.4g} | "
                f"{r['bound_measured_w2'] / r['bound_box']:.3g} | {r['collapse_prior']:.4f} | "
                f"{r['collapse_gaussian']:.4f} | {r['folded_ode']:.2e} | {r['folded_sde']:.2e} |")
        lines.append("")
    return "\n".join(lines)


def figures(results: dict[str, dict], folder: Path) -> list[Path]:
    """``ode_sde_gap_<model>.png`` (densities), ``ode_sde_gap_bound.png`` and the table
    ``ode_sde_gap_table.md``."""
    folder = Path(folder)
    paths: list[Path] = []
    for model in ("mlp", "spline"):
        paths += _density_figure(results, model, folder / f"ode_sde_gap_{model}.png")
    paths += _bound_figure(results, folder / "ode_sde_gap_bound.png")
    target = folder / "ode_sde_gap_table.md"
    target.write_text(table(results))
    paths.append(target)
    return paths
