"""The experiment log: every training run, from the window or the CLI, in one SQLite database.

Where: ``$NTS_HOME`` when set, else the platform's user-data folder (``home_folder``). The database
``runs.sqlite`` (WAL mode, so readers never block the writer; a busy timeout, so two processes writing at
once wait for each other instead of failing) sits beside ``runs/<id>/``, each run's artifacts (final
weights, a thumbnail of the prediction). The schema is versioned by ``PRAGMA user_version`` and upgraded
by the ``MIGRATIONS`` list. A run's metric series are kept at most ``MAX_POINTS`` points each.

A run is written by a ``Recorder`` (start, update every few seconds, finish) that records its owner
process; a run still ``running`` whose owner process is gone (kill -9, power loss) is marked
``interrupted`` the next time any process opens the log. No UI code here.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sqlite3
import sys
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from . import __version__
from .errors import StudioError
from .footprint import bits_per_pixel, storage_bits
from .preset import Preset

HOME_ENV = "NTS_HOME"
DB_NAME = "runs.sqlite"
ARTIFACTS_DIR = "runs"
WEIGHTS_NAME = "weights.ntsw"
THUMBNAIL_NAME = "thumbnail.png"
THUMBNAIL_SIDE = 256
MAX_POINTS = 2000
SERIES = ("loss", "psnr", "samples_per_s")
STATUSES = ("running", "finished", "stopped", "diverged", "interrupted")
SOURCES = ("window", "cli")
BUSY_TIMEOUT_S = 60.0
UPDATE_INTERVAL_S = 5.0

# MIGRATIONS[i] takes the schema from version i to i + 1. Released entries never change; append new ones.
MIGRATIONS = [
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        started REAL NOT NULL,            -- unix seconds
        updated REAL NOT NULL,            -- last save
        ended REAL,
        texture TEXT NOT NULL,            -- absolute path ('' for a generated image)
        texture_sha256 TEXT NOT NULL,     -- of the file (of the float pixels for a generated image)
        texture_width INTEGER NOT NULL,   -- as trained (after --size)
        texture_height INTEGER NOT NULL,
        transform TEXT NOT NULL,
        preset TEXT NOT NULL,             -- preset name
        encoding TEXT NOT NULL,           -- encoding otype
        preset_json TEXT NOT NULL,        -- the full preset as trained, live changes included
        seed INTEGER NOT NULL,
        device TEXT NOT NULL,
        mlp_path TEXT NOT NULL,
        app_version TEXT NOT NULL,
        restored_from INTEGER,            -- the run whose weights this one started from
        steps INTEGER NOT NULL DEFAULT 0,
        samples INTEGER NOT NULL DEFAULT 0,
        seconds REAL NOT NULL DEFAULT 0,
        samples_per_s REAL,
        loss REAL,
        psnr REAL,
        parameters INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        bits_per_pixel REAL NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        owner_pid INTEGER NOT NULL,
        owner_host TEXT NOT NULL,
        owner_token TEXT                  -- the owner's process start time, where the OS tells it
    );
    CREATE INDEX runs_by_texture ON runs (texture_sha256);
    CREATE INDEX runs_by_status ON runs (status);
    CREATE TABLE series (
        run INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,               -- one of SERIES
        points TEXT NOT NULL,             -- JSON [[step, seconds, value], ...], at most MAX_POINTS
        PRIMARY KEY (run, name)
    );
    """,
    """
    ALTER TABLE runs ADD COLUMN ssim REAL;   -- of the final prediction (a bounded view of large textures)
    ALTER TABLE runs ADD COLUMN flip REAL;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
# What `runs list --json` gives for each run (and the CSV's columns): the runs table but its internals.
SUMMARY_KEYS = ("id", "status", "source", "texture", "preset", "encoding", "steps", "seconds", "samples_per_s",
                "psnr", "ssim", "flip", "loss", "parameters", "bytes", "bits_per_pixel", "started", "ended", "samples",
                "texture_sha256", "texture_width", "texture_height", "transform", "seed", "device", "mlp_path",
                "app_version", "restored_from", "note")


def home_folder() -> Path:
    """``$NTS_HOME``, else the platform's per-user data folder."""
    if os.environ.get(HOME_ENV):
        return Path(os.environ[HOME_ENV]).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "neural-texture-studio"


