"""Writing files so that a failure never leaves a damaged one behind."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import StudioError


def atomic_write(path: str | Path, data: bytes) -> None:
    """Writes ``data`` to a temp file in the target folder, flushes it, then renames it over ``path``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise StudioError(f"cannot write {path}: folder {folder} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
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
