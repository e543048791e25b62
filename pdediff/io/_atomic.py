"""Atomic HDF5 writes that clean up after themselves, and checked opening for reading
(the rules are in :mod:`pdediff.io`)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py

TEMP_SUFFIX = ".pdediff-tmp"
#: ``.{target name (first 96 characters)}.{host}.{pid}.{random hex}.pdediff-tmp`` in
#: the target's folder.
TEMP_PATTERN = ".{name}.{host}.{pid}.{token}" + TEMP_SUFFIX
#: Age after which a temporary of earlier pdediff versions (``.NAME.XXXXXXXX.tmp``,
#: no pid) is stale.
LEGACY_STALE_SECONDS = 3600.0


class FileFormatError(ValueError):
    """A file is not a (readable, consistent) pdediff file; the message names it."""


# ---------------------------------------------------------------------------- writing
_lock = threading.Lock()
_active: set[str] = set()  # temporaries being written by this process
_previous: dict[int, Any] = {}  # signal number -> handler replaced by ours


def _host() -> str:
    return (re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host")[:32]


def _stem(name: str) -> str:
    # Keep the temporary's name under NAME_MAX (255 bytes) for long targets.
    return name[:96]


def _temp_regex(name: str) -> re.Pattern[str]:
    return re.compile(
        re.escape(f".{_stem(name)}.") + r"(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.[0-9a-f]+"
        + re.escape(TEMP_SUFFIX) + "$"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Temporaries of earlier writes to ``path`` whose writer (on this host) is gone:
    what a ``kill -9`` during :func:`atomic_h5` leaves behind.

    Also the ``.NAME.XXXXXXXX.tmp`` temporaries of earlier versions, which carry no pid:
    those count as stale once unmodified for :data:`LEGACY_STALE_SECONDS`.
    """
    path = Path(path)
    pattern = _temp_regex(path.name)
    legacy = re.compile(re.escape(f".{path.name}.") + r"[A-Za-z0-9_]{8}\.tmp$")
    host = _host()
    stale = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return []
    now = time.time()
    for entry in entries:
        if legacy.match(entry.name):
            with contextlib.suppress(OSError):
                if now - entry.stat().st_mtime > LEGACY_STALE_SECONDS:
                    stale.append(Path(entry.path))
            continue
        match = pattern.match(entry.name)
        if match is None or match["host"] != host:
            continue
        pid = int(match["pid"])
        if entry.path in _active:
            continue
        if pid == os.getpid() or not _pid_alive(pid):
            stale.append(Path(entry.path))
    return stale


def _remove_active() -> None:
    for name in list(_active):
        with contextlib.suppress(OSError):
            os.unlink(name)
        _active.discard(name)


def _on_signal(signum: int, frame: Any) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if callable(previous):
        # A Python handler (SIGINT's raises KeyboardInterrupt): if it raises, the
        # exception unwinds through atomic_path, which removes the temporary; if it
        # returns, the write goes on as the handler's owner chose.
        previous(signum, frame)
        return
    # The default action kills the process without unwinding: remove our
    # temporaries, put every previous handler back and die of the same signal.
    _remove_active()
    for other, handler in list(_previous.items()):
        signal.signal(other, handler)
    _previous.clear()
    os.kill(os.getpid(), signum)


def _install_handlers() -> None:
    if threading.current_thread() is not threading.main_thread() or _previous:
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        current = signal.getsignal(signum)
        if current in (signal.SIG_IGN, None):
            continue  # ignored (or set outside Python): leave it alone
        _previous[signum] = current
        signal.signal(signum, _on_signal)


def _restore_handlers() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    for signum, handler in list(_previous.items()):
        if signal.getsignal(signum) is _on_signal:
            signal.signal(signum, handler)
        _previous.pop(signum)


def _create_temporary(path: Path) -> str:
    while True:
        name = TEMP_PATTERN.format(
            name=_stem(path.name), host=_host(), pid=os.getpid(), token=secrets.token_hex(4)
        )
        tmp = os.path.join(path.parent, name)
        try:
            # 0o666 & ~umask, like any file the user creates (mkstemp would force 0600).
            handle = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            continue
        os.close(handle)
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield the name of a new temporary file (mode ``0o666 & ~umask``) in the folder
    of ``path``; when the ``with`` block completes without error it is synced and
    renamed over ``path``, otherwise (exception, SIGTERM, SIGINT) it is removed.

    The previous file at ``path`` (if any) is untouched until the final rename.
    Stale temporaries of earlier, killed writes to ``path`` are removed first.
    Raises ``ValueError`` naming ``path`` if it is a directory and ``OSError`` if the
    folder cannot be created or written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path: {path} is a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in stale_temporaries(path):
        with contextlib.suppress(OSError):
            stale.unlink()
    with _lock:
        tmp = _create_temporary(path)
        _active.add(tmp)
        _install_handlers()
    try:
        yield tmp
        with open(tmp, "rb") as raw:
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        with _lock:
            _active.discard(tmp)
            if not _active:
                _restore_handlers()


@contextlib.contextmanager
def atomic_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``path`` only when the
    ``with`` block completes without error (:func:`atomic_path`)."""
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as file:
        yield file
        file.flush()


# ---------------------------------------------------------------------------- reading
@contextlib.contextmanager
def open_h5(path: str | os.PathLike) -> Iterator[h5py.File]:
    """Open ``path`` read-only.

    Raises ``FileNotFoundError`` if it does not exist, :class:`FileFormatError` naming
    the file if it is a folder or not a readable HDF5 file (garbage, truncated).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise FileFormatError(f"{path}: is a directory, not a pdediff file")
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise FileFormatError(
            f"{path}: not a pdediff file (not a readable HDF5 file: {error})"
        ) from error
    try:
        yield file
    finally:
        file.close()


