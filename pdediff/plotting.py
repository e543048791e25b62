"""Figures: one shared style, density panels with shared colour scales, atomic saves.

Importing this module does not touch the matplotlib backend (``plt.show()`` and
notebooks keep working); the ``pdediff`` command picks the non-interactive Agg backend
itself when it writes figures without a display.

What every pdediff figure follows (and the helpers below implement):

* :func:`style` - a ``with`` context of rc settings: mathtext labels (``$p(x, t)$``),
  legends and tick labels >= 8 pt, titles in words, tight layout;
* :func:`density_panels` - densities compared side by side share one colour scale
  (:func:`shared_limits`) and one labelled colour bar; the reference (exact or true)
  density, where one exists, is a panel of its own; 3-D fields show labelled
  mid-plane slices normal to all three axes;
* :func:`process_title` - a human title for a forward process;
* :func:`save_figure` - written atomically (temporary file + rename).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from . import _validate
from .io import atomic_path
from .results import Solution, axis_names

__all__ = [
    "plt",
    "STYLE",
    "style",
    "save_figure",
    "shared_limits",
    "process_title",
    "axis_label",
    "density_panels",
    "plot_snapshots",
]

#: rc settings of every pdediff figure (legends and ticks >= 8 pt, mathtext in Computer Modern).
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "figure.titlesize": 11,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "mathtext.fontset": "cm",
    "image.cmap": "viridis",
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "axes.grid": False,
    "legend.frameon": False,
}

_PROCESS_NAMES = {
    "heat": "heat flow",
    "ou": "Ornstein\N{EN DASH}Uhlenbeck",
    "vp": "variance-preserving (VP) SDE",
    "subvp": "sub-VP SDE",
    "ve": "variance-exploding (VE) SDE",
}
_PARAMETER_SYMBOLS = {
    "kappa": r"\kappa",
    "rate": r"\mathrm{rate}",
    "g": "g",
    "beta_min": r"\beta_{\min}",
    "beta_max": r"\beta_{\max}",
    "sigma_min": r"\sigma_{\min}",
    "sigma_max": r"\sigma_{\max}",
}


@contextlib.contextmanager
def style(**overrides: Any) -> Iterator[None]:
    """``with style():`` - the pdediff rc settings (:data:`STYLE`, then ``overrides``)
    for the figures made inside the block; the caller's settings come back after."""
    with mpl.rc_context({**STYLE, **overrides}):
        yield


def save_figure(figure, path: str | os.PathLike, formats: Iterable[str] = ("png",)) -> list[Path]:
    """Save ``figure`` as ``path`` with each suffix in ``formats`` (temporary file +
    rename, :func:`pdediff.io.atomic_path`, so a killed run leaves no truncated
    image); closes the figure and returns the paths written."""
    path = Path(path)
    written = []
    try:
        for fmt in formats:
            target = path.with_suffix("." + fmt)
            with atomic_path(target) as tmp:
                figure.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight")
            written.append(target)
    finally:
        plt.close(figure)
    return written


def shared_limits(fields: Sequence[np.ndarray], *, log: bool = False) -> tuple[float, float]:
    """One colour range ``(vmin, vmax)`` for panels that are compared: ``[0, max]``
    over all fields (linear), or ``[max * 1e-6, max]`` over the positive values (log)."""
    top = max(float(np.nanmax(f)) for f in fields)
    if not np.isfinite(top) or top <= 0:
        top = 1.0
    if log:
        return top * 1e-6, top
    return 0.0, top


def process_title(process: Any) -> str:
    """A title in words for a forward process, parameters in mathtext:
    ``"Ornstein-Uhlenbeck ($\\mathrm{rate} = 1$, $g = 1$)"``."""
    name = _PROCESS_NAMES.get(getattr(process, "name", ""), type(process).__name__)
    parameters = ", ".join(
        f"${_PARAMETER_SYMBOLS.get(k, k)} = {v:g}$" for k, v in process.parameters().items()
    )
    return f"{name} ({parameters})" if parameters else name


def axis_label(d: int, ndim: int) -> str:
    """Mathtext label of space axis ``d``: ``$x$``, ``$y$``, ``$z$`` (``$x_d$`` past 3-D)."""
    name = axis_names(ndim)[d]
    return f"${name[0]}_{{{name[1:]}}}$" if len(name) > 1 else f"${name}$"


def _slices(field: np.ndarray, grid: Any) -> list[tuple[np.ndarray, int, int, str]]:
    """The three mid-plane slices of a 3-D field: (2-D array, horizontal axis, vertical
    axis, label of the cut)."""
    out = []
    for normal in range(3):
        index = grid.shape[normal] // 2
        cut = np.take(field, index, axis=normal)
        axes = [d for d in range(3) if d != normal]
        value = grid.centers[normal][index]
        out.append((cut, axes[0], axes[1], f"{axis_label(normal, 3)[:-1]} = {value:.3g}$"))
    return out


