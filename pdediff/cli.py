"""The ``pdediff`` command.

    pdediff --version
    pdediff solve [--data gaussian|box|mixture] [--process ou] [--ndim 2] [--cells 128] ...
    pdediff list | run | report | reproduce   (the study commands: pdediff.studies.commands)
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
from .studies import commands as study_commands

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

    study_commands.register(commands)
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
