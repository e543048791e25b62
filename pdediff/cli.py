"""The ``pdediff`` command.

    pdediff --version
    pdediff solve [--data gaussian|box|mixture] [--process ou] [--rate 1] [--ndim 2] ...
    pdediff info FILE
    pdediff list | run | report | reproduce   (the study commands: pdediff.studies.commands)

Every option's help shows its default (``pdediff solve --help``).  Errors are one line
``pdediff: error: --OPTION: what was expected`` on stderr with exit status 2.
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__
from .processes import PROCESSES
from .studies import commands as study_commands

DATA_CHOICES = ("gaussian", "box", "mixture")
DATA_HELP = {
    "gaussian": "one Gaussian N(0.5, 0.25^2 I)",
    "box": "the uniform law on [-1, 1]^ndim",
    "mixture": "three Gaussians along the first axis",
}


class CommandError(Exception):
    """A bad command-line value; the message starts with the option's name."""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show ``(default: ...)`` unless the help already states the default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False:
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """One-line errors (``pdediff solve: error: argument --cells: ...``), exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----------------------------------------------------------------- process options
def _process_parameters() -> dict[str, tuple[str, tuple[str, ...], float]]:
    """``{parameter: (option, processes taking it, default)}`` read from the process
    classes' signatures, so a new parameter appears on the command line by itself."""
    table: dict[str, tuple[str, list[str], float]] = {}
    for name, cls in sorted(PROCESSES.items()):
        for parameter in inspect.signature(cls.__init__).parameters.values():
            if parameter.name in ("self", "T"):
                continue
            option = "--" + parameter.name.replace("_", "-")
            entry = table.setdefault(parameter.name, (option, [], parameter.default))
            entry[1].append(name)
    return {k: (o, tuple(p), d) for k, (o, p, d) in table.items()}


PROCESS_PARAMETERS = _process_parameters()


def _make_process(args: argparse.Namespace):
    given = {name: getattr(args, name) for name in PROCESS_PARAMETERS
             if getattr(args, name) is not None}
    for name in given:
        option, owners, _ = PROCESS_PARAMETERS[name]
        if args.process not in owners:
            raise CommandError(
                f"{option}: does not apply to --process {args.process} (it is a parameter of "
                f"{', '.join(owners)})"
            )
    try:
        return PROCESSES[args.process](**given)
    except (TypeError, ValueError) as error:
        name = str(error).split(":", 1)[0]
        option = PROCESS_PARAMETERS.get(name, (None,))[0]
        raise CommandError(f"{option}: {str(error).split(':', 1)[1].strip()}" if option
                           else str(error)) from error


# ------------------------------------------------------------------------- checks
def _check_out(out: Path, option: str = "--out") -> None:
    """Refuse an --out that cannot be written before any work is done."""
    if out.is_dir():
        raise CommandError(f"{option}: {out} is a directory; give a file name such as {out / 'solve.h5'}")
    folder = out.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".{out.name}.{os.getpid()}.probe"
        probe.open("xb").close()
        probe.unlink()
    except OSError as error:
        raise CommandError(f"{option}: cannot write {out}: {error.strerror or error}") from error


def _check_solve_options(args: argparse.Namespace, process) -> float:
    if args.cells < 3:
        raise CommandError(f"--cells: need at least 3 cells per axis, got {args.cells}")
    if not (args.half_width > 0 and np.isfinite(args.half_width)):
        raise CommandError(f"--half-width: expected a positive number, got {args.half_width}")
    if args.snapshots < 2:
        raise CommandError(f"--snapshots: expected at least 2 (t = 0 and --t-final), got {args.snapshots}")
    if not (args.rtol > 0 and np.isfinite(args.rtol)):
        raise CommandError(f"--rtol: expected a positive number, got {args.rtol}")
    t_final = process.T if args.t_final is None else args.t_final
    if not np.isfinite(t_final) or t_final <= 0:
        raise CommandError(
            f"--t-final: expected a time > 0 (the solve runs from t = 0 to --t-final), got {t_final:g}"
        )
    if t_final > process.T:
        raise CommandError(
            f"--t-final: {t_final:g} is past the horizon T = {process.T:g} of --process {args.process}"
        )
    return float(t_final)


def _use_agg_without_display() -> None:
    """Choose the non-interactive Agg backend when figures go to files and there is no
    display; an explicit MPLBACKEND (or a display) is left to matplotlib."""
    if os.environ.get("MPLBACKEND") or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    import matplotlib

    matplotlib.use("Agg")


def _initial_law(name: str, ndim: int):
    from .distributions import Box, GaussianMixture

    if name == "gaussian":
        return GaussianMixture(np.full((1, ndim), 0.5), [0.25])
    if name == "box":
        return Box(np.full(ndim, -1.0), np.full(ndim, 1.0))
    means = np.zeros((3, ndim))
    means[:, 0] = [-1.5, 0.0, 1.5]
    return GaussianMixture(means, [0.1, 0.2, 0.1], [0.3, 0.4, 0.3])