def density_panels(
    fields: Sequence[np.ndarray],
    titles: Sequence[str],
    grid: Any,
    *,
    reference: np.ndarray | None = None,
    reference_title: str = "reference",
    label: str = "$p$",
    suptitle: str | None = None,
    log: bool = False,
    cmap: str = "viridis",
    panel_size: float = 2.8,
):
    """A figure comparing densities on ``grid`` on one colour scale.

    Parameters
    ----------
    fields : sequence of arrays, each of shape ``grid.shape``
        Cell averages to compare (e.g. snapshots, or solver vs particles).
    titles : sequence of str, one per field
        Panel titles in words / mathtext (``"$t = 0.5$"``).
    grid : pdediff.Grid
    reference : array of shape ``grid.shape``, optional
        The exact or true density: drawn as its own panel (2-D, 3-D) or as a dashed
        black line (1-D), on the same scale.
    reference_title, label, suptitle : str
        Title of the reference panel, colour-bar / y-axis label, figure title.
    log : bool
        Logarithmic colour scale (six decades below the shared maximum).
    cmap : str
    panel_size : float
        Width of one panel in inches.

    Returns
    -------
    matplotlib.figure.Figure
        1-D: one axis of lines with a legend; 2-D: one image per field (and the
        reference) with one shared colour bar; 3-D: one row per field, columns the
        mid-plane slices normal to ``x``, ``y`` and ``z``, with labelled axes.
    """
    fields = [_validate.real_array(f, "fields", finite=False) for f in fields]
    reference = None if reference is None else _validate.real_array(reference, "reference", finite=False)
    panel_size = _validate.positive(panel_size, "panel_size")
    titles = list(titles)
    if len(titles) != len(fields):
        raise ValueError(f"titles: expected {len(fields)} titles (one per field), got {len(titles)}")
    for i, f in enumerate(fields):
        if f.shape != grid.shape:
            raise ValueError(f"fields: field {i} has shape {f.shape}, expected the grid's {grid.shape}")
    if reference is not None:
        if reference.shape != grid.shape:
            raise ValueError(f"reference: expected the grid's shape {grid.shape}, got {reference.shape}")
    with style():
        if grid.ndim == 1:
            figure, axis = plt.subplots(figsize=(2.2 * panel_size, 0.6 * 2.2 * panel_size),
                                        layout="constrained")
            colours = plt.cm.viridis(np.linspace(0.0, 0.9, max(len(fields), 1)))
            for f, title, colour in zip(fields, titles, colours):
                axis.plot(grid.centers[0], f, color=colour, label=title)
            if reference is not None:
                axis.plot(grid.centers[0], reference, "k--", lw=1.0, label=reference_title)
            axis.set_xlabel(axis_label(0, 1))
            axis.set_ylabel(label)
            if log:
                axis.set_yscale("log")
                shown = fields + ([reference] if reference is not None else [])
                axis.set_ylim(*shared_limits(shown, log=True))
            axis.legend()
        else:
            panels = list(zip(fields, titles))
            if reference is not None:
                panels.append((reference, reference_title))
            vmin, vmax = shared_limits([f for f, _ in panels], log=log)
            norm = mpl.colors.LogNorm(vmin, vmax) if log else mpl.colors.Normalize(vmin, vmax)
            if grid.ndim == 2:
                rows = [[(f, 0, 1, title)] for f, title in panels]
                nrow, ncol = 1, len(panels)
            else:
                rows = [[(cut, h, v, f"{title}, {where}") for cut, h, v, where in _slices(f, grid)]
                        for f, title in panels]
                nrow, ncol = len(panels), 3
            figure, axes = plt.subplots(nrow, ncol, figsize=(panel_size * ncol + 0.8, panel_size * nrow),
                                        squeeze=False, layout="constrained")
            flat = [cell for row in rows for cell in row]
            for axis, (image, h, v, title) in zip(axes.ravel(), flat):
                shown = np.clip(image, vmin, None) if log else image
                mappable = axis.imshow(
                    shown.T, origin="lower", cmap=cmap, norm=norm, aspect="auto",
                    extent=(*grid.bounds[h], *grid.bounds[v]), interpolation="nearest",
                )
                axis.set_title(title)
                axis.set_xlabel(axis_label(h, grid.ndim))
                axis.set_ylabel(axis_label(v, grid.ndim))
            figure.colorbar(mappable, ax=axes, label=label, shrink=0.9 if nrow == 1 else 0.5)
        if suptitle:
            figure.suptitle(suptitle)
    return figure


def plot_snapshots(
    solution: Solution,
    path: str | os.PathLike,
    max_panels: int = 6,
    formats: Iterable[str] = ("png",),
    *,
    reference: np.ndarray | None = None,
    reference_title: str = "closed form",
) -> list[Path]:
    """Snapshots of a grid solution (:func:`density_panels`) at up to ``max_panels``
    evenly spread stored times (at most 3 in 3-D), titled with the process and direction in words;
    ``reference`` (shape ``grid.shape``), the exact density at the last time, is drawn
    as its own panel.  Returns the paths written."""
    max_panels = _validate.positive_int(max_panels, "max_panels")
    if solution.grid.ndim == 3:
        max_panels = min(max_panels, 3)  # three slices per snapshot already
    indices = np.unique(np.linspace(0, solution.t.size - 1, min(max_panels, solution.t.size))
                        .round().astype(int))
    direction = solution.metadata.get("direction", "")
    verb = {"forward": "Forward solve", "reverse": "Reverse solve"}.get(direction, "Solution")
    figure = density_panels(
        [solution.p[i] for i in indices],
        [f"$t = {solution.t[i]:.3g}$" for i in indices],
        solution.grid,
        reference=reference,
        reference_title=reference_title,
        label=r"density $p(x, t)$",
        suptitle=f"{verb}: {process_title(solution.process)}",
    )
    return save_figure(figure, path, formats)
