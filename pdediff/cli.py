"""The ``pdediff`` command.

    pdediff --version
    pdediff solve [--data gaussian|box|mixture] [--process ou] [--ndim 2] [--cells 128] ...
    pdediff list
    pdediff run NAME [--quick] [--out DIR]
    pdediff report [--out DIR]
    pdediff reproduce [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._version import __version__
from .grid import Grid
from .processes import PROCESSES, make_process

DATA_CHOICES = ("gaussian", "box", "mixture")


def _initial_law(name: str, ndim: int):
    from .distributions import Box, GaussianMixture

    if name == "gaussian":
        return GaussianMixture(np.full((1, ndim), 0.5), [0.25])
    if name == "box":
        return Box(np.full(ndim, -1.0), np.full(ndim, 1.0))
    means = np.zeros((3, ndim))
    means[:, 0] = [-1.5, 0.0, 1.5]
    return GaussianMixture(means, [0.1, 0.2, 0.1], [0.3, 0.4, 0.3])


def command_solve(args: argparse.Namespace) -> int:
    """Evolve closed-form initial data forward, compare with the closed form, write
    the HDF5 solution and a PNG of snapshots."""
    from .fokker_planck import solve_forward
    from .plotting import plot_snapshots

    process = make_process(args.process)
    t_final = args.t_final if args.t_final is not None else process.T
    grid = Grid([(-args.half_width, args.half_width)] * args.ndim, args.cells, bc=args.bc)
    law = _initial_law(args.data, args.ndim)
    p0 = law.cell_average(grid)
    p0 = grid.normalize(p0)
    t_eval = np.linspace(0.0, t_final, args.snapshots)
    start = time.perf_counter()
    solution = solve_forward(p0, grid, process, t_eval, method=args.method, rtol=args.rtol,
                             progress=not args.quiet)
    elapsed = time.perf_counter() - start
    exact = law.cell_average(grid, t_final, process)
    error = grid.integrate(np.abs(solution.p[-1] - exact / grid.integrate(exact)))
    out = Path(args.out)
    path = solution.save(out)
    figures = plot_snapshots(solution, out.with_suffix(".png"))
    meta = solution.metadata
    print(
        f"{args.data} under {process!r} on {grid!r}\n"
        f"  steps {meta['n_steps']} (explicit {meta['n_explicit']}, implicit "
        f"{meta['n_implicit']}, rejected {meta['n_rejected']}) in {elapsed:.2f} s\n"
        f"  L1 error against the closed form at t={t_final:g}: {error:.3e}\n"
        f"  max relative mass error {meta['max_mass_error']:.2e}, min density "
        f"{meta['min_density']:.3e}\n"
        f"  wrote {path} and {figures[0]}"
    )
    return 0


def command_list(args: argparse.Namespace) -> int:
    from .studies import STUDIES

    width = max(len(name) for name in STUDIES)
    for name, study in STUDIES.items():
        print(f"{name:<{width}}  {study.description}")
    return 0


def command_run(args: argparse.Namespace) -> int:
    from .studies import run_study

    summary = run_study(args.name, quick=args.quick, out=Path(args.out), progress=not args.quiet)
    print(summary.get("table", ""))
    return 0


def command_report(args: argparse.Namespace) -> int:
    from .report import write_report

    path = write_report(Path(args.out))
    print(f"wrote {path}")
    return 0


def command_reproduce(args: argparse.Namespace) -> int:
    from .report import write_report
    from .studies import STUDIES, run_study

    out = Path(args.out)
    start = time.perf_counter()
    timings = {}
    for name in STUDIES:
        begin = time.perf_counter()
        print(f"== {name}", flush=True)
        summary = run_study(name, quick=args.quick, out=out, progress=not args.quiet)
        timings[name] = time.perf_counter() - begin
        print(summary.get("table", ""), flush=True)
        print(f"   ({timings[name]:.1f} s)", flush=True)
    path = write_report(out)
    total = time.perf_counter() - start
    print(f"wrote {path}; all studies in {total:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdediff",
        description="Finite-volume and particle checks of the PDE theory of score-based "
        "diffusion models.",
    )
    parser.add_argument("--version", action="version", version=f"pdediff {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    solve = commands.add_parser("solve", help="evolve closed-form data by a forward process")
    solve.add_argument("--data", choices=DATA_CHOICES, default="mixture")
    solve.add_argument("--process", choices=sorted(PROCESSES), default="ou")
    solve.add_argument("--ndim", type=int, choices=(1, 2, 3), default=2)
    solve.add_argument("--cells", type=int, default=128, help="cells per axis")
    solve.add_argument("--half-width", type=float, default=5.0, help="domain [-w, w]^ndim")
    solve.add_argument("--bc", choices=("noflux", "periodic"), default="noflux")
    solve.add_argument("--t-final", type=float, default=None, help="default: the process T")
    solve.add_argument("--snapshots", type=int, default=5)
    solve.add_argument("--method", default="auto")
    solve.add_argument("--rtol", type=float, default=1e-4)
    solve.add_argument("--out", default="data/solve.h5")
    solve.add_argument("--quiet", action="store_true", help="no progress bar")
    solve.set_defaults(handler=command_solve)

    listing = commands.add_parser("list", help="list the studies")
    listing.set_defaults(handler=command_list)

    run = commands.add_parser("run", help="run one study")
    run.add_argument("name")
    run.add_argument("--quick", action="store_true")
    run.add_argument("--out", default="data")
    run.add_argument("--quiet", action="store_true")
    run.set_defaults(handler=command_run)

    report = commands.add_parser("report", help="write data/report.md from the studies' files")
    report.add_argument("--out", default="data")
    report.set_defaults(handler=command_report)

    reproduce = commands.add_parser("reproduce", help="run every study, then the report")
    reproduce.add_argument("--quick", action="store_true")
    reproduce.add_argument("--out", default="data")
    reproduce.add_argument("--quiet", action="store_true")
    reproduce.set_defaults(handler=command_reproduce)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (ValueError, TypeError) as error:
        print(f"pdediff: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
