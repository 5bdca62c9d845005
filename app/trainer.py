"""The training core: one network on one texture: training steps, inference, metrics. No UI code here.

Frame order (one command encoder, one submit): N x [forward+backward -> weight-gradient partials ->
optimizer], then on demand inference -> reference/loss images -> PSNR. The step number and loss scale
live on the GPU (app/train_state.py), so a step's passes are bound once (app/step_passes.py) and each
recorded step costs a bind and a dispatch per pass. The MLP implementation (portable or CoopVec,
app/mlp_*.py) is chosen once, in app/device.py's choose_mlp_path.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .device import DeviceInfo, choose_mlp_path, describe
from .encoding_state import EncodingParameters
from .errors import StudioError
from .mlp_coopvec import CoopVecMLP, coopvec_supports
from .mlp_portable import PortableMLP
from .network import Layout, initial_parameters
from .limits import check_request, device_limits
from .preset import Preset
from .sampling import sampling_params
from .step_passes import StepPasses
from .texture import transform_id
from .train_state import Readout, TrainState
from .views import Views


PROGRESS_SIDE = 512      # long side of the view progress PSNR is measured on
UPLOAD_BAND_TEXELS = 1 << 22  # texels per upload of the training target (64 MB of float RGBA)


@dataclass
class TrainingStats:
    step: int
    samples: int
    loss: float
    seconds: float


class Trainer:
    def __init__(self, device, image: np.ndarray | None, preset: Preset, *, mlp_path: str | None = None,
                 seed: int | None = None):
        import slangpy as spy
        self._spy = spy
        self.device = device
        self.info: DeviceInfo = describe(device)
        self.preset = preset
        self.encoding = preset.encoding
        self.network = preset.network
        self.layout = Layout.of(self.encoding.output_dims, self.network)
        self.mlp_path = choose_mlp_path(self.info, mlp_path,
                                        coopvec_supports(self.network, self.encoding, preset.optimizer))
        self.limits = device_limits(device)
        texture = None if image is None else (image.shape[1], image.shape[0])
        check_request(self.limits, preset, self.mlp_path, texture=texture)  # before any buffer exists
        engine = CoopVecMLP if self.mlp_path == "coopvec" else PortableMLP
        self.mlp = engine(device, self.encoding, self.network, self.layout, software=self.info.software)
        self.encoding_state = (EncodingParameters(device, self.encoding, self.network.half)
                               if self.encoding.parameter_count else None)
        self.views = Views(device)
        self.loss = preset.loss
        self.optimizer = preset.optimizer
        self.encoding_optimizer_override = preset.encoding_optimizer
        self.transform = preset.training.transform
        self.state = TrainState(device)
        self._passes, self._passes_key = None, None
        self.loss_scale = preset.training.loss_scale if self.network.half else 1.0
        self.seed = preset.training.seed if seed is None else seed
        self.step = 0
        self.samples_seen = 0
        self.train_seconds = 0.0
        self.set_batch_size(preset.training.batch_size)
        # Without an image (inference from a weights file) the target is one black texel.
        self.set_image(np.zeros((1, 1, 3), np.float32) if image is None else image)
        self.reset(self.seed)

    # ---- setup ----
    def set_batch_size(self, batch: int) -> None:
        if batch < 1:
            raise StudioError("batch size must be at least 1")
        check_request(self.limits, self.preset.with_training(batch_size=batch), self.mlp_path)
        self.batch = batch
        self.mlp.set_batch_size(batch)

    def set_image(self, image: np.ndarray) -> None:
        """Uploads the training target (float RGB, H x W x 3) in bands of rows, so that the RGBA copy the
        texture needs never exists whole (an 8192 x 8192 texture would need 1 GB more)."""
        spy = self._spy
        image = np.asarray(image, np.float32)
        h, w = image.shape[:2]
        self.image_size = (w, h)
        self.target = self.device.create_texture(format=spy.Format.rgba32_float, width=w, height=h,
                                                 usage=spy.TextureUsage.shader_resource
                                                 | spy.TextureUsage.copy_destination)
        band = max(1, UPLOAD_BAND_TEXELS // w)
        for y0 in range(0, h, band):  # slangpy uploads whole textures only: a band texture, then a copy
            rows = image[y0:y0 + band]
            rgba = np.concatenate([rows, np.ones((*rows.shape[:2], 1), np.float32)], axis=2)
            part = self.device.create_texture(format=spy.Format.rgba32_float, width=w, height=rows.shape[0],
                                              usage=spy.TextureUsage.copy_source, data=rgba)
            enc = self.device.create_command_encoder()
            enc.copy_texture(self.target, 0, 0, spy.uint3(0, y0, 0), part, 0, 0, spy.uint3(0, 0, 0),
                             spy.uint3(w, rows.shape[0], 1))
            self.device.submit_command_buffer(enc.finish())
            self.device.wait_for_idle()  # frees the band before the next one

    def apply(self, preset: Preset) -> None:
        """The settings of ``preset`` that need no recompile: loss, optimizers, transform, batch size and the
        loss-scaling settings (the running loss scale itself continues). Its encoding and network must be
        this trainer's."""
        if (preset.encoding, preset.network) != (self.encoding, self.network):
            raise StudioError("a different encoding or network needs a new Trainer")
        refusal = coopvec_supports(self.network, self.encoding, preset.optimizer)
        if self.mlp_path == "coopvec" and refusal:
            raise StudioError(refusal)
        self.set_transform(preset.training.transform)
        if preset.training.batch_size != self.batch:
            self.set_batch_size(preset.training.batch_size)
        self.preset, self.loss, self.optimizer = preset, preset.loss, preset.optimizer
        self.encoding_optimizer_override = preset.encoding_optimizer

    def set_transform(self, name: str) -> None:
        transform_id(name)
        self.transform = name

    @property
    def parameter_count(self) -> int:
        """Trainable parameters: the MLP's, then the encoding's (as parameters() returns them)."""
        return self.layout.parameter_count + self.encoding.parameter_count

    def reset(self, seed: int | None = None) -> None:
        """Fresh seeded initial weights and optimizer state; the step counter restarts."""
        if seed is not None:
            self.seed = seed
        self.set_parameters(np.concatenate([initial_parameters(self.layout, self.seed),
                                            self.encoding.initial_parameters(self.seed)]))

    @property
    def loss_scale(self) -> float:
        """The initial (and, without dynamic scaling, constant) loss scale."""
        return self._loss_scale

    @loss_scale.setter
    def loss_scale(self, value: float) -> None:
        self._loss_scale = float(value)
        self._reset_scaler()

    def _reset_scaler(self) -> None:
        self.state.reset(self._loss_scale)

    def loss_scale_state(self) -> tuple[float, int]:
        """(current loss scale, steps skipped because their gradients were not finite)."""
        return self.state.read(self.step)

    def set_parameters(self, compact: np.ndarray) -> None:
        """Loads compact parameters (as files store them: the MLP's, then the encoding's); clears the
        optimizer state and step counter."""
        compact = np.asarray(compact, np.float32)
        if compact.shape != (self.parameter_count,):
            raise StudioError(f"this network has {self.parameter_count} parameters, got {compact.size}")
        n = self.layout.parameter_count
        self.mlp.set_parameters(compact[:n])
        if self.encoding_state:
            self.encoding_state.set_parameters(compact[n:])
        self._reset_scaler()
        self.step = 0
        self.samples_seen = 0
        self.train_seconds = 0.0

    def parameters(self) -> np.ndarray:
        """Compact float32 master parameters: the MLP's, then the encoding's."""
        if self.encoding_state:
            return np.concatenate([self.mlp.parameters(), self.encoding_state.parameters()])
        return self.mlp.parameters()

    def shader_vars(self) -> dict:
        """Global shader variables of the encoding (a trainable encoding's table and gradient)."""
        return self.encoding_state.shader_vars() if self.encoding_state else {}

    # ---- training ----
    def _live_settings(self) -> tuple:
        """Everything a bound step pass depends on; when it changes, the passes are bound again."""
        return (self.batch, self.loss, self.optimizer, self.encoding_optimizer_override, self.transform,
                self.preset.training, self.seed, self.target)

    def step_passes(self) -> StepPasses:
        key = self._live_settings()
        if key != self._passes_key:
            w, h = self.image_size
            training = self.preset.training
            pass_args = {"target": self.target, "target_size": self._spy.uint2(w, h),
                         "transform": transform_id(self.transform), "loss": self.loss.id, "batch": self.batch,
                         "seed": self.seed, "alpha": float(self.network.leaky_relu_alpha),
                         "sampling": sampling_params(training.sampling, self.image_size, self.batch),
                         # the loss is a mean over samples and channels; the loss scale comes from the GPU state.
                         # Each network of an array learns the mean over its own samples (about batch / tiles
                         # of them), so that learning rates carry over from a single network.
                         "grad_scale": float(self.layout.tiles / (self.batch * 3.0)),
                         "dynamic": int(training.dynamic_loss_scale and self.network.half),
                         "growth_interval": training.loss_scale_growth_interval}
            state = self.state.buffer
            opt = self.optimizer
            muon = opt.shader_params() if opt.otype == "muon" else None  # matrices: Muon; the rest: its AdamW
            table = None
            if self.encoding_state:
                table_opt = self.encoding_optimizer_override or opt.elementwise
                table = self.encoding_state.optimizer_args(table_opt.shader_params())
            gradient, update = self.mlp.training_passes(pass_args, opt.elementwise.shader_params(), state,
                                                        self.shader_vars(), table, muon=muon)
            self._passes, self._passes_key = StepPasses.bind(self.device, gradient, update), key
        return self._passes

    def append_steps(self, encoder, n: int, marshalled: bool = False) -> None:
        """Records n training steps into ``encoder`` (nothing runs until it is submitted). ``marshalled``:
        through slangpy's per-call argument marshalling instead of the bound passes (same results; slower)."""
        self.step_passes().record(encoder, self.step + 1, n, marshalled=marshalled)
        self.step += n
        self.samples_seen += n * self.batch

    def warm_up(self, size: tuple[int, int] | None = None, poll: bool = False) -> None:
        """Runs one step and one render (at ``size``, default a progress view), so that the driver compiles
        its pipelines now (lavapipe compiles at the first dispatch: 10-30 s per network cold), then puts
        the parameters back and restarts the step count. ``poll``: wait by polling instead of blocking in
        the driver (which holds Python's GIL), for a worker thread beside a UI."""
        saved = self.parameters()
        enc = self.device.create_command_encoder()
        self.append_steps(enc, 1)
        self.append_render(enc, size or self._progress_size())
        sid = self.device.submit_command_buffer(enc.finish())
        while poll and not self.device.is_submit_finished(sid):
            time.sleep(0.005)
        self.device.wait_for_idle()
        self.set_parameters(saved)

    def train(self, steps: int, steps_per_submit: int = 16) -> TrainingStats:
        """Runs ``steps`` training steps, ``steps_per_submit`` per command buffer; waits for the GPU."""
        t0 = time.perf_counter()
        done = 0
        while done < steps:
            n = min(steps_per_submit, steps - done)
            enc = self.device.create_command_encoder()
            self.append_steps(enc, n)
            self.device.submit_command_buffer(enc.finish())
            done += n
        self.device.wait_for_idle()
        self.train_seconds += time.perf_counter() - t0
        return TrainingStats(self.step, self.samples_seen, self.last_loss(), self.train_seconds)

    def gradients(self) -> np.ndarray:
        """Compact loss gradient for the batch the next step will draw, without updating anything
        (the loss scale is divided out; a network array's is multiplied by its tile count, see
        step_passes). For tests and diagnostics."""
        self.run_gradient_passes()
        grads = self.mlp.gradient_sum(self.step + 1) / self.loss_scale_state()[0]
        if self.encoding_state:  # its fixed point has the scale divided out
            grads = np.concatenate([grads, self.encoding_state.gradients()])
        return grads

    def run_gradient_passes(self) -> None:
        """Runs the gradient passes (forward, backward, weight-gradient partials) of the batch the next step
        will draw, and waits; reads and updates nothing. For tests and diagnostics."""
        enc = self.device.create_command_encoder()
        self.step_passes().record(enc, self.step + 1, 1, passes="gradient")
        self.device.submit_command_buffer(enc.finish())
        self.device.wait_for_idle()

    def batch_outputs(self) -> np.ndarray:
        """Network outputs (batch, 3) recorded by the most recent forward pass (portable path)."""
        return self.mlp.records_array()[self.layout.y_slot, :self.batch, :3].astype(np.float32)

    def batch_inputs(self) -> np.ndarray:
        """Encoded network inputs (batch, encoding dims) of the most recent forward pass (portable path)."""
        lay = self.layout
        rec = self.mlp.records_array()[:lay.in0_chunks, :self.batch, :]  # (chunks, batch, 4)
        return rec.transpose(1, 0, 2).reshape(self.batch, -1)[:, :lay.input_dims].astype(np.float32)

    def append_readout(self, encoder) -> Readout:
        """Records a copy of the last step's losses and the training state into host-visible memory."""
        return Readout(self.device, encoder, self.mlp.sample_loss, self.batch, self.state, self.step)

    def check_finite(self, loss: float | None = None) -> None:
        """Raises StudioError when training has diverged: a NaN or infinite loss, or (when ``loss`` is not
        given) MLP weights. A large encoding table is not read back: its values reach the loss."""
        if loss is None:
            loss = self.last_loss()
            finite = math.isfinite(loss) and np.isfinite(self.mlp.parameters()).all()
        else:
            finite = math.isfinite(loss)
        if self.step and not finite:
            advice = " or use float32 precision" if self.network.half else ""
            raise StudioError(f"training diverged at step {self.step} (loss is {loss}); lower the learning rate "
                              f"({self.optimizer.learning_rate:g}){advice}")

    def last_loss(self) -> float:
        """Mean loss of the most recent training step's batch (NaN before the first step)."""
        if self.step == 0:
            return math.nan
        return float(self.mlp.sample_losses(self.batch).astype(np.float64).mean())

    # ---- inference and images (app/views.py) ----
    def append_render(self, encoder, size: tuple[int, int] | None = None, loss_scale: float = 1.0,
                      tile: tuple[int, int, int, int] | None = None) -> dict:
        """Records the views of an image of ``size`` (default: the texture's) or of its (x, y, w, h) ``tile``."""
        return self.views.append(encoder, self, size, loss_scale, tile)

    def render(self, size: tuple[int, int] | None = None, loss_scale: float = 1.0,
               tile: tuple[int, int, int, int] | None = None) -> dict:
        enc = self.device.create_command_encoder()
        views = self.append_render(enc, size, loss_scale, tile)
        self.device.submit_command_buffer(enc.finish())
        self.device.wait_for_idle()
        return views

    def evaluate(self, size: tuple[int, int] | None = None, images: tuple[str, ...] = (),
                 eight_bit: bool = False) -> tuple[float, dict]:
        """PSNR at ``size`` (default: the texture's) and the requested views as float32 RGB, or uint8 with
        ``eight_bit`` (Views.evaluate)."""
        return self.views.evaluate(self, size, images, eight_bit)

    def psnr(self, size: tuple[int, int] | None = None) -> float:
        """PSNR (dB) of the prediction (clamped to [0,1]) against the transformed reference."""
        return self.evaluate(size)[0]

    def progress_psnr(self) -> float:
        """PSNR on a bounded-size view of the texture (long side at most PROGRESS_SIDE: a regular
        subsample of its texels), for progress reports that must not cost a full-resolution render."""
        return self.psnr(self._progress_size())

    def _progress_size(self) -> tuple[int, int]:
        w, h = self.image_size
        scale = min(1.0, PROGRESS_SIDE / max(w, h))
        return max(1, round(w * scale)), max(1, round(h * scale))

    def prediction(self, size: tuple[int, int] | None = None, eight_bit: bool = False) -> np.ndarray:
        """The network's image as float32 RGB (H, W, 3), unclamped, or as an image file's uint8 RGB."""
        return self.evaluate(size, ("prediction",), eight_bit)[1]["prediction"]

    def reference(self, size: tuple[int, int] | None = None) -> np.ndarray:
        return self.evaluate(size, ("reference",))[1]["reference"]
