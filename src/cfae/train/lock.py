"""One cfae run per folder at a time (a training, or a reproduction in its report folder): an
exclusive lock on FOLDER/.lock, held while it works."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class RunFolderError(FileExistsError):
    """The run folder cannot be used: in use by another cfae run, not writable, or blocked by a file."""


def writable_folder(folder: Path) -> Path:
    """Create folder (and parents) and prove it writable before any work starts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except FileExistsError:
        raise RunFolderError(f"{folder}: a file is in the way of the run folder") from None
    except OSError as err:
        raise RunFolderError(f"{folder}: cannot write the run folder there ({err.strerror or err})") from None
    return folder


@contextlib.contextmanager
def run_lock(folder: Path):
    """Hold RUN/.lock exclusively (flock, released by the OS if the process dies); refuse when held.
    A folder this lock created is removed again when the work wrote nothing into it (it failed on
    its settings, say), so a refused run leaves nothing behind."""
    folder = Path(folder)
    created = not folder.exists()
    path = writable_folder(folder) / ".lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise RunFolderError(f"{folder} is in use by another cfae run (pid {holder}); wait for it to finish "
                             "or choose another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    try:
        yield path
    finally:
        if created and [p.name for p in folder.iterdir()] == [path.name]:
            with contextlib.suppress(OSError):  # another run may have just opened the folder: then it stays
                path.unlink()
                folder.rmdir()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def lock_holder(folder: Path) -> str | None:
    """The pid written by the cfae run holding FOLDER/.lock now, or None when no run holds it."""
    path = Path(folder) / ".lock"
    if not path.is_file():
        return None
    with open(path) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return handle.read().strip() or "unknown"
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