# ------------------------------------------------------------------------ commands
def command_solve(args: argparse.Namespace) -> int:
    """Evolve closed-form initial data forward, compare with the closed form, write
    the HDF5 solution and a PNG of snapshots."""
    from .fokker_planck import solve_forward
    from .grid import Grid

    process = _make_process(args)
    t_final = _check_solve_options(args, process)
    out = Path(args.out)
    _check_out(out)
    try:
        grid = Grid([(-args.half_width, args.half_width)] * args.ndim, args.cells, bc=args.bc)
        law = _initial_law(args.data, args.ndim)
        p0 = grid.normalize(law.cell_average(grid))
        t_eval = np.linspace(0.0, t_final, args.snapshots)
        start = time.perf_counter()
        solution = solve_forward(p0, grid, process, t_eval, method=args.method, rtol=args.rtol,
                                 progress=not args.quiet)
        elapsed = time.perf_counter() - start
    except MemoryError as error:
        raise CommandError(f"--cells: {args.cells}^{args.ndim} cells do not fit: {error}") from error
    exact = law.cell_average(grid, t_final, process)
    exact = exact / grid.integrate(exact)
    error = grid.integrate(np.abs(solution.p[-1] - exact))
    path = solution.save(out)
    _use_agg_without_display()
    from .plotting import plot_snapshots

    figures = plot_snapshots(solution, out.with_suffix(".png"), reference=exact,
                             reference_title=f"closed form, $t = {t_final:.3g}$")
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


def command_info(args: argparse.Namespace) -> int:
    """Print what a pdediff file holds."""
    from .io import FileFormatError, describe, open_h5
    from .results import load

    path = Path(args.file)
    with open_h5(path) as file:
        attrs = dict(file.attrs)
    kind = attrs.get("kind", attrs.get("study"))
    if isinstance(kind, bytes):
        kind = kind.decode()
    if kind is None and "pdediff_version" not in attrs:
        raise FileFormatError(f"{path}: not a pdediff file (no root attribute 'kind' or 'study')")
    if kind in ("Solution", "ParticleSolution"):
        print(repr(load(path)))
    elif "study" in attrs:
        print(f"study file: {kind}")
    else:
        print(f"pdediff {kind}")
    print(describe(path))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pdediff",
        description="Finite-volume and particle checks of the PDE theory of score-based "
        "diffusion models.",
    )
    parser.add_argument("--version", action="version", version=f"pdediff {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    solve = commands.add_parser(
        "solve", help="evolve closed-form data by a forward process",
        description="Evolve closed-form initial data by a forward noising process on a "
        "grid, compare with the closed-form density at --t-final, write the solution "
        "(HDF5) and a figure (PNG next to it).",
    )
    solve.add_argument("--data", choices=DATA_CHOICES, default="mixture",
                       help="initial law: " + "; ".join(f"{k}: {v}" for k, v in DATA_HELP.items()))
    solve.add_argument("--process", choices=sorted(PROCESSES), default="ou",
                       help="forward process (heat flow, Ornstein-Uhlenbeck, VP, sub-VP, VE)")
    group = solve.add_argument_group(
        "process parameters", "each applies only to the processes named; unset means the "
        "process's own default")
    for name, (option, owners, default) in PROCESS_PARAMETERS.items():
        group.add_argument(option, dest=name, type=float, default=None, metavar="X",
                           help=f"{name} of {', '.join(owners)} (default: {default:g})")
    solve.add_argument("--ndim", type=int, choices=(1, 2, 3), default=2, help="space dimension")
    solve.add_argument("--cells", type=int, default=128, help="cells per axis (>= 3)")
    solve.add_argument("--half-width", type=float, default=5.0,
                       help="the domain is [-w, w]^ndim")
    solve.add_argument("--bc", choices=("noflux", "periodic"), default="noflux",
                       help="boundary condition on every axis")
    solve.add_argument("--t-final", type=float, default=None,
                       help="final forward time, > 0 (default: the process horizon T)")
    solve.add_argument("--snapshots", type=int, default=5,
                       help="number of stored times, evenly spaced from 0 to --t-final")
    solve.add_argument("--method", default="auto",
                       help="time stepping (see pdediff.fokker_planck.solve_forward)")
    solve.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance of the stepper")
    solve.add_argument("--out", default="data/solve.h5",
                       help="HDF5 file to write; the figure goes next to it as .png")
    solve.add_argument("--quiet", action="store_true", help="no progress bar")
    solve.set_defaults(handler=command_solve)

    info = commands.add_parser("info", help="print what a pdediff file holds",
                               description="Print the kind, shapes, dimensions, units and "
                               "attributes of a file written by pdediff.")
    info.add_argument("file", help="an HDF5 file written by pdediff")
    info.set_defaults(handler=command_info)

    study_commands.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    if args.command not in ("info", "list", "solve"):
        _use_agg_without_display()  # the study commands write figures to files
        # POT would import torch and JAX (seconds) for backends these commands never use
        from .studies._executors import quiet_pot_backends

        quiet_pot_backends()
    try:
        return args.handler(args)
    except CommandError as error:
        print(f"pdediff {args.command}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # `pdediff info FILE | head`: the reader left; not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (ValueError, TypeError, MemoryError, OSError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        print(f"pdediff {args.command}: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
