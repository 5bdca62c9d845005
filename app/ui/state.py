"""The window's state: one AppState the panels read and edit (no module globals), so tests can inspect it."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..preset import PRESET_DIR, Preset

TEXTURE_DIR = Path(__file__).resolve().parents[2] / "textures"
VIEW_NAMES = ("reference", "prediction", "loss")
MAX_HISTORY = 4000  # points per curve before thinning to every other point


@dataclass
class Message:
    text: str
    error: bool = False
    time: float = field(default_factory=time.monotonic)


@dataclass
class Texture:
    """The training image as the core sees it (float RGB) plus what the texture panel shows."""
    name: str
    image: np.ndarray
    path: Path | None = None
    channels: int = 3
    bits: str = "8-bit"

    @property
    def size(self) -> tuple[int, int]:
        return self.image.shape[1], self.image.shape[0]


@dataclass
class Curve:
    steps: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, step: float, seconds: float, value: float) -> None:
        self.steps.append(step)
        self.seconds.append(seconds)
        self.values.append(value)
        if len(self.values) > MAX_HISTORY:  # thin old points, keep the newest
            for series in (self.steps, self.seconds, self.values):
                series[:] = series[:-1:2] + [series[-1]]

    def clear(self) -> None:
        for series in (self.steps, self.seconds, self.values):
            series.clear()

    def last(self) -> float:
        return self.values[-1] if self.values else float("nan")


@dataclass
class History:
    loss: Curve = field(default_factory=Curve)
    psnr: Curve = field(default_factory=Curve)
    loss_scale: tuple[float, int] = (1.0, 0)  # current loss scale, steps skipped for non-finite gradients
    x_axis: str = "steps"  # or "seconds"

    def clear(self) -> None:
        self.loss.clear()
        self.psnr.clear()


@dataclass
class Images:
    """The last rendered views, read back from the GPU: float RGB (H, W, 3) per view name."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    size: tuple[int, int] = (0, 0)
    step: int = 0          # training step the views show
    serial: int = 0        # increments on every new render (GL uploads and tests watch it)
    recorded: float = 0.0  # time.monotonic() when the render shown was recorded


@dataclass
class ViewSettings:
    mode: str = "side by side"   # or one of VIEW_NAMES
    zoom: float = 1.0            # 1 = whole image
    center: tuple[float, float] = (0.5, 0.5)   # texture uv at the middle of every view
    diff_scale: float = 4.0      # "difference xN" of the loss view
    max_side: int = 256          # view resolution: the texture scaled down to this long side
    hover: tuple[int, int] | None = None       # view pixel under the cursor
    tile_psnr: bool = False      # network arrays: per-tile PSNR as a heat map over the loss view


@dataclass
class Pacing:
    """Per-frame GPU work, adapted so the UI stays smooth (see engine.adapt_pacing)."""
    frame_budget: float = 1 / 45          # seconds per UI frame to stay under
    fps_max: float = 0.0                  # cap on the UI frame rate (0: none), leaves a CPU device time
    min_render_interval: float = 0.05     # seconds between view refreshes while training
    steps: float = 1.0                    # training steps recorded per submission
    record_cost: float = 100e-6           # host seconds to record one step (moving average)
    queue_depth: int = 2                  # training submissions in flight (see adapt_queue)
    min_fps: float = 30.0                 # frame rate below which the queue shrinks to one submission
    frame_time: float = 0.0               # seconds per UI frame (moving average)
    render_cost: float = 0.02             # seconds a submission with a render takes (moving average)
    render_share: float = 1 / 6           # most of the device's time the view refreshes may take
    last_render: float = 0.0
    software: bool = False                # the device is the CPU (lavapipe)
    chosen_cap: float | None = None       # the user's frame-rate cap (Training panel); None: the device's default

    def configure(self, software: bool) -> None:
        """A software device (lavapipe) shares the CPU with the UI, whose GL is software too (llvmpipe's
        threads drew ~0.18 core at 11 frames/s, measured, 0.43 before docked windows left their background
        to the clear): fewer frames (11/s unless the user chooses otherwise), rarer renders."""
        self.software = software
        self.min_render_interval = 0.5 if software else 0.05
        self.render_share = 0.1 if software else 1 / 6
        self.set_frame_cap(self.chosen_cap)

    def frame_caps(self) -> tuple[float, ...]:
        """The caps the user may choose on this device (0: none; a software device's window needs one, as
        every frame it draws takes CPU from training)."""
        return (10.0, 11.0, 15.0, 20.0, 30.0) if self.software else (0.0, 30.0, 60.0, 120.0)

    def set_frame_cap(self, fps: float | None) -> None:
        """Caps the frame rate at ``fps`` (0: uncapped; None: the device's default, 11 on a software device,
        none on a GPU). The pacing keeps the window above min_fps, 10% under the cap (uncapped: 60)."""
        self.chosen_cap = fps
        cap = (11.0 if self.software else 0.0) if fps is None else fps
        self.fps_max = cap
        self.frame_budget = 1 / cap if cap else 1 / 45
        self.min_fps = cap / 1.1 if cap else 60.0

    def adapt_queue(self, frame_dt: float) -> None:
        """Two submissions in flight keep the device busy while the UI draws; on a software device that
        also takes the CPU the UI draws with, so below min_fps one submission at a time gives the UI the
        gaps back, until it is 5% above min_fps again (fps_max must leave room for that)."""
        self.frame_time += 0.1 * (frame_dt - self.frame_time)
        if self.frame_time > 1.0 / self.min_fps:
            self.queue_depth = 1
        elif self.frame_time < 1.0 / (self.min_fps * 1.05):
            self.queue_depth = 2

    def render_interval(self) -> float:
        """Seconds between view refreshes: renders take at most render_share of the device."""
        return max(self.min_render_interval, (1.0 / self.render_share - 1.0) * self.render_cost)


