"""Quality vs size: PSNR against bits per pixel for the codecs engines ship and the current network (implot,
log x axis), the network's SSIM and FLIP, a codec's decoded image beside the prediction, and the search for
the smallest network reaching a PSNR.

Heavy work stays off the UI thread: codec curves, metrics and decoded images run in one worker process
(FLIP and etcpak's BC7 hold Python's GIL for up to a second, which would freeze the window in a thread);
the target search runs in a thread on a device of its own (it polls the device, never waits on it).
"""
from __future__ import annotations

import hashlib
import threading
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace

import numpy as np
from imgui_bundle import imgui, implot

from ..codecs import encode_decode, measure_codecs, to_rgb8
from ..errors import StudioError
from ..footprint import bits_per_pixel
from ..quality import (BC1_BPP, BC7_BPP, METRICS_MAX_PIXELS, RGB8_BPP, measure, metrics_size, subsample,
                       transformed_reference)
from . import engine
from .compare_view import CompareView
from .state import AppState
from .widgets import DIM_COLOR, ERROR_COLOR, INFO_COLOR, combo, tooltip

METRICS_INTERVAL_S = 10.0   # PSNR, SSIM and FLIP of the prediction, this often while training
# On a software device the measurement (a worker process: FLIP ~1 s of CPU) competes with training and the
# UI for the same cores: there it runs a third as often, and never in a new network's first interval.
SOFTWARE_INTERVAL_FACTOR = 3.0
CODEC_COLORS = {"jpeg": (0.12, 0.47, 0.71, 1), "webp": (0.17, 0.63, 0.17, 1), "astc": (0.58, 0.40, 0.74, 1),
                "bc1": (1.0, 0.50, 0.05, 1), "bc7": (0.84, 0.15, 0.16, 1)}


@dataclass
class SearchJob:
    target: float
    steps: int
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: object | None = None          # target_search.Progress
    result: object | None = None            # target_search.SearchResult
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def fraction(self) -> float:
        p = self.progress
        if p is None:
            return 0.0
        return min(1.0, ((p.attempt - 1) + p.step / max(1, p.steps)) / max(1, p.max_attempts))


@dataclass
class Metrics:
    trainer: int                             # id() of the Trainer measured (a rebuilt network is another)
    step: int
    bits_per_pixel: float
    size: tuple[int, int]                    # of the view measured: the texture's, or a subsample of it
    quality: object                          # quality.Quality (None while it is being measured)


