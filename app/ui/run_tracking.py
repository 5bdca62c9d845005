"""The window's runs in the experiment log (app/runlog.py): one run per network and weights trained on a texture.

Three calls drive it, all on the UI thread:
- ``follow`` (the engine, before each submission; training work may be queued): starts a run once a
  network has taken its first steps on a texture, and saves it every few seconds, from host-side
  counters and curves only;
- ``end_run`` (with no GPU work in flight: it reads the weights back) before anything replaces the
  weights or the network (a new network swapped in, a new texture, a reset, loaded or restored weights)
  and when the window closes: the run ends with its own final weights, curves and a thumbnail;
- ``open_runs`` when the window's state is created (no log: one message, the window works on).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..runlog import Recorder, RunLog, open_log
from .state import AppState


@dataclass
class Comparison:
    """Two runs (None: the network training now) shown by the Compare window and the Metrics plots."""
    ids: tuple[int | None, int | None]
    labels: tuple[str, str]
    series: tuple[dict, dict]          # name -> [[step, seconds, value], ...]; {} for the current network
    view: object                       # compare_view.CompareView
    serial: int = -1                   # Images.serial shown for the current network


@dataclass
class WindowRuns:
    log: RunLog | None = None
    recorder: Recorder | None = None
    restored_from: int | None = None   # the run whose weights the next run starts from
    revision: int = 0                  # increments when the log changes; the Runs panel re-reads it then
    selected: list[int] = field(default_factory=list)   # at most two run ids, the latest last
    this_texture_only: bool = False
    comparison: Comparison | None = None
    # the Runs panel's table: rows as last read, when, the sort (column, ascending), a note being edited
    rows: list[dict] = field(default_factory=list)
    rows_revision: int = -1
    rows_read_at: float = 0.0
    disk_usage: int = 0
    sort: tuple[int, bool] = (0, False)
    note_edit: tuple[int, str] | None = None

    @property
    def current_id(self) -> int | None:
        return self.recorder.run_id if self.recorder is not None else None


def open_runs(state: AppState, home=None) -> None:
    runs = WindowRuns()
    runs.log = open_log(lambda text: state.report(text, error=True), home)
    if runs.log is not None:
        runs.recorder = Recorder(runs.log, "window", lambda text: state.report(text, error=True))
    state.runs = runs


def _save_curves(state: AppState, rec: Recorder) -> None:
    for name in ("loss", "psnr"):
        curve = getattr(state.history, name)
        rec.set_series(name, curve.steps, curve.seconds, curve.values)


def follow(state: AppState) -> None:
    runs, tr = state.runs, state.trainer
    if runs is None or runs.recorder is None or tr is None:
        return
    rec = runs.recorder
    if rec.active and rec.trainer is not tr:  # replaced without end_run: end it, its curves as last saved
        rec.finish("stopped")
        runs.revision += 1
    if not rec.active:
        if tr.step > 0 and state.texture is not None:
            rec.start(tr, state.texture.path, restored_from=runs.restored_from, image=state.texture.image)
            runs.restored_from = None
            runs.revision += 1
        return
    if rec.due():
        _save_curves(state, rec)
        rec.update(force=True)
        runs.revision += 1


def end_run(state: AppState, restored_from: int | None = None) -> None:
    """Ends the run being recorded (the weights in its trainer are still the ones it trained);
    ``restored_from``: the run whose weights the next run will start from."""
    runs = state.runs
    if runs is None or runs.recorder is None:
        return
    rec = runs.recorder
    if rec.active:
        tr = rec.trainer
        _save_curves(state, rec)  # the window's curves are this trainer's until a new network clears them
        loss = state.history.loss.last()
        status = ("diverged" if state.history.loss.values and not math.isfinite(loss) else
                  "finished" if tr.step >= tr.preset.training.steps else "stopped")
        rec.finish(status, quality=_final_quality(state, tr))
        runs.revision += 1
    runs.restored_from = restored_from


def _final_quality(state: AppState, tr):
    """SSIM and FLIP (quality.Quality) the Quality panel measured of these very weights, else None."""
    m = getattr(state.quality, "metrics", None)
    return m.quality if m is not None and m.trainer == id(tr) and m.step == tr.step else None


def close_runs(state: AppState) -> None:
    """The window is closing (no GPU work in flight): the current run ends, the log closes."""
    runs = state.runs
    if runs is None or runs.log is None:
        return
    end_run(state)
    if runs.comparison is not None:
        runs.comparison.view.release()
    runs.log.close()
    runs.log = runs.recorder = None
