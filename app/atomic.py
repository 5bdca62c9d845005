"""Writing files so that a failure never leaves a damaged one behind."""
from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path

from .errors import StudioError


def _temp_prefix(path: Path, pid: int) -> str:
    return f".{path.name}.{pid}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(path: Path, folder: Path) -> None:
    """Removes the temp files that writers of ``path`` killed mid-save left behind (their pid, in the
    name, is no longer running); a running writer's temp file is left alone."""
    for tmp in folder.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            try:
                tmp.unlink()
            except OSError:
                pass


def atomic_write(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to a temp file in the target folder, flushes it, then renames it over ``path``
    (first removing temp files that earlier writers killed mid-save left there)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StudioError(f"cannot write {path}: folder {folder} does not exist")
    remove_stale_temps(path, folder)
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path, os.getpid()), suffix=".tmp", dir=folder)
    except OSError as err:
        raise StudioError(f"cannot write {path}: {err.strerror}") from None
    umask = os.umask(0)  # mkstemp makes the file private (0600); give it the usual permissions instead
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise StudioError(f"cannot write {path}: {err.strerror}") from None
