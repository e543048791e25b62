"""The study commands of ``pdediff``: ``list``, ``run``, ``plot``, ``report``, ``reproduce``.

:func:`register` adds them to the top-level parser of :mod:`pdediff.cli`, which owns
the rest of the command line.

    pdediff list
    pdediff run NAME [--quick] [--set KEY=VALUE ...] [--config FILE.toml] [--jobs N | --scheduler ADDR]
    pdediff plot [NAME ...]
    pdediff report
    pdediff reproduce [--quick] [--jobs N | --scheduler ADDRESS]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from . import STUDIES


def command_list(args: argparse.Namespace) -> int:
    width = max(len(name) for name in STUDIES)
    for name, study in STUDIES.items():
        print(f"{name:<{width}}  {study.description}")
    return 0


@contextlib.contextmanager
def _executor(args: argparse.Namespace):
    """The executor chosen by ``--jobs`` / ``--scheduler`` (None: serial)."""
    from . import harness

    jobs, scheduler = getattr(args, "jobs", 1), getattr(args, "scheduler", None)
    if scheduler and jobs != 1:
        raise ValueError("--scheduler: give either --jobs or --scheduler, not both")
    if scheduler:
        client = harness.dask_executor(scheduler)
        try:
            yield client
        finally:
            client.close()
    elif jobs != 1:
        pool = harness.process_executor(jobs)
        try:
            yield pool
        finally:
            pool.shutdown()
    else:
        yield None


def _table(summary) -> str:
    return summary.table if hasattr(summary, "table") and not isinstance(summary, dict) \
        else summary.get("table", "")


def command_run(args: argparse.Namespace) -> int:
    from . import harness, run_study

    overrides = harness.overrides_from(args)
    with _executor(args) as executor:
        summary = run_study(args.name, quick=args.quick, out=Path(args.out),
                            progress=not args.quiet, overrides=overrides, executor=executor)
    print(_table(summary))
    return 0


def command_plot(args: argparse.Namespace) -> int:
    from . import harness

    names = args.names or [n for n in STUDIES if (Path(args.out) / f"{n}.h5").exists()]
    start = time.perf_counter()
    for name in names:
        if name not in STUDIES:
            raise ValueError(f"name: expected one of {sorted(STUDIES)}, got {name!r}")
        module = harness.load_study(name)
        if not harness.is_harness_study(module):
            print(f"{name}: not on the harness yet; rerun `pdediff run {name}` to redraw")
            continue
        begin = time.perf_counter()
        paths = harness.plot(name, Path(args.out))
        print(f"{name}: {len(paths)} figures in {time.perf_counter() - begin:.1f} s")
    print(f"plotted {len(names)} studies in {time.perf_counter() - start:.1f} s")
    return 0


def command_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    path = write_report(Path(args.out))
    print(f"wrote {path}")
    return 0


def command_reproduce(args: argparse.Namespace) -> int:
    from ..report import write_report
    from . import run_study

    out = Path(args.out)
    start = time.perf_counter()
    timings = {}
    with _executor(args) as executor:
        for name in STUDIES:
            begin = time.perf_counter()
            print(f"== {name}", flush=True)
            summary = run_study(name, quick=args.quick, out=out, progress=not args.quiet,
                                executor=executor)
            timings[name] = time.perf_counter() - begin
            print(_table(summary), flush=True)
            print(f"   ({name}: {timings[name]:.1f} s)", flush=True)
    path = write_report(out, timings=timings)
    total = time.perf_counter() - start
    print("time per study: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    print(f"wrote {path}; all studies in {total:.1f} s")
    return 0


def _add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=1, metavar="N",
                        help="run the cases in a pool of N worker processes, each with "
                        "cores/N numba threads (default: 1, serial in this process)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the cases on a dask.distributed scheduler at ADDRESS, "
                        "e.g. tcp://host:8786 (needs pdediff[dask]; default: none)")


def register(commands) -> None:
    """Add the study sub-commands to ``commands`` (an argparse sub-parser action)."""
    from .harness import add_run_arguments

    names = ", ".join(STUDIES)
    listing = commands.add_parser("list", help="list the studies with their descriptions")
    listing.set_defaults(handler=command_list)

    run = commands.add_parser("run", help=f"run one study ({names})",
                              description=f"Run one study. Studies: {names}.")
    run.add_argument("name", choices=list(STUDIES), metavar="NAME",
                     help=f"the study: one of {names}")
    add_run_arguments(run)
    _add_executor_arguments(run)
    run.set_defaults(handler=command_run)

    plot = commands.add_parser("plot", help="redraw figures from data/NAME.h5, no recomputation")
    plot.add_argument("names", nargs="*", metavar="NAME",
                      help=f"studies to redraw (default: every study with a file): {names}")
    plot.add_argument("--out", default="data", help="folder of the study files (default: data)")
    plot.set_defaults(handler=command_plot)

    report = commands.add_parser("report", help="write OUT/report.md from the studies' files")
    report.add_argument("--out", default="data", help="folder of the study files (default: data)")
    report.set_defaults(handler=command_report)

    reproduce = commands.add_parser("reproduce", help="run every study, then the report")
    reproduce.add_argument("--quick", action="store_true",
                           help="every study with Settings.quick() (default: full)")
    reproduce.add_argument("--out", default="data", help="output folder (default: data)")
    reproduce.add_argument("--quiet", action="store_true",
                           help="no per-case progress lines (default: print them)")
    _add_executor_arguments(reproduce)
    reproduce.set_defaults(handler=command_reproduce)
