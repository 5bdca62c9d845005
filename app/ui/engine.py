"""The frame loop: what the GPU does in each UI frame, without the UI ever waiting for it.

Every frame ``tick`` (1) swaps in a network that finished compiling in a background thread,
(2) collects the submissions the device reports done (loss, views, PSNR), (3) runs queued device
tasks (new texture, weights, resets touch GPU buffers, so they run when nothing is in flight),
(4) records training steps, and now and then a render, into one command encoder and submits it.
Waiting on the device holds Python's GIL inside slangpy, which would freeze the window, so the UI
only polls ``is_submit_finished``.

Up to two training submissions are queued, so the device starts the next one while the UI is still
drawing the frame in which the previous one finished: with one, it idled until the next poll (the
window trained at a third of the CLI's rate on lavapipe). Each submission copies its last loss and
the training state into host-visible memory (Trainer.append_readout), which the UI reads without
waiting for the work queued behind it. A render is never followed by more work until it is
collected, because reading its views back waits for everything queued.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import replace
from typing import Callable

import numpy as np

from ..device import choose_mlp_path, create_device, describe
from ..errors import StudioError
from ..trainer import Trainer
from ..views import ViewReadback, psnr_from_row_sums
from . import run_tracking
from .state import AppState, BuildRequest, Submission

MAX_STEPS_PER_FRAME = 4096


class BuildJob:
    """Constructs a Trainer (shader compile) and runs it once (driver compile) in a worker thread.

    The UI thread does no device work while a job runs; it keeps drawing the last views."""

    def __init__(self, request: BuildRequest, device, image: np.ndarray, mlp_request: str | None,
                 view_size: tuple[int, int]):
        self.request = request
        self.device = device
        self.image = image
        self.mlp_request = mlp_request
        self.view_size = view_size
        self.trainer: Trainer | None = None
        self.error: str | None = None
        self.note = ""
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._run, name="nts-build", daemon=True)

    def _run(self) -> None:
        try:
            if self.device is None:
                self.device = create_device()
            self.trainer = self._construct()
            self.trainer.warm_up(self.view_size, poll=True)
        except StudioError as err:
            self.error = str(err)
        except Exception as err:  # a bug: show it in the window rather than lose the app
            traceback.print_exc()
            self.error = f"internal error while building the network: {err!r}"

    def _construct(self) -> Trainer:
        preset = self.request.preset
        try:
            return Trainer(self.device, self.image, preset, mlp_path=self.mlp_request)
        except StudioError as err:
            # The core picks CoopVec where the device has it; unless the user asked for it, keep
            # the app usable with the portable MLP and say why.
            if self.mlp_request is None and choose_mlp_path(describe(self.device)) != "portable":
                self.note = f"{err} (running the portable MLP instead)"
                return Trainer(self.device, self.image, preset, mlp_path="portable")
            raise

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


def request_build(state: AppState, preset, reason: str, after: Callable | None = None) -> None:
    """Asks for a new network with ``preset``; it replaces the current one when compiled."""
    state.preset = preset
    state.build_request = BuildRequest(preset, after, reason)


def defer(state: AppState, label: str, task: Callable[[], None]) -> None:
    """Queues ``task`` to run on the UI thread when no GPU work is in flight."""
    state.device_tasks.append((label, task))


def guarded(state: AppState, label: str, task: Callable[[], None]) -> bool:
    """Runs ``task``; a StudioError (or a bug) becomes a message in the window. True if it succeeded."""
    try:
        task()
        return True
    except StudioError as err:
        state.report(str(err), error=True)
    except Exception as err:
        traceback.print_exc()
        state.report(f"internal error in {label}: {err!r}", error=True)
    return False


def tick(state: AppState, frame_dt: float) -> None:
    state.frames += 1
    if state.build is not None:
        if state.build.thread.is_alive():
            return
        finish_build(state)
    if state.training and state.trainer is not None:
        state.trainer.train_seconds += frame_dt   # wall time spent training, as the user sees it
    state.share.add(frame_dt, state.inflight[0] if state.inflight else None, state.training)
    while state.inflight and state.device.is_submit_finished(state.inflight[0].id):
        if not guarded(state, "reading results", lambda: collect(state, frame_dt)):
            state.training = False
    if state.inflight:
        state.inflight[0].polls += 1
    while state.device_tasks and state.build_request is None and not state.inflight:
        label, task = state.device_tasks.pop(0)
        guarded(state, label, task)
    if state.build_request is not None and not state.inflight:
        start_build(state)
        return
    run_tracking.follow(state)  # experiment log: start, save (host-side counters only, no device reads)
    if state.trainer is not None and not guarded(state, "training", lambda: submit(state)):
        state.training = state.render_requested = False  # do not repeat a failing submission every frame


def start_build(state: AppState) -> None:
    request, state.build_request = state.build_request, None
    state.build = BuildJob(request, state.device, state.texture.image, state.mlp_request, state.view_size())
    state.build.thread.start()


def finish_build(state: AppState) -> None:
    job, state.build = state.build, None
    state.device = job.device or state.device
    if job.error is not None:
        state.report(job.error, error=True)
        if state.trainer is not None:  # keep the running network and show its settings again
            state.preset = replace(state.preset, encoding=state.trainer.encoding, network=state.trainer.network)
        return
    tr = state.trainer = job.trainer
    guarded(state, "settings", lambda: apply_live(state))
    run_tracking.end_run(state)  # experiment log: the previous network's run ends (its curves are still here)
    state.history.clear()
    state.render_requested = True
    state.training = True  # a new network starts learning; loading weights pauses it again below
    state.pacing.steps = 1.0
    state.pacing.configure(tr.info.software)
    state.report(job.note or f"{job.request.reason}: {tr.parameter_count:,} parameters, "
                 f"{tr.mlp_path} MLP, compiled in {job.seconds:.1f} s", error=bool(job.note))
    if job.request.after is not None:
        guarded(state, job.request.reason, lambda: job.request.after(tr))


def apply_live(state: AppState) -> None:
    """Settings that need no recompile: loss, optimizer, transform, batch size, loss scaling."""
    tr = state.trainer
    if tr is not None:
        tr.apply(replace(state.preset, encoding=tr.encoding, network=tr.network))


def submit_encoder(state: AppState, encoder, on_done: Callable[[], None]) -> None:
    """Submits work recorded by a device task; ``on_done`` runs on the UI thread once the device is done."""
    sid = state.device.submit_command_buffer(encoder.finish())
    state.inflight.append(Submission(sid, 0, None, (0, 0), time.monotonic(), on_done=on_done))


def submit(state: AppState) -> None:
    """Queues the next submission when there is room, never behind a device task's work (its results
    are read back from device memory once done; training and renders copy theirs to host memory)."""
    queue = state.inflight
    if len(queue) >= state.pacing.queue_depth or any(sub.steps == 0 and sub.views is None for sub in queue):
        return
    if state.device_tasks or state.build_request is not None:
        return  # let the queue drain: they run when nothing is in flight
    tr, device, pacing = state.trainer, state.device, state.pacing
    steps = int(pacing.steps) if state.training else 0
    if state.single_steps:
        steps += state.single_steps
        state.single_steps = 0
        state.render_requested = True
    now = time.monotonic()
    render = state.render_requested or (steps > 0 and now - pacing.last_render >= pacing.render_interval())
    if not steps and not render:
        return
    size = state.view_size()
    enc = device.create_command_encoder()
    readout = None
    if steps:
        t0 = time.perf_counter()
        tr.append_steps(enc, steps)
        pacing.record_cost += 0.2 * ((time.perf_counter() - t0) / steps - pacing.record_cost)
        readout = tr.append_readout(enc)
    views = None
    if render:
        views = ViewReadback(device, enc, tr.append_render(enc, size, loss_scale=state.view.diff_scale), size)
    sid = device.submit_command_buffer(enc.finish())
    queue.append(Submission(sid, steps, views, size, time.monotonic(), readout=readout, step=tr.step))
    if render:
        state.render_requested = False
        pacing.last_render = now


def collect(state: AppState, frame_dt: float) -> None:
    sub = state.inflight.pop(0)
    tr = state.trainer
    if sub.readout is not None:
        loss, state.history.loss_scale = sub.readout.read()
        state.history.loss.add(sub.readout.step, tr.train_seconds, loss)
        try:
            tr.check_finite(loss)
        except StudioError as err:
            state.training = False
            state.report(str(err), error=True)
    if sub.views is not None:
        images = state.images
        images.arrays, rows = sub.views.read()
        images.size, images.step, images.recorded = sub.size, sub.step, sub.submitted
        images.serial += 1
        state.history.psnr.add(sub.step, tr.train_seconds, psnr_from_row_sums(rows, sub.size))
        elapsed = time.monotonic() - sub.submitted
        state.pacing.render_cost += 0.3 * (elapsed - state.pacing.render_cost)
    adapt_pacing(state, sub, frame_dt)
    if sub.on_done is not None:
        guarded(state, "finishing", sub.on_done)


def adapt_pacing(state: AppState, sub: Submission, frame_dt: float) -> None:
    """Steps per submission: grow while a submission finishes within the frame it became the oldest in,
    shrink when one takes more than three frames (settings and the loss curve lag behind) or when
    recording the steps would take a sizeable part of the frame budget. With a second submission
    queued behind it, the device never waits for the UI, so slow frames alone are not a reason to record
    fewer steps; but once the UI has fallen below its minimum frame rate (one submission in flight, see
    Pacing.adapt_queue) shorter submissions leave it longer gaps. Submissions with a render are not judged."""
    p = state.pacing
    p.adapt_queue(frame_dt)
    if sub.steps == 0 or sub.views is not None or not state.training:
        return
    starved = p.queue_depth == 1 and frame_dt > p.frame_budget  # the UI is below its floor: give it gaps
    if sub.polls >= 3 or starved or p.steps * p.record_cost > 0.25 * p.frame_budget:
        p.steps = max(1.0, p.steps * 0.8)
    elif sub.polls == 0:
        p.steps = min(float(MAX_STEPS_PER_FRAME), p.steps * 1.2 + 0.25)
