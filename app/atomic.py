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
    try:
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