@dataclass
class Submission:
    """One command buffer in flight: training steps and/or a render, one submit."""
    id: int
    steps: int
    views: dict | None
    size: tuple[int, int]
    submitted: float
    polls: int = 0
    on_done: Callable[[], None] | None = None   # e.g. writing an exported image once the device is done
    readout: object | None = None               # train_state.Readout of the last step's loss and state
    step: int = 0                               # the trainer's step count once this submission's steps ran


@dataclass
class DeviceShare:
    """How the device's time goes while the window trains, measured at frame granularity: the share of
    wall time whose frames found training work, a render, or nothing at the head of the queue (moving
    averages over about five seconds)."""
    training: float = 0.0
    render: float = 0.0
    idle: float = 0.0

    def add(self, dt: float, head: Submission | None, training: bool) -> None:
        if not training or dt <= 0:
            return
        kind = "idle" if head is None else ("training" if head.steps and head.views is None else "render")
        a = min(1.0, dt / 5.0)
        for name in ("training", "render", "idle"):
            setattr(self, name, (1 - a) * getattr(self, name) + a * (1.0 if name == kind else 0.0))


@dataclass
class BuildRequest:
    preset: Preset
    after: Callable | None = None   # called with the new Trainer on the UI thread once it is swapped in
    reason: str = ""


@dataclass
class AppState:
    preset: Preset                     # desired settings; architecture changes become a new Trainer
    texture: Texture | None = None
    mlp_request: str | None = None     # --mlp; None lets the core choose
    preset_dir: Path = PRESET_DIR
    texture_dir: Path = TEXTURE_DIR
    device: object | None = None
    trainer: object | None = None      # app.trainer.Trainer
    training: bool = True
    single_steps: int = 0
    render_requested: bool = True
    build: object | None = None        # engine.BuildJob while a network compiles in the background
    build_request: BuildRequest | None = None
    inflight: list[Submission] = field(default_factory=list)   # oldest first
    share: DeviceShare = field(default_factory=DeviceShare)
    device_tasks: list[tuple[str, Callable]] = field(default_factory=list)
    pacing: Pacing = field(default_factory=Pacing)
    history: History = field(default_factory=History)
    images: Images = field(default_factory=Images)
    view: ViewSettings = field(default_factory=ViewSettings)
    message: Message | None = None
    frames: int = 0
    pending_weights: object | None = None   # (path, WeightsFile) awaiting "switch architecture?"
    preset_name_edit: str = ""
    edits: dict = field(default_factory=dict)        # slider values being dragged, committed on release
    dialogs: dict = field(default_factory=dict)      # name -> FileBrowser
    gl_images: dict = field(default_factory=dict)    # view name -> gl_texture.GlImage
    tile_psnr_cache: tuple = (None, None)             # ((images serial, tiles), per-tile PSNR) of the heat map
    popups_to_open: list[str] = field(default_factory=list)
    quality: object | None = None                    # panel_quality.QualityPanel: codec curves, metrics, search
    runs: object | None = None                       # run_tracking.WindowRuns: the experiment log

    def report(self, text: str, error: bool = False) -> None:
        self.message = Message(text, error)
        if error:
            print(f"error: {text}", flush=True)

    @property
    def busy(self) -> bool:
        """Whether frames must keep coming (training, compiling or GPU work pending)."""
        return bool(self.training or self.build or self.build_request or self.inflight or self.device_tasks
                    or self.single_steps or self.render_requested)

    def view_size(self) -> tuple[int, int]:
        """The texture's size scaled down so its long side is at most view.max_side."""
        if self.texture is None:
            return (1, 1)
        w, h = self.texture.size
        s = min(1.0, self.view.max_side / max(w, h))
        return max(1, round(w * s)), max(1, round(h * s))
