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
* :func:`image_row` - images of one row of a hand-made layout on one shared scale
  with one colour bar (for figures whose panels are not cells of one grid);
* :func:`process_title` - a human title for a forward process; :func:`human` - a
  study's code name (``"gaussian_mixture"``) in words;
* :func:`figure_problems` - what in a finished figure breaks these rules (used by the
  tests of every study's figures);
* :func:`save_figure` - written atomically (temporary file + rename).
"""

from __future__ import annotations

import contextlib
import os
import re
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
    "image_row",
    "human",
    "figure_problems",
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


def image_row(
    figure,
    axes: Sequence[Any],
    images: Sequence[np.ndarray],
    titles: Sequence[str],
    extent: Sequence[float],
    *,
    label: str = "density",
    log: bool = False,
    cmap: str = "viridis",
    xlabel: str = "$x$",
    ylabel: str = "$y$",
    ticks: bool = True,
):
    """Draw 2-D ``images`` (each indexed ``[ix, iy]``) on ``axes``, one per axis, on one
    colour scale (:func:`shared_limits`) with one colour bar labelled ``label`` beside
    the row.

    Parameters
    ----------
    figure : matplotlib.figure.Figure
    axes : sequence of Axes, one per image
    images : sequence of 2-D arrays
    titles : sequence of str, one per image
    extent : (x_low, x_high, y_low, y_high)
        Physical extent of every image (same units as the axis labels).
    label, log, cmap
        Colour-bar label, logarithmic scale (six decades), colour map.
    xlabel, ylabel : str
        Axis labels; the y label is put on the first axis only.
    ticks : bool
        Keep the tick labels (off for small panels).

    Returns
    -------
    matplotlib.colorbar.Colorbar
        The row's colour bar (its ``mappable.norm`` is the norm of every image).
    """
    axes, images, titles = list(axes), [np.asarray(im, dtype=float) for im in images], list(titles)
    if not (len(axes) == len(images) == len(titles)) or not images:
        raise ValueError(f"axes, images, titles: expected equal non-zero lengths, got "
                         f"{len(axes)}, {len(images)}, {len(titles)}")
    for i, im in enumerate(images):
        if im.ndim != 2:
            raise ValueError(f"images: image {i} has shape {im.shape}, expected a 2-D array")
    vmin, vmax = shared_limits(images, log=log)
    norm = mpl.colors.LogNorm(vmin, vmax) if log else mpl.colors.Normalize(vmin, vmax)
    for k, (axis, image, title) in enumerate(zip(axes, images, titles)):
        shown = np.clip(image, vmin, None) if log else image
        mappable = axis.imshow(shown.T, origin="lower", cmap=cmap, norm=norm, aspect="auto",
                               extent=tuple(extent), interpolation="nearest")
        axis.set_title(title)
        axis.set_xlabel(xlabel)
        if k == 0:
            axis.set_ylabel(ylabel)
        if not ticks:
            axis.set_xticks([])
            axis.set_yticks([])
    return figure.colorbar(mappable, ax=axes, label=label, fraction=0.03, pad=0.02)


_HUMAN = {
    "1d": "1-D", "2d": "2-D", "3d": "3-D",
    "heat": "heat flow", "ou": "Ornstein\N{EN DASH}Uhlenbeck", "vp": "VP SDE",
    "gaussian_mixture": "Gaussian mixture", "point_mass": "point mass",
    "checkerboard": "checkerboard", "box": "uniform box", "gaussian": "Gaussian",
    "p_T": "$q_T = p_T$", "prior": "$q_T$ = prior", "uniform": "$q_T$ = uniform",
    "mlp": "neural log-density (MLP)", "spline": "spline model",
    "blob": "blob (9 Gaussians)", "circles2": "two circles", "checker": "checker",
    "points": "points", "segment": "segment", "circle": "circle", "annulus": "annulus",
}
_EPS = re.compile(r"^eps(\d+(?:\.\d+)?)$")


def human(name: str) -> str:
    """A study's code name in words, for titles, labels and legends.

    Parameters
    ----------
    name : str
        A data-set, process, dimension or noise key (``"gaussian_mixture"``, ``"2d"``,
        ``"eps0"``), or a ``/``-joined case key of them.

    Returns
    -------
    str
        ``"Gaussian mixture"``, ``"2-D"``, ``"$\\varepsilon = 0$"``; a ``/``- or
        ``_``-joined key translated part by part (``"2d_box"`` -> ``"2-D uniform box"``,
        ``"1d/points"`` -> ``"1-D, points"``); unknown words lose their underscores.
    """
    name = str(name)
    if name in _HUMAN:
        return _HUMAN[name]
    match = _EPS.match(name)
    if match:
        return f"$\\varepsilon = {match.group(1)}$"
    if "/" in name:
        return ", ".join(human(part) for part in name.split("/"))
    head, _, tail = name.partition("_")
    if tail and head in _HUMAN:
        return f"{_HUMAN[head]} {human(tail)}"
    return name.replace("_", " ")


_IDENTIFIER = re.compile(r"\b[A-Za-z]+_[A-Za-z0-9_]+\b")


def _plain(text: str) -> str:
    """``text`` without its mathtext segments (``$...$``)."""
    return re.sub(r"\$[^$]*\$", "", text)


def _label_of(axis, which: str, axes: Sequence[Any]) -> str:
    """The ``which`` (x or y) label of ``axis``, or of an axis of the same grid column
    (x) or row (y) -- labels on the outer panels only are the usual layout."""
    label = axis.get_xlabel() if which == "x" else axis.get_ylabel()
    spec = axis.get_subplotspec()
    if label or spec is None:
        return label
    span = (lambda s: s.colspan) if which == "x" else (lambda s: s.rowspan)
    for other in axes:
        theirs = other.get_subplotspec()
        if (theirs is not None and theirs.get_gridspec() is spec.get_gridspec()
                and span(theirs) == span(spec)):
            label = other.get_xlabel() if which == "x" else other.get_ylabel()
            if label:
                return label
    return ""


def figure_problems(figure, *, forbidden: Iterable[str] = (), min_size: float = 8.0,
                    density: bool = True) -> list[str]:
    """The ways ``figure`` breaks the pdediff figure rules (empty if none).

    * every image (``imshow``, ``pcolormesh``, ``hist2d``) has a colour bar, its own or
      one drawn for a mappable with the same norm (a row on one scale);
    * legend texts and titles are at least ``min_size`` points;
    * no title, suptitle or axis label contains a code identifier (a word with an
      underscore outside ``$...$``) or equals one of ``forbidden`` (e.g. check names);
    * every axis that shows data with tick values has an x and a y label (its own, or
      one on a panel of the same grid column / row), and every colour bar a label;
    * if ``density``: an axis with an image says which time it shows (``t`` in mathtext
      in its title, its row's labels or the figure's suptitle).

    Parameters
    ----------
    figure : matplotlib.figure.Figure
        A finished figure (after its colour bars and legends are drawn).
    forbidden : iterable of str
        Names that must not be a title or label (a study's check names).
    min_size : float
        Smallest legend / title font size in points.
    density : bool
        Require the time on image axes (off for images that are not densities in time).

    Returns
    -------
    list of str
        One sentence per problem, naming the axis; empty if the figure follows the rules.
    """
    problems = []
    forbidden = set(forbidden)
    colourbars = [ax._colorbar for ax in figure.axes if getattr(ax, "_colorbar", None) is not None]
    bar_axes = {bar.ax for bar in colourbars}
    norms = {id(bar.mappable.norm) for bar in colourbars}
    suptitle = figure.get_suptitle() if hasattr(figure, "get_suptitle") else (
        figure._suptitle.get_text() if figure._suptitle else "")
    texts = [("suptitle", suptitle)] if suptitle else []
    for k, axis in enumerate(figure.axes):
        if axis in bar_axes:
            bar = axis._colorbar
            if not (bar.ax.get_ylabel() or bar.ax.get_xlabel()):
                problems.append(f"axis {k}: colour bar without a label")
            continue
        images = [*axis.get_images(), *[c for c in axis.collections
                                        if isinstance(c, mpl.collections.QuadMesh)]]
        for image in images:
            if id(image.norm) not in norms:
                problems.append(f"axis {k} ({axis.get_title()!r}): image without a colour bar")
        has_data = bool(images or axis.lines or axis.collections or axis.patches)
        if has_data and axis.axison:  # an axis with tick values says what they measure
            if len(axis.get_xticks()) and not _label_of(axis, "x", figure.axes):
                problems.append(f"axis {k} ({axis.get_title()!r}): no x label")
            if len(axis.get_yticks()) and not _label_of(axis, "y", figure.axes):
                problems.append(f"axis {k} ({axis.get_title()!r}): no y label")
        if density and images:
            where = " ".join([axis.get_title(), axis.get_ylabel(), suptitle])
            if not re.search(r"\$[^$]*\bt(_\{?\w+\}?)?\s*=", where):
                problems.append(f"axis {k} ({axis.get_title()!r}): density image without its time t")
        title = axis.get_title()
        if title:
            texts.append((f"axis {k} title", title))
            if axis.title.get_fontsize() < min_size:
                problems.append(f"axis {k}: title of {axis.title.get_fontsize():g} pt < {min_size:g}")
        texts += [(f"axis {k} x label", axis.get_xlabel()), (f"axis {k} y label", axis.get_ylabel())]
        legend = axis.get_legend()
        legends = [legend] if legend is not None else []
        for leg in legends:
            small = [t.get_fontsize() for t in leg.get_texts() if t.get_fontsize() < min_size]
            if small:
                problems.append(f"axis {k}: legend text of {min(small):g} pt < {min_size:g}")
    for leg in figure.legends:
        small = [t.get_fontsize() for t in leg.get_texts() if t.get_fontsize() < min_size]
        if small:
            problems.append(f"figure legend: text of {min(small):g} pt < {min_size:g}")
    for where, text in texts:
        if not text:
            continue
        if text in forbidden:
            problems.append(f"{where} is the code name {text!r}")
        identifier = _IDENTIFIER.search(_plain(text))
        if identifier:
            problems.append(f"{where} {text!r} contains the code identifier {identifier.group()!r}")
    return problems


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
