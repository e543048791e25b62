"""The study commands of ``pdediff``: ``list``, ``run``, ``report``, ``reproduce``.

:func:`register` adds them to the top-level parser of :mod:`pdediff.cli`, which owns
the rest of the command line.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def command_list(args: argparse.Namespace) -> int:
    from . import STUDIES

    width = max(len(name) for name in STUDIES)
    for name, study in STUDIES.items():
        print(f"{name:<{width}}  {study.description}")
    return 0


def command_run(args: argparse.Namespace) -> int:
    from . import run_study

    summary = run_study(args.name, quick=args.quick, out=Path(args.out), progress=not args.quiet)
    print(summary.get("table", ""))
    return 0


def command_report(args: argparse.Namespace) -> int:
    from ..report import write_report

    path = write_report(Path(args.out))
    print(f"wrote {path}")
    return 0


def command_reproduce(args: argparse.Namespace) -> int:
    from ..report import write_report
    from . import STUDIES, run_study

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


def register(commands) -> None:
    """Add the study sub-commands to ``commands`` (an argparse sub-parser action)."""
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
