"""Figures (matplotlib, non-interactive backend); every figure is written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .results import Solution  # noqa: E402


def save_figure(figure, path: str | os.PathLike, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``figure`` as ``path`` with each suffix in ``formats`` (temporary file +
    rename, so a killed run leaves no truncated image); closes the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        target = path.with_suffix("." + fmt)
        handle, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix="." + fmt,
                                       dir=target.parent)
        os.close(handle)
        try:
            figure.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight")
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        written.append(target)
    plt.close(figure)
    return written


def plot_snapshots(solution: Solution, path: str | os.PathLike, max_panels: int = 6,
                   formats: Iterable[str] = ("png",)) -> list[Path]:
    """Snapshots of a 1-D (lines) or 2-D (images) grid solution; 3-D solutions show
    the mid-plane slice along the last axis."""
    grid = solution.grid
    indices = np.unique(np.linspace(0, solution.t.size - 1, min(max_panels, solution.t.size))
                        .round().astype(int))
    if grid.ndim == 1:
        figure, axis = plt.subplots(figsize=(6, 3.5))
        for i in indices:
            axis.plot(grid.centers[0], solution.p[i], label=f"t = {solution.t[i]:.3g}")
        axis.set_xlabel("x")
        axis.set_ylabel("density")
        axis.legend(fontsize=8)
    else:
        figure, axes = plt.subplots(1, len(indices), figsize=(3 * len(indices), 3.2),
                                    squeeze=False)
        (low0, high0), (low1, high1) = grid.bounds[0], grid.bounds[1]
        for axis, i in zip(axes[0], indices):
            field = solution.p[i]
            if grid.ndim == 3:
                field = field[..., grid.shape[2] // 2]
            axis.imshow(field.T, origin="lower", extent=(low0, high0, low1, high1),
                        cmap="viridis")
            axis.set_title(f"t = {solution.t[i]:.3g}", fontsize=9)
            axis.set_xticks([])
            axis.set_yticks([])
    figure.suptitle(f"{solution.metadata.get('direction', '')} {solution.process!r}", fontsize=9)
    return save_figure(figure, path, formats)
