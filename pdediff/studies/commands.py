"""The study commands of ``pdediff``: ``list``, ``run``, ``plot``, ``report``, ``reproduce``.

:func:`register` adds them to the top-level parser of :mod:`pdediff.cli`, which owns
the rest of the command line.

    pdediff list
    pdediff run NAME [--quick] [--set KEY=VALUE ...] [--config FILE.toml] [--jobs N | --scheduler ADDR]
    pdediff plot [NAME ...]
    pdediff report
    pdediff reproduce [--quick] [--jobs N|auto | --scheduler ADDRESS]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path
from typing import Any

from . import STUDIES


def command_list(args: argparse.Namespace) -> int:
    width = max(len(name) for name in STUDIES)
    for name, study in STUDIES.items():
        print(f"{name:<{width}}  {study.description}")
    return 0


@contextlib.contextmanager
def _executor(args: argparse.Namespace):
    """The executor chosen by ``--jobs`` / ``--scheduler`` (None: serial in this process).

    ``--jobs`` defaults to ``auto`` (the usable cores); ``--jobs 1`` is serial here."""
    from . import harness
    from ._executors import resolve_jobs

    jobs, scheduler = getattr(args, "jobs", 1), getattr(args, "scheduler", None)
    if scheduler and jobs is not None and str(jobs).strip().lower() not in ("1", "auto"):
        raise ValueError("--scheduler: give either --jobs or --scheduler, not both")
    if scheduler:
        client = harness.dask_executor(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    jobs = resolve_jobs(jobs, "--jobs")
    if jobs == 1:
        yield None
        return
    pool = harness.process_executor(jobs)
    try:
        yield pool
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    else:
        pool.shutdown()


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


#: The studies from the longest to the shortest (measured, quick mode).  Only the order
#: of work depends on it; every result is the same.
LONGEST_FIRST = ("ode_sde_gap", "li_yau", "pde_vs_particles", "concentration", "entropy",
                 "lp_stability", "stopping_time")


class _Slot:
    """A future-to-be: :class:`_Recorder` hands it out, :func:`_overlapped` fills it."""

    future = None

    def result(self):
        return self.future.result()


class _Recorder:
    """An executor that only records the calls submitted to it (in order)."""

    def __init__(self) -> None:
        self.calls: list[tuple[_Slot, Any, tuple]] = []

    def submit(self, fn, *args) -> _Slot:
        slot = _Slot()
        self.calls.append((slot, fn, args))
        return slot


def _interleaved(recorders: list[_Recorder]) -> list[tuple[_Slot, Any, tuple]]:
    """The order of the recorded calls (``recorders`` from the longest study to the
    shortest): the first case of every study, longest first, so that the workers start
    on different studies and a cold numba cache is filled by one worker per kernel, not
    compiled by both at once; then the remaining cases study by study, shortest first,
    so that short studies are written early and the longest study's cases fill every
    worker at the end."""
    firsts = [r.calls[0] for r in recorders if r.calls]
    rest = [call for r in reversed(recorders) for call in r.calls[1:]]
    return firsts + rest


def _overlapped(names, args, executor, out: Path) -> dict[str, Any]:
    """Every study's cases submitted to the one ``executor`` at once (in the order of
    :func:`_interleaved`); a thread per study waits for its cases, and this
    thread writes each study (checks, file, figures: matplotlib is not thread-safe) as
    soon as its cases are in."""
    import queue
    import threading

    from . import harness

    order = [n for n in LONGEST_FIRST if n in names] + \
        [n for n in names if n not in LONGEST_FIRST]
    recorders = {name: _Recorder() for name in order}
    pending = {name: harness.submit(name, quick=args.quick, executor=recorders[name])
               for name in order}
    for slot, fn, call_args in _interleaved([recorders[name] for name in order]):
        slot.future = executor.submit(fn, *call_args)
    done: queue.Queue = queue.Queue()

    def wait(name: str) -> None:
        try:
            harness.collect(pending[name], progress=not args.quiet)
            done.put((name, None))
        except BaseException as error:  # re-raised in the main thread
            done.put((name, error))

    for name in names:
        threading.Thread(target=wait, args=(name,), daemon=True).start()
    summaries = {}
    for _ in names:
        name, error = done.get()
        if error is not None:
            raise error
        summaries[name] = summary = harness.finish(pending[name], out)
        print(f"== {name}", flush=True)
        print(_table(summary), flush=True)
        print(f"   ({name}: {summary.elapsed:.1f} s from its first case's start to its file "
              f"write; {summary.case_seconds:.1f} s in its cases)", flush=True)
    return {name: summaries[name] for name in names}


def command_reproduce(args: argparse.Namespace) -> int:
    from ..report import write_report
    from . import run_study

    out = Path(args.out)
    start = time.perf_counter()
    load = [os.getloadavg()[0]]
    names = list(STUDIES)
    with _executor(args) as executor:
        if executor is None:
            summaries = {}
            for name in names:
                print(f"== {name}", flush=True)
                summaries[name] = summary = run_study(name, quick=args.quick, out=out,
                                                      progress=not args.quiet)
                print(_table(summary), flush=True)
                print(f"   ({name}: {summary.elapsed:.1f} s)", flush=True)
        else:
            summaries = _overlapped(names, args, executor, out)
    total = time.perf_counter() - start
    load.append(os.getloadavg()[0])
    overlapped = executor is not None
    timings = {name: s.elapsed for name, s in summaries.items()}
    case_seconds = {name: s.case_seconds for name, s in summaries.items()}
    path = write_report(out, timings=timings, total=total, overlapped=overlapped,
                        case_seconds=case_seconds, load=load)
    print("time per study (first case start to file write): "
          + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if overlapped:
        print("time in each study's cases (summed over the workers): "
              + ", ".join(f"{k} {v:.1f} s" for k, v in case_seconds.items()))
    note = " (studies overlapped: their spans add up to more than the total)" \
        if overlapped else ""
    print(f"wrote {path}; all studies in {total:.1f} s{note}; load average "
          f"{load[0]:.1f} at the start, {load[1]:.1f} at the end")
    return 0


def _jobs(value: str) -> str:
    from ._executors import resolve_jobs

    try:
        resolve_jobs(value, "--jobs")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=_jobs, default="auto", metavar="N",
                        help="run the cases in a pool of N worker processes, each with "
                        "cores/N numba and XLA threads; 1: serial in this process "
                        "(default: auto, the usable cores)")
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

    reproduce = commands.add_parser(
        "reproduce", help="run every study, then the report",
        description="Run every study, then write OUT/report.md.  With a pool (--jobs N > 1, "
        "the default on a multi-core machine) or --scheduler, the cases of all studies "
        "share the workers and the studies overlap; a study's time is then its wall span "
        "from its first case's start to its file write, and the spans add up to more "
        "than the total.  Results are bitwise the same as --jobs 1 (serial).")
    reproduce.add_argument("--quick", action="store_true",
                           help="every study with Settings.quick() (default: full)")
    reproduce.add_argument("--out", default="data", help="output folder (default: data)")
    reproduce.add_argument("--quiet", action="store_true",
                           help="no per-case progress lines (default: print them)")
    _add_executor_arguments(reproduce)
    reproduce.set_defaults(handler=command_reproduce)