def downsample(points: list, limit: int = MAX_POINTS) -> list:
    """At most ``limit`` evenly spaced points, the first and the last always among them (deterministic)."""
    n = len(points)
    if n <= limit:
        return list(points)
    return [points[i] for i in np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))]


def parse_run_id(text: str | int) -> int:
    try:
        value = int(str(text).strip().lstrip("#"))
    except ValueError:
        raise StudioError(f"run id {text!r} is not a number (see: app.py runs list)") from None
    if value < 1:
        raise StudioError(f"run id {text!r} must be a positive number")
    return value


def effective_preset(trainer) -> Preset:
    """The preset a Trainer is training with now: its own plus the live changes (loss, optimizer, batch,
    transform, seed) the window made without rebuilding it."""
    p = trainer.preset
    return replace(p, loss=trainer.loss, optimizer=trainer.optimizer).with_training(
        batch_size=trainer.batch, transform=trainer.transform, seed=trainer.seed)


def thumbnail_size(size: tuple[int, int], side: int = THUMBNAIL_SIDE) -> tuple[int, int]:
    """``size`` scaled down so its long side is at most ``side`` (as the window's views are)."""
    w, h = size
    s = min(1.0, side / max(w, h))
    return max(1, round(w * s)), max(1, round(h * s))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _process_token(pid: int) -> str | None:
    """The process's start time (Linux /proc), which tells a live owner from a later process with its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat; fields[0] is field 3 (state)


def _alive(pid: int, token: str | None) -> bool:
    if pid == os.getpid():
        return True
    if Path("/proc").is_dir():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        if stat[stat.rindex(")") + 2:].split()[0] in ("Z", "X"):  # killed, not yet reaped by its parent
            return False
        return token is None or _process_token(pid) == token
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _is_damage(err: sqlite3.DatabaseError) -> bool:
    """A file SQLite cannot read as a database (not: busy, locked, read-only, missing folder)."""
    text = str(err).lower()
    return "not a database" in text or "malformed" in text or "corrupt" in text


class RunLog:
    """One open experiment log. Raises StudioError when ``home`` cannot hold one; ``notes`` lists what
    opening it did (a damaged database moved aside)."""

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home) if home is not None else home_folder()
        self.path = self.home / DB_NAME
        self.artifacts = self.home / ARTIFACTS_DIR
        self.notes: list[str] = []
        try:
            self.artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StudioError(f"cannot keep the experiment log in {self.home}: {err.strerror or err}; runs are not "
                              f"recorded (set {HOME_ENV} to a writable folder)") from None
        try:
            self.db = self._open()
        except sqlite3.DatabaseError as err:
            if not _is_damage(err):
                raise self._error(err) from None
            self._move_aside(err)
            try:
                self.db = self._open()
            except sqlite3.DatabaseError as again:
                raise self._error(again) from None
        self.mark_interrupted()

    def _error(self, err: Exception) -> StudioError:
        return StudioError(f"cannot use the experiment log {self.path}: {err}; runs are not recorded "
                           f"(set {HOME_ENV} to a writable folder)")

    def _open(self) -> sqlite3.Connection:
        # check_same_thread off: the window's GUI tests read the log from the test engine's thread (in turns
        # with the UI thread, never at once); SQLite itself is built serialized (sqlite3.threadsafety 3)
        db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA foreign_keys = ON")
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise sqlite3.OperationalError("the database cannot use WAL mode")
            # WAL + NORMAL: a killed process loses nothing committed; power loss at most the last saves
            # (the file stays consistent), and a save does not wait for fsync on the UI thread
            db.execute("PRAGMA synchronous = NORMAL")
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("database disk image is malformed (quick_check)")
            self._migrate(db)
        except BaseException:
            db.close()
            raise
        return db

    def _migrate(self, db: sqlite3.Connection) -> None:
        with _transaction(db):
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StudioError(f"the experiment log {self.path} was written by a newer version (schema "
                                  f"{version}, this build knows up to {SCHEMA_VERSION}): update Neural Texture Studio")
            for step in MIGRATIONS[version:]:
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _move_aside(self, err: Exception) -> None:
        aside = self.path.with_name(f"{DB_NAME}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):  # they belong to the damaged file
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        except OSError as move:
            raise StudioError(f"the experiment log {self.path} is damaged ({err}) and cannot be moved aside: "
                              f"{move.strerror}") from None
        self.notes.append(f"the experiment log was damaged ({err}); moved it to {aside} and started a new one")

    def close(self) -> None:
        self.db.close()

    # ---- writing ----
    def write(self):
        """A write transaction (BEGIN IMMEDIATE: takes the write lock at once, waiting up to the busy timeout)."""
        return _transaction(self.db)

    def mark_interrupted(self) -> int:
        """Runs of this host still ``running`` whose owner process is gone become ``interrupted``."""
        host = socket.gethostname()
        rows = self.db.execute("SELECT id, owner_pid, owner_token FROM runs WHERE status = 'running' "
                               "AND owner_host = ?", (host,)).fetchall()
        dead = [r["id"] for r in rows if not _alive(r["owner_pid"], r["owner_token"])]
        if dead:
            with self.write():
                self.db.executemany("UPDATE runs SET status = 'interrupted', ended = updated "
                                    "WHERE id = ? AND status = 'running'", [(i,) for i in dead])
        return len(dead)

    def set_note(self, run_id: int, note: str) -> None:
        self.get(run_id)
        with self.write():
            self.db.execute("UPDATE runs SET note = ? WHERE id = ?", (note, run_id))

    def delete(self, run_id: int) -> None:
        """Removes the run, its series and its artifacts folder."""
        self.get(run_id)
        with self.write():
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.run_folder(run_id), ignore_errors=True)

    # ---- reading ----
    def runs(self, texture: str | Path | None = None) -> list[dict]:
        """Summaries (SUMMARY_KEYS), newest first; ``texture``: only runs on that image file (same path or
        same contents)."""
        query, args = "SELECT * FROM runs", ()
        if texture is not None:
            path = Path(texture).expanduser().resolve()
            sha = file_sha256(path) if path.is_file() else ""
            query, args = query + " WHERE texture = ? OR texture_sha256 = ?", (str(path), sha)
        return [_summary(row) for row in self.db.execute(query + " ORDER BY id DESC", args)]

    def get(self, run_id: int) -> dict:
        row = self.db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise StudioError(f"no run {run_id} in the experiment log {self.path}")
        return _summary(row)

    def preset(self, run_id: int) -> Preset:
        self.get(run_id)
        row = self.db.execute("SELECT preset, preset_json FROM runs WHERE id = ?", (run_id,)).fetchone()
        return Preset.from_dict(json.loads(row["preset_json"]), row["preset"])

    def series(self, run_id: int) -> dict[str, list[list[float]]]:
        """name -> [[step, seconds, value], ...] for each recorded series."""
        rows = self.db.execute("SELECT name, points FROM series WHERE run = ?", (run_id,))
        return {row["name"]: json.loads(row["points"]) for row in rows}

    def run_folder(self, run_id: int) -> Path:
        return self.artifacts / str(run_id)

    def weights_path(self, run_id: int) -> Path:
        """The run's final weights file; StudioError if it has none (interrupted runs end without one)."""
        run = self.get(run_id)
        path = self.run_folder(run_id) / WEIGHTS_NAME
        if not path.is_file():
            raise StudioError(f"run {run_id} ({run['status']}) has no saved weights")
        return path

    def thumbnail(self, run_id: int) -> np.ndarray | None:
        """The run's thumbnail as float RGB (H, W, 3), or None."""
        path = self.run_folder(run_id) / THUMBNAIL_NAME
        if not path.is_file():
            return None
        from .texture import load_image
        return load_image(path)

    def disk_usage(self) -> int:
        """Bytes the log takes: the database with its WAL and all artifacts."""
        files = [self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")]
        files += [p for p in self.artifacts.rglob("*")]
        return sum(p.stat().st_size for p in files if p.is_file())


@contextmanager
def _transaction(db: sqlite3.Connection):
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _summary(row: sqlite3.Row) -> dict:
    out = {key: row[key] for key in SUMMARY_KEYS}
    out["started"], out["ended"] = _iso(row["started"]), _iso(row["ended"])
    return out


def open_log(notify: Callable[[str], None], home: str | Path | None = None) -> RunLog | None:
    """The log, or None when it cannot be used: ``notify`` gets one line saying why (and any note from
    opening it), and the caller carries on without recording."""
    try:
        log = RunLog(home)
    except StudioError as err:
        notify(str(err))
        return None
    for note in log.notes:
        notify(note)
    return log


class Recorder:
    """Records one training run at a time into a RunLog: ``start`` when a network starts training on a
    texture, ``add`` metric points as they come, ``update`` often (it saves every ``interval`` seconds),
    ``finish`` with the final status. A database failure is reported once through ``notify`` and
    recording stops; training never fails because of the log."""

    def __init__(self, log: RunLog, source: str, notify: Callable[[str], None], interval: float = UPDATE_INTERVAL_S):
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        self.log, self.source, self.notify, self.interval = log, source, notify, interval
        self.run_id: int | None = None
        self.trainer = None
        self.points: dict[str, list[list[float]]] = {}
        self._saved = 0.0
        self._size = (1, 1)

    @property
    def active(self) -> bool:
        return self.run_id is not None

    def start(self, trainer, texture_path: str | Path | None, restored_from: int | None = None,
              image: np.ndarray | None = None) -> int | None:
        """Opens a new run for ``trainer`` on the texture file ``texture_path``; without one (a generated
        image) the pixels of ``image`` identify the texture."""
        if self.active:
            self.finish("stopped")
        self.trainer, self.points = trainer, {name: [] for name in SERIES}
        w, h = self._size = trainer.image_size
        if texture_path is not None and Path(texture_path).is_file():
            texture_path = Path(texture_path).expanduser().resolve()
            sha = file_sha256(texture_path)
        else:  # a generated image (or a file gone since it was read): the pixels identify it
            texture_path = None
            sha = "" if image is None else hashlib.sha256(np.ascontiguousarray(image, np.float32)).hexdigest()
        preset = effective_preset(trainer)
        now = time.time()
        row = {"status": "running", "source": self.source, "started": now, "updated": now,
               "texture": str(texture_path or ""), "texture_sha256": sha, "texture_width": w, "texture_height": h,
               "transform": trainer.transform, "preset": preset.name, "encoding": preset.encoding.otype,
               "preset_json": json.dumps(preset.to_dict()), "seed": trainer.seed, "device": trainer.info.adapter,
               "mlp_path": trainer.mlp_path, "app_version": __version__, "restored_from": restored_from,
               "parameters": trainer.parameter_count, "bytes": storage_bits(preset) // 8,
               "bits_per_pixel": bits_per_pixel(preset, (w, h)), "owner_pid": os.getpid(),
               "owner_host": socket.gethostname(), "owner_token": _process_token(os.getpid())}

        def insert():
            with self.log.write():
                cur = self.log.db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES "
                                          f"({', '.join('?' * len(row))})", tuple(row.values()))
                self.run_id = cur.lastrowid
        self._guard(insert)
        self._saved = time.monotonic()
        return self.run_id

    def add(self, series: str, step: float, seconds: float, value: float) -> None:
        points = self.points[series]
        points.append([float(step), float(seconds), float(value)])
        if len(points) > 4 * MAX_POINTS:  # bounded memory too; what is saved is downsampled from this
            points[:] = downsample(points, 2 * MAX_POINTS)

    def set_series(self, series: str, steps, seconds, values) -> None:
        """Replaces a whole series (the window keeps its own curves and hands them over)."""
        self.points[series] = downsample([[float(a), float(b), float(c)] for a, b, c in zip(steps, seconds, values)],
                                         4 * MAX_POINTS)

    def due(self) -> bool:
        """Whether ``interval`` seconds passed since the last save."""
        return self.active and time.monotonic() - self._saved >= self.interval

    def update(self, force: bool = False) -> bool:
        """Saves the run's counters and series if ``interval`` seconds passed since the last save (or
        ``force``). True if it saved."""
        if not self.active or not (force or self.due()):
            return False
        tr = self.trainer
        if tr.train_seconds > 0 and tr.step:
            self.add("samples_per_s", tr.step, tr.train_seconds, tr.samples_seen / tr.train_seconds)
        self._guard(lambda: self._save({}))
        self._saved = time.monotonic()
        return True

    def _save(self, extra: dict) -> None:
        tr = self.trainer
        preset = effective_preset(tr)
        last = {name: (pts[-1][2] if pts else None) for name, pts in self.points.items()}
        fields = {"updated": time.time(), "steps": tr.step, "samples": tr.samples_seen, "seconds": tr.train_seconds,
                  "samples_per_s": tr.samples_seen / tr.train_seconds if tr.train_seconds > 0 else None,
                  "loss": last["loss"], "psnr": last["psnr"], "transform": tr.transform,
                  "preset_json": json.dumps(preset.to_dict()), "seed": tr.seed, **extra}
        with self.log.write():
            self.log.db.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                                (*[_finite_or_none(v) for v in fields.values()], self.run_id))
            self.log.db.executemany("INSERT OR REPLACE INTO series (run, name, points) VALUES (?, ?, ?)",
                                    [(self.run_id, name, json.dumps(downsample(pts)))
                                     for name, pts in self.points.items()])

    def finish(self, status: str, psnr: float | None = None, prediction: np.ndarray | None = None,
               quality=None) -> int | None:
        """Ends the run: its final weights and a thumbnail of ``prediction`` (rendered here when None) go
        to its artifacts folder, then its figures and ``status``; ``quality`` (quality.Quality of the final
        weights, when measured) adds SSIM and FLIP. Returns the run id."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"cannot finish a run as {status!r}")
        run_id, tr = self.run_id, self.trainer
        if run_id is None:
            return None
        if psnr is not None and np.isfinite(psnr):
            self.add("psnr", tr.step, tr.train_seconds, psnr)
        if tr.train_seconds > 0 and tr.step:
            self.add("samples_per_s", tr.step, tr.train_seconds, tr.samples_seen / tr.train_seconds)

        def save():
            self._write_artifacts(tr, prediction, status)
            measured = {} if quality is None else {"ssim": float(quality.ssim), "flip": float(quality.flip)}
            self._save({"status": status, "ended": time.time(), **measured})
        self._guard(save)
        self.run_id, self.trainer = None, None
        return run_id

    def _write_artifacts(self, tr, prediction: np.ndarray | None, status: str) -> None:
        from .texture import save_image
        from .network_file import WeightsFile
        from .weights_io import save_weights
        folder = self.log.run_folder(self.run_id)
        folder.mkdir(parents=True, exist_ok=True)
        params = tr.parameters()
        if np.isfinite(params).all():  # a diverged network's NaNs cannot be saved (nor restored)
            last = {name: (pts[-1][2] if pts else None) for name, pts in self.points.items()}
            stats = {"steps": tr.step, "samples": tr.samples_seen, "loss": last["loss"], "psnr": last["psnr"],
                     "train_seconds": tr.train_seconds, "adapter": tr.info.adapter, "run": self.run_id}
            save_weights(folder / WEIGHTS_NAME, WeightsFile(effective_preset(tr), params, self._size, tr.transform,
                                                            stats))
        size = thumbnail_size(self._size)
        if prediction is None or prediction.shape[:2] != (size[1], size[0]):
            prediction = tr.prediction(size)
        save_image(folder / THUMBNAIL_NAME, np.nan_to_num(prediction))

    def _guard(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except (sqlite3.Error, StudioError, OSError) as err:
            self.notify(f"the experiment log stopped recording: {err}")
            self.run_id = None


def attempts_as_runs(log: RunLog | None, source: str, texture: str | Path | None, notify: Callable[[str], None],
                     image: np.ndarray | None = None):
    """A ``watch`` for target_search.search that makes each attempt a run of ``log`` (None: no log, records
    nothing); call it in the thread that runs the search (the log's connection belongs to that thread)."""
    def watch(trainer):
        recorder = None
        if log is not None:
            recorder = Recorder(log, source, notify)
            recorder.start(trainer, texture, image=image)

        def finish(attempt):
            if recorder is not None and recorder.active:
                status = "stopped" if attempt is None else "diverged" if attempt.note else "finished"
                recorder.finish(status, psnr=None if attempt is None else attempt.quality.psnr,
                                quality=None if attempt is None else attempt.quality)
        return finish
    return watch


def _finite_or_none(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value

