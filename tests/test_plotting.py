import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

import pdediff
from pdediff.results import Solution

ROOT = Path(__file__).resolve().parents[1]


def test_import_does_not_change_the_backend():
    script = ("import matplotlib; import pdediff.plotting, pdediff.studies, pdediff.cli; "
              "print(matplotlib.rcParams._get_backend_or_none())")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND",)}
    env.update(PYTHONPATH=str(ROOT), NUMBA_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"


plotting = pytest.importorskip("pdediff.plotting")


def fields(grid, n=3):
    rng = np.random.default_rng(0)
    return [grid.normalize(rng.random(grid.shape) * (k + 1)) for k in range(n)]


def images(figure):
    return [image for axis in figure.axes for image in axis.get_images()]


def test_2d_panels_share_one_colour_scale_and_show_the_reference():
    grid = pdediff.Grid([(-1, 1), (0, 2)], (8, 6))
    data = fields(grid)
    reference = grid.normalize(np.ones(grid.shape))
    figure = plotting.density_panels(data, ["$t = 0$", "$t = 1$", "$t = 2$"], grid,
                                     reference=reference, reference_title="exact",
                                     suptitle="A title")
    shown = images(figure)
    assert len(shown) == 4  # three fields and the reference
    limits = {image.get_clim() for image in shown}
    assert limits == {(0.0, max(float(f.max()) for f in [*data, reference]))}
    titles = [axis.get_title() for axis in figure.axes if axis.get_images()]
    assert titles == ["$t = 0$", "$t = 1$", "$t = 2$", "exact"]
    colourbars = [axis for axis in figure.axes if not axis.get_images() and axis.get_ylabel()]
    assert len(colourbars) == 1 and colourbars[0].get_ylabel() == "$p$"
    axis = next(a for a in figure.axes if a.get_images())
    assert axis.get_xlabel() == "$x$" and axis.get_ylabel() == "$y$"
    assert figure.get_suptitle() == "A title"
    matplotlib.pyplot.close(figure)


def test_3d_shows_labelled_mid_plane_slices_on_all_three_axes():
    grid = pdediff.Grid([(-1, 1), (-2, 2), (-3, 3)], (4, 6, 8))
    data = fields(grid, 2)
    figure = plotting.density_panels(data, ["$t = 0$", "$t = 1$"], grid)
    axes = [axis for axis in figure.axes if axis.get_images()]
    assert len(axes) == 6
    labels = [(a.get_xlabel(), a.get_ylabel()) for a in axes[:3]]
    assert labels == [("$y$", "$z$"), ("$x$", "$z$"), ("$x$", "$y$")]
    for axis, cut in zip(axes[:3], ("x", "y", "z")):
        assert f"${cut} = " in axis.get_title()
    # The slice normal to x is the middle plane of the field, same colour scale.
    np.testing.assert_array_equal(axes[0].get_images()[0].get_array(), data[0][2].T)
    assert len({image.get_clim() for image in images(figure)}) == 1
    matplotlib.pyplot.close(figure)


def test_1d_lines_legend_at_least_8_pt_and_reference_dashed():
    grid = pdediff.Grid([(0, 1)], 16)
    figure = plotting.density_panels(fields(grid, 2), ["a", "b"], grid,
                                     reference=np.ones(16), reference_title="true")
    axis = figure.axes[0]
    legend = axis.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["a", "b", "true"]
    assert min(t.get_fontsize() for t in legend.get_texts()) >= 8
    assert axis.get_lines()[-1].get_linestyle() == "--"
    matplotlib.pyplot.close(figure)


def test_bad_arguments_are_named():
    grid = pdediff.Grid([(0, 1), (0, 1)], 4)
    with pytest.raises(ValueError, match="titles"):
        plotting.density_panels(fields(grid, 2), ["one"], grid)
    with pytest.raises(ValueError, match="fields"):
        plotting.density_panels([np.ones(5)], ["one"], grid)
    with pytest.raises(ValueError, match="reference"):
        plotting.density_panels(fields(grid, 1), ["one"], grid, reference=np.ones(3))


def test_style_restores_the_callers_settings():
    matplotlib.rcParams["legend.fontsize"] = 5
    try:
        with plotting.style():
            assert matplotlib.rcParams["legend.fontsize"] >= 8
        assert matplotlib.rcParams["legend.fontsize"] == 5
    finally:
        matplotlib.rcdefaults()


def test_titles_are_human():
    title = plotting.process_title(pdediff.OU(rate=2.0))
    assert title == r"Ornstein–Uhlenbeck ($\mathrm{rate} = 2$, $g = 1$)"
    assert plotting.process_title(pdediff.VP()).startswith("variance-preserving")
    assert plotting.axis_label(1, 3) == "$y$"
    assert plotting.shared_limits([np.ones(2), 3 * np.ones(2)]) == (0.0, 3.0)
    assert plotting.shared_limits([np.ones(2)], log=True) == (1e-6, 1.0)


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_plot_snapshots_writes_png_atomically(tmp_path, ndim):
    grid = pdediff.Grid([(-1, 1)] * ndim, 6)
    data = fields(grid, 5)
    solution = Solution(t=np.linspace(0, 1, 5), p=np.stack(data), grid=grid, process=pdediff.OU(),
                        metadata={"direction": "forward"})
    old = os.umask(0o022)
    try:
        paths = plotting.plot_snapshots(solution, tmp_path / "s.png", reference=data[-1])
    finally:
        os.umask(old)
    assert paths == [tmp_path / "s.png"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[0].stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.png"]


def test_failed_save_leaves_nothing(tmp_path):
    figure = matplotlib.pyplot.figure()
    with pytest.raises(ValueError):
        plotting.save_figure(figure, tmp_path / "f", formats=("nosuchformat",))
    assert list(tmp_path.iterdir()) == []


def test_figure_problems_finds_each_broken_rule():
    plt = plotting.plt
    figure, (bare, lines) = plt.subplots(1, 2)
    bare.imshow(np.ones((3, 3)))  # no colour bar, no labels, no time
    bare.set_title("rate_codim_ge1")
    lines.plot([0, 1], [0, 1], label="a")
    lines.legend(fontsize=5)
    lines.set_xlabel("time $t$")
    problems = plotting.figure_problems(figure, forbidden=["rate_codim_ge1"])
    plt.close(figure)
    text = "\n".join(problems)
    for expected in ("image without a colour bar", "legend text of 5 pt", "no y label",
                     "code name 'rate_codim_ge1'", "code identifier 'rate_codim_ge1'",
                     "density image without its time t"):
        assert expected in text, (expected, problems)


def test_figure_problems_accepts_a_row_on_one_scale_and_mathtext_subscripts():
    plt = plotting.plt
    with plotting.style():
        figure, axes = plt.subplots(1, 3)
        bar = plotting.image_row(figure, axes, [np.ones((4, 3)), 2 * np.ones((4, 3)),
                                                np.zeros((4, 3))],
                                 ["$t = 0$", "$t_0 = 0.1$", r"$\sigma_{t} = 1$, $t = 1$"],
                                 (0, 1, 0, 2), label="density")
    assert bar.mappable.norm.vmin == 0.0 and bar.mappable.norm.vmax == 2.0
    assert {im.norm for ax in axes for im in ax.get_images()} == {bar.mappable.norm}
    assert axes[0].get_images()[0].get_extent() == [0, 1, 0, 2]
    assert plotting.figure_problems(figure) == []
    plt.close(figure)
    with pytest.raises(ValueError, match="images"):
        plotting.image_row(figure, axes[:1], [np.ones(3)], ["$t = 0$"], (0, 1, 0, 1))
    with pytest.raises(ValueError, match="axes, images, titles"):
        plotting.image_row(figure, axes, [np.ones((2, 2))], ["$t = 0$"], (0, 1, 0, 1))


def test_density_panels_pass_the_figure_rules():
    grid = pdediff.Grid([(-1, 1), (0, 2)], (8, 6))
    figure = plotting.density_panels(fields(grid, 2), ["$t = 0$", "$t = 1$"], grid)
    assert plotting.figure_problems(figure) == []
    matplotlib.pyplot.close(figure)


def test_human_names():
    assert plotting.human("gaussian_mixture") == "Gaussian mixture"
    assert plotting.human("2d_box") == "2-D uniform box"
    assert plotting.human("1d/points/eps1") == r"1-D, points, $\varepsilon = 1$"
    assert plotting.human("some_new_name") == "some new name"