class QualityPanel:
    """The panel's state (AppState.quality); futures are polled once per frame by tick()."""

    def __init__(self):
        self._pool: ProcessPoolExecutor | None = None
        self.codec_rows: dict[str, list] = {}    # reference SHA-256 -> codecs.Row list
        self.codec_job = None                    # (key, Future)
        self.codec_error: tuple[str, str] | None = None   # (reference SHA-256, message)
        self._reference = (None, None, None, None)    # (texture image, transform, SHA-256, reference)
        self.metrics: Metrics | None = None
        self.metrics_job = None                  # (Metrics without quality, Future of it) or "rendering"
        self.metrics_time = time.monotonic()   # the first measurement waits one interval
        self.metrics_failed = False              # the last measurement failed: the next waits one interval
        self.prediction: np.ndarray | None = None    # prediction of the last metrics render (Metrics.size)
        self.chosen: tuple[str, str] | None = None  # codec setting shown beside the prediction
        self.decoded: dict = {}                  # (key, codec, setting) -> uint8 RGB
        self.decode_job = None                   # ((key, codec, setting), Future)
        self.compare = CompareView()
        self.compare_inputs = None               # what compare shows, to update it only on change
        self.search: SearchJob | None = None
        self.target_db = 35.0
        self.search_steps = 300
        self.max_candidates = 0                  # 0: the whole family
        self.frame = -1

    def submit(self, fn, *args) -> Future:
        """Runs fn(*args) in the worker process. A worker that died (killed, out of memory, a crash in a
        codec) breaks its pool for good: the next job gets a new one, so the panel keeps measuring."""
        try:
            return self._worker().submit(fn, *args)
        except BrokenProcessPool:
            self._stop_pool()
            return self._worker().submit(fn, *args)

    def _worker(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def close(self) -> None:
        if self.search is not None:
            self.search.cancel.set()
            if self.search.thread is not None:
                self.search.thread.join()
        self._stop_pool()
        self.compare.release()

    def _stop_pool(self) -> None:
        if self._pool is not None:
            # A running job (the codecs of a 64 Mpx texture take minutes) would hold up the interpreter's
            # exit, which joins the pool: its worker is stopped instead. Python 3.11 has no public call for
            # that (3.14's terminate_workers), hence the private process table.
            pool, self._pool = self._pool, None
            workers = list((getattr(pool, "_processes", None) or {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                worker.terminate()


def panel(state: AppState) -> QualityPanel:
    if state.quality is None:
        state.quality = QualityPanel()
    return state.quality


def reference(state: AppState) -> tuple[str, np.ndarray]:
    """(SHA-256, image) of what the network learns: the texture under the current transform."""
    q = panel(state)
    image, transform = state.texture.image, state.preset.training.transform
    if q._reference[0] is not image or q._reference[1] != transform:
        ref = transformed_reference(image, transform)
        q._reference = (image, transform, hashlib.sha256(ref.tobytes()).hexdigest(), ref)
    return q._reference[2], q._reference[3]


# ---- background work, polled every frame ----
def tick(state: AppState) -> None:
    """Collects finished jobs and starts due metrics; called by the panels that show them (once a frame)."""
    q = panel(state)
    if q.frame == state.frames or state.texture is None:
        return
    q.frame = state.frames
    _tick_metrics(state, q)
    if q.decode_job is not None and q.decode_job[1].done():
        job_key, future = q.decode_job
        q.decode_job = None
        try:
            q.decoded[job_key] = future.result().image
        except Exception as err:
            state.report(f"decoding {job_key[1]} {job_key[2]}: {err}", error=True)
            q.chosen = None


def _tick_codecs(state: AppState, q: QualityPanel) -> None:
    """The codec curves of the current texture, measured once per texture (only while the panel is shown)."""
    key, ref = reference(state)
    if q.codec_job is not None and q.codec_job[1].done():
        job_key, future = q.codec_job
        q.codec_job = None
        try:
            q.codec_rows[job_key] = future.result()
        except Exception as err:  # StudioError or a codec's own failure: say so, keep the window
            q.codec_error = (job_key, f"codecs: {err}")
    failed = q.codec_error is not None and q.codec_error[0] == key
    if key not in q.codec_rows and q.codec_job is None and not failed:
        q.codec_job = (key, q.submit(measure_codecs, ref))


def _tick_metrics(state: AppState, q: QualityPanel) -> None:
    tr = state.trainer
    job = q.metrics_job
    if isinstance(job, tuple) and job[1].done():
        q.metrics_job = None
        pending, future = job
        try:
            q.metrics = replace(pending, quality=future.result())
            q.metrics_failed = False
        except Exception as err:
            q.metrics_failed = True
            state.report(f"quality metrics: {err}", error=True)
    if tr is None or q.metrics_job is not None or state.build is not None:
        return
    stale = q.metrics is None or (q.metrics.trainer, q.metrics.step) != (id(tr), tr.step)
    interval = METRICS_INTERVAL_S * (SOFTWARE_INTERVAL_FACTOR if tr.info.software else 1.0)
    # Paused, the final weights are measured at once; but not again at once after a failure, which would
    # render and fail every frame.
    due = time.monotonic() - q.metrics_time >= interval or not (state.training or q.metrics_failed)
    if stale and due:
        q.metrics_job = "rendering"
        q.metrics_time = time.monotonic()
        engine.defer(state, "quality metrics", lambda: _render_for_metrics(state, q))


def _render_for_metrics(state: AppState, q: QualityPanel) -> None:
    """A full-resolution render of prediction and reference (one submission); measured in the worker."""
    tr = state.trainer
    if tr is None:
        q.metrics_job = None
        return
    # Above METRICS_MAX_PIXELS a view of that size, a regular subsample, in one render: the full resolution
    # of an 8192^2 texture is 67 M inferences, ~95 s of a software device, which froze the window.
    size = metrics_size(tr.image_size)
    pending = Metrics(id(tr), tr.step, bits_per_pixel(tr.preset, tr.image_size), size, quality=None)

    def measure_in_worker(read):
        try:
            prediction, ref = read()
            q.prediction = prediction
            q.metrics_job = (pending, q.submit(measure, ref, prediction))
        finally:
            if q.metrics_job == "rendering":  # failed: try again later rather than never
                q.metrics_job = None
                q.metrics_failed = True
    encoder = state.device.create_command_encoder()
    views = tr.append_render(encoder, size)
    try:
        engine.submit_encoder(state, encoder, lambda: measure_in_worker(
            lambda: tuple(views[name].to_numpy()[:, :, :3].copy() for name in ("prediction", "reference"))))
    except Exception:
        q.metrics_job = None
        raise


def start_search(state: AppState) -> None:
    from ..target_search import search
    q = panel(state)
    if q.search is not None and q.search.running:
        return
    job = q.search = SearchJob(float(q.target_db), int(q.search_steps))
    image, preset, mlp = state.texture.image, state.preset, state.mlp_request
    limit = q.max_candidates or None
    texture = state.texture.path
    home = state.runs.log.home if state.runs is not None and state.runs.log is not None else None

    def run():
        from ..runlog import attempts_as_runs, open_log
        notify = lambda text: state.report(text, error=True)  # noqa: E731
        log = None if home is None else open_log(notify, home)  # this thread's own connection
        try:
            from ..device import create_device
            device = create_device()  # its own: the window's device stays the UI thread's
            job.result = search(device, image, preset, job.target, steps=job.steps, mlp_path=mlp, limit=limit,
                                progress=lambda p: setattr(job, "progress", p), cancelled=job.cancel.is_set,
                                watch=attempts_as_runs(log, "window", texture, notify, image=image))
        except StudioError as err:
            job.error = str(err)
        except Exception as err:  # a bug: show it rather than lose the window
            traceback.print_exc()
            job.error = f"internal error in the search: {err!r}"
        finally:
            if log is not None:
                log.close()
    job.thread = threading.Thread(target=run, name="nts-target-search", daemon=True)
    job.thread.start()


def use_best(state: AppState) -> None:
    """Switches the window to the search's winner (compiled in the background), training paused."""
    best = panel(state).search.result.best
    preset = replace(state.preset, encoding=best.preset.encoding, network=best.preset.network)

    def after(tr):
        tr.set_parameters(best.parameters)
        state.training = False
        state.history.clear()
        state.render_requested = True
        state.report(f"smallest network found: {best.bits_per_pixel:.3f} bpp, {best.quality.psnr:.2f} dB; training "
                     "paused, Space resumes")
    engine.request_build(state, preset, "smallest network", after=after)


# ---- drawing ----
def gui_quality(state: AppState) -> None:
    tick(state)
    q = panel(state)
    _tick_codecs(state, q)
    avail = imgui.get_content_region_avail()
    plot_w = avail.x * 0.55
    plot_h = avail.y * (0.55 if q.chosen else 1.0)
    _plot(state, q, (plot_w, plot_h))
    imgui.same_line()
    imgui.begin_group()
    _gui_numbers(state, q)
    _gui_search(state, q)
    imgui.end_group()
    if q.chosen:
        _gui_codec_view(state, q)


def _plot(state: AppState, q: QualityPanel, size) -> None:
    key, _ = reference(state)
    rows = q.codec_rows.get(key, [])
    if implot.begin_plot("PSNR against bits per pixel", size):
        implot.setup_axes("bits per pixel (log)", "PSNR (dB)", implot.AxisFlags_.auto_fit, implot.AxisFlags_.auto_fit)
        implot.setup_axis_scale(implot.ImAxis_.x1, implot.Scale_.log10)
        for codec, color in CODEC_COLORS.items():
            points = sorted((r.bits_per_pixel, r.psnr) for r in rows if r.codec == codec and np.isfinite(r.psnr))
            if not points:
                continue
            xs, ys = (np.ascontiguousarray(v, np.float64) for v in zip(*points))
            spec = implot.Spec()
            spec.line_color = spec.marker_fill_color = spec.fill_color = imgui.ImVec4(*color)
            spec.marker = implot.Marker_.circle
            spec.marker_size = 4.0
            label = codec.upper() if codec != "webp" else "WebP"
            if len(xs) > 1:
                implot.plot_line(label, xs, ys, spec)
            else:
                implot.plot_scatter(label, xs, ys, spec)
        m = q.metrics
        if m is not None and np.isfinite(m.quality.psnr):
            spec = implot.Spec()
            spec.marker, spec.marker_size = implot.Marker_.diamond, 9.0
            spec.marker_fill_color = spec.line_color = spec.fill_color = imgui.ImVec4(1, 1, 1, 1)
            x, y = np.array([m.bits_per_pixel]), np.array([m.quality.psnr])
            implot.plot_scatter("network", x, y, spec)
            implot.plot_text(f"network (step {m.step})", m.bits_per_pixel, m.quality.psnr, imgui.ImVec2(0, -14))
        implot.end_plot()


def _gui_numbers(state: AppState, q: QualityPanel) -> None:
    key, _ = reference(state)
    if q.codec_error is not None and q.codec_error[0] == key:
        imgui.text_colored(ERROR_COLOR, q.codec_error[1])
    elif key not in q.codec_rows:
        imgui.text_colored(INFO_COLOR, "measuring the codecs on this texture (JPEG, WebP, BC1, BC7, ASTC)...")
    m = q.metrics
    if m is None:
        imgui.text_colored(DIM_COLOR, "network: waiting for a render of the prediction")
    else:
        imgui.text(f"network: {m.bits_per_pixel:.3f} bpp, PSNR {m.quality.psnr:.2f} dB, SSIM {m.quality.ssim:.4f}, "
                   f"FLIP {m.quality.flip:.4f} (step {m.step})")
        w, h = state.trainer.image_size if state.trainer else m.size
        if tuple(m.size) != (w, h):
            imgui.same_line()
            imgui.text_colored(DIM_COLOR, f"on a {m.size[0]}x{m.size[1]} view")
    tooltip("the prediction (clamped to [0,1]) against the transformed texture, at full resolution up to "
            f"{METRICS_MAX_PIXELS // (1 << 20)} Mpx, above that on a view of that size (the texels at its pixel "
            "centres: a regular subsample; the command line's `compare` gives full-resolution PSNR); measured "
            f"every {METRICS_INTERVAL_S:.0f} s while training "
            f"({METRICS_INTERVAL_S * SOFTWARE_INTERVAL_FACTOR:.0f} s on a software device)")
    rows = q.codec_rows.get(key, [])
    names = [f"{r.codec} {r.setting}: {r.bits_per_pixel:.2f} bpp, {r.psnr:.2f} dB" for r in rows]
    current = next((n for n, r in zip(names, rows) if (r.codec, r.setting) == q.chosen), "(none)")
    imgui.set_next_item_width(imgui.get_font_size() * 20)
    chosen = combo("show beside the prediction", current, ["(none)", *names])
    if chosen is not None:
        q.chosen = None if chosen == "(none)" else next((r.codec, r.setting) for n, r in zip(names, rows)
                                                         if n == chosen)
        q.compare_inputs = None


def _gui_search(state: AppState, q: QualityPanel) -> None:
    imgui.separator_text("Find smallest network for PSNR")
    job = q.search
    running = job is not None and job.running
    imgui.begin_disabled(running)
    imgui.set_next_item_width(imgui.get_font_size() * 6)
    _, q.target_db = imgui.input_float("target PSNR (dB)", q.target_db, 0.5, 1.0, "%.2f")
    q.target_db = min(max(q.target_db, 1.0), 99.0)
    key, _ = reference(state)
    for codec in ("bc7", "bc1"):
        row = next((r for r in q.codec_rows.get(key, []) if r.codec == codec), None)
        imgui.same_line()
        if imgui.button(f"= {codec.upper()}") and row is not None:
            q.target_db = round(row.psnr, 2)
        tooltip(f"the PSNR {codec.upper()} reaches on this texture" + ("" if row else " (still measuring)"))
    imgui.set_next_item_width(imgui.get_font_size() * 6)
    _, q.search_steps = imgui.input_int("steps per attempt", q.search_steps, 50, 500)
    q.search_steps = min(max(q.search_steps, 1), 1_000_000)
    imgui.set_next_item_width(imgui.get_font_size() * 6)
    _, q.max_candidates = imgui.input_int("max candidates (0: all)", q.max_candidates)
    q.max_candidates = max(q.max_candidates, 0)
    if imgui.button("Find smallest network for PSNR"):
        start_search(state)
    tooltip(f"trains networks of the {state.preset.name} family (width and layers, or grid levels and table size), "
            "smallest first by bisection, on a device of its own; the window keeps training")
    imgui.end_disabled()
    if job is None:
        return
    if running:
        p = job.progress
        text = "compiling the first candidate..." if p is None else \
            f"attempt {p.attempt}/{p.max_attempts}: {p.candidate}, step {p.step}/{p.steps}"
        imgui.progress_bar(job.fraction(), (-imgui.get_font_size() * 5, 0), text)
        imgui.same_line()
        if imgui.button("Cancel search"):
            job.cancel.set()
    if job.error:
        imgui.text_colored(ERROR_COLOR, job.error)
    result = job.result
    if result is None:
        return
    for i, a in enumerate(result.attempts, 1):
        verdict = a.note or ("reached" if a.reached else "below")
        imgui.text(f"{i}. {a.bits_per_pixel:.3f} bpp  {a.quality.psnr:.2f} dB  {verdict}")
    best = result.best
    if result.cancelled:
        imgui.text_colored(DIM_COLOR, "cancelled")
    if best is None:
        return
    if result.reached:
        imgui.text_colored(INFO_COLOR, f"smallest reaching {result.target_psnr:.2f} dB: {best.bits_per_pixel:.3f} bpp")
    elif not result.cancelled:
        imgui.text_colored(ERROR_COLOR, f"no network of the family reached {result.target_psnr:.2f} dB in "
                           f"{job.steps} steps; best: {best.quality.psnr:.2f} dB at {best.bits_per_pixel:.3f} bpp")
    if imgui.button("Use this network"):
        use_best(state)
    tooltip("compiles it and loads its weights in the window (training paused)")


def _gui_codec_view(state: AppState, q: QualityPanel) -> None:
    key, ref = reference(state)
    codec, setting = q.chosen
    decoded = q.decoded.get((key, codec, setting))
    if decoded is None:
        if q.decode_job is None:
            q.decode_job = ((key, codec, setting), q.submit(encode_decode, codec, setting, to_rgb8(ref)))
        imgui.text_colored(INFO_COLOR, f"encoding {codec} {setting}...")
        return
    prediction = q.prediction
    if prediction is None:
        imgui.text_colored(DIM_COLOR, "waiting for a render of the prediction")
        return
    inputs = (id(prediction), id(decoded))
    if q.compare_inputs != inputs:
        step = q.metrics.step if q.metrics else 0
        if prediction.shape[:2] != decoded.shape[:2]:  # a large texture's metrics view: the same texels of both
            decoded = subsample(decoded, (prediction.shape[1], prediction.shape[0]))
        q.compare.set_images(prediction, decoded.astype(np.float32) / 255.0,
                             (f"network (step {step})", f"{codec.upper()} {setting}"))
        q.compare_inputs = inputs
    q.compare.gui(state.view, "quality_compare")


def quality_rows(state: AppState, row) -> None:
    """Rows of the Metrics panel's table: bits per pixel next to the formats engines ship, SSIM and FLIP."""
    tick(state)
    tr = state.trainer
    bpp = bits_per_pixel(tr.preset, tr.image_size)
    row("bits per pixel", f"{bpp:.3f}  (RGB8 {RGB8_BPP:g}, BC1 {BC1_BPP:g}, BC7 {BC7_BPP:g})")
    m = panel(state).metrics
    row("SSIM / FLIP", "measuring..." if m is None else
        f"{m.quality.ssim:.4f} / {m.quality.flip:.4f} (step {m.step})")

