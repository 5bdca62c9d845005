"""The training core: one network on one texture: training steps, inference, metrics. No UI code here.

Frame order (one command encoder, one submit): N x [forward+backward -> gradient reduction ->
optimizer], then on demand inference -> reference/loss images -> PSNR. The MLP implementation
(portable or CoopVec, app/mlp_*.py) is chosen once, in app/device.py's choose_mlp_path.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .device import DeviceInfo, choose_mlp_path, describe
from .encoding_state import EncodingParameters
from .errors import StudioError
from .kernels import image_kernels
from .mlp_coopvec import CoopVecMLP, coopvec_supports
from .mlp_portable import PortableMLP
from .network import Layout, initial_parameters
from .preset import Preset
from .texture import transform_id


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
        self.mlp_path = choose_mlp_path(self.info, mlp_path, coopvec_supports(self.network, self.encoding))
        engine = CoopVecMLP if self.mlp_path == "coopvec" else PortableMLP
        self.mlp = engine(device, self.encoding, self.network, self.layout, software=self.info.software)
        self.encoding_state = (EncodingParameters(device, self.encoding, self.network.half)
                               if self.encoding.parameter_count else None)
        self.images = image_kernels(device)
        self.loss = preset.loss
        self.optimizer = preset.optimizer
        self.encoding_optimizer_override = preset.encoding_optimizer
        self.transform = preset.training.transform
        self.scaler = device.create_buffer(element_count=4, struct_size=4,
                                           usage=spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access)
        self.loss_scale = preset.training.loss_scale if self.network.half else 1.0
        self.seed = preset.training.seed if seed is None else seed
        self.step = 0
        self.samples_seen = 0
        self.train_seconds = 0.0
        self._views = {}
        self.set_batch_size(preset.training.batch_size)
        # Without an image (inference from a weights file) the target is one black texel.
        self.set_image(np.zeros((1, 1, 3), np.float32) if image is None else image)
        self.reset(self.seed)

    # ---- setup ----
    def set_batch_size(self, batch: int) -> None:
        if batch < 1:
            raise StudioError("batch size must be at least 1")
        self.batch = batch
        self.mlp.set_batch_size(batch)

    def set_image(self, image: np.ndarray) -> None:
        spy = self._spy
        image = np.asarray(image, np.float32)
        h, w = image.shape[:2]
        rgba = np.concatenate([image, np.ones((h, w, 1), np.float32)], axis=2)
        self.image = image
        self.image_size = (w, h)
        self.target = self.device.create_texture(format=spy.Format.rgba32_float, width=w, height=h,
                                                 usage=spy.TextureUsage.shader_resource, data=rgba)

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
        words = np.array([np.float32(self._loss_scale).view(np.uint32), 0, 0, 0], np.uint32)
        self.scaler.copy_from_numpy(words)

    def loss_scale_state(self) -> tuple[float, int]:
        """(current loss scale, steps skipped because their gradients were not finite)."""
        words = self.scaler.to_numpy().view(np.uint32)
        return float(words[:1].view(np.float32)[0]), int(words[2])

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

    def _shader_vars(self) -> dict:
        return self.encoding_state.shader_vars() if self.encoding_state else {}

    # ---- training ----
    def _pass_args(self, step: int) -> dict:
        w, h = self.image_size
        return {"target": self.target, "target_size": self._spy.uint2(w, h),
                "transform": transform_id(self.transform), "loss": self.loss.id, "batch": self.batch,
                "seed": self.seed, "step": step, "alpha": float(self.network.leaky_relu_alpha),
                # the loss is a mean over samples and channels; the loss scale comes from the GPU state
                "grad_scale": float(1.0 / (self.batch * 3.0)), "scaler": self.scaler}

    def append_steps(self, encoder, n: int) -> None:
        """Records n training steps into ``encoder`` (nothing runs until it is submitted)."""
        for _ in range(n):
            self.step += 1
            self.mlp.append_gradients(encoder, self._pass_args(self.step), self._shader_vars())
            if self.encoding_state:  # flag non-finite table gradients before either optimizer runs
                self.encoding_state.append_check(encoder, self.mlp.kernels, self.scaler)
            self.mlp.append_optimizer(encoder, self.optimizer.shader_params(self.step), self.scaler)
            if self.encoding_state:
                opt = self.encoding_optimizer_override or self.optimizer
                self.encoding_state.append_optimizer(encoder, self.mlp.kernels, opt.shader_params(self.step),
                                                     self.scaler)
            training = self.preset.training
            self.images.update_loss_scale.dispatch(
                thread_count=[1, 1, 1], command_encoder=encoder, scaler=self.scaler,
                dynamic=int(training.dynamic_loss_scale and self.network.half),
                growth_interval=training.loss_scale_growth_interval)
        self.samples_seen += n * self.batch

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
        (the loss scale is divided out). For tests and diagnostics."""
        enc = self.device.create_command_encoder()
        self.mlp.append_gradients(enc, self._pass_args(self.step + 1), self._shader_vars())
        self.device.submit_command_buffer(enc.finish())
        self.device.wait_for_idle()
        grads = self.mlp.gradient_sum()
        if self.encoding_state:
            grads = np.concatenate([grads, self.encoding_state.gradients()])
        return grads / self.loss_scale_state()[0]

    def batch_outputs(self) -> np.ndarray:
        """Network outputs (batch, 3) recorded by the most recent forward pass (portable path)."""
        return self.mlp.records_array()[self.layout.y_slot, :self.batch, :3].astype(np.float32)

    def batch_inputs(self) -> np.ndarray:
        """Encoded network inputs (batch, encoding dims) of the most recent forward pass (portable path)."""
        lay = self.layout
        rec = self.mlp.records_array()[:lay.in0_chunks, :self.batch, :]  # (chunks, batch, 4)
        return rec.transpose(1, 0, 2).reshape(self.batch, -1)[:, :lay.input_dims].astype(np.float32)

    def check_finite(self) -> None:
        """Raises StudioError when training has diverged (NaN or infinite loss or MLP weights; the window
        calls this every frame, so a large encoding table is not read back: its values reach the loss)."""
        loss = self.last_loss()
        if self.step and not (math.isfinite(loss) and np.isfinite(self.mlp.parameters()).all()):
            advice = " or use float32 precision" if self.network.half else ""
            raise StudioError(f"training diverged at step {self.step} (loss is {loss}); lower the learning rate "
                              f"({self.optimizer.learning_rate:g}){advice}")

    def last_loss(self) -> float:
        """Mean loss of the most recent training step's batch (NaN before the first step)."""
        if self.step == 0:
            return math.nan
        return float(self.mlp.sample_losses(self.batch).astype(np.float64).mean())

    # ---- inference and images ----
    def _view_textures(self, size: tuple[int, int]):
        if size not in self._views:
            spy = self._spy
            usage = spy.TextureUsage.shader_resource | spy.TextureUsage.unordered_access
            make = lambda: self.device.create_texture(format=spy.Format.rgba32_float, width=size[0],
                                                      height=size[1], usage=usage)
            self._views[size] = {name: make() for name in ("prediction", "reference", "loss")}
            self._views[size]["row_sums"] = self.device.create_buffer(
                element_count=size[1], struct_size=4, usage=spy.BufferUsage.unordered_access)
        return self._views[size]

    def append_render(self, encoder, size: tuple[int, int] | None = None, loss_scale: float = 1.0) -> dict:
        """Records inference, the transformed reference and the loss view at ``size`` (default: the texture's)."""
        spy = self._spy
        size = tuple(size or self.image_size)
        views = self._view_textures(size)
        self.mlp.append_infer(encoder, size, views["prediction"], float(self.network.leaky_relu_alpha),
                              self._shader_vars())
        img = self.images
        w, h = self.image_size
        dims = spy.uint2(*size)
        img.reference.dispatch(thread_count=[size[0], size[1], 1], command_encoder=encoder, source=self.target,
                               source_size=spy.uint2(w, h), transform=transform_id(self.transform),
                               image_size=dims, output=views["reference"])
        img.loss_visualization.dispatch(thread_count=[size[0], size[1], 1], command_encoder=encoder,
                                        prediction=views["prediction"], reference=views["reference"],
                                        image_size=dims, scale=float(loss_scale), output=views["loss"])
        img.squared_error_rows.dispatch(thread_count=[size[1], 1, 1], command_encoder=encoder,
                                        prediction=views["prediction"], reference=views["reference"],
                                        image_size=dims, row_sums=views["row_sums"])
        return views

    def render(self, size: tuple[int, int] | None = None, loss_scale: float = 1.0) -> dict:
        enc = self.device.create_command_encoder()
        views = self.append_render(enc, size, loss_scale)
        self.device.submit_command_buffer(enc.finish())
        self.device.wait_for_idle()
        return views

    def psnr(self, size: tuple[int, int] | None = None) -> float:
        """PSNR (dB) of the full prediction (clamped to [0,1]) against the transformed reference."""
        size = tuple(size or self.image_size)
        views = self.render(size)
        return psnr_from_row_sums(views["row_sums"].to_numpy().view(np.float32), size)

    def prediction(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """The network's image as float32 RGB (H, W, 3), unclamped."""
        return self.render(size)["prediction"].to_numpy()[:, :, :3].copy()

    def reference(self, size: tuple[int, int] | None = None) -> np.ndarray:
        return self.render(size)["reference"].to_numpy()[:, :, :3].copy()


def psnr_from_row_sums(row_sums: np.ndarray, size: tuple[int, int]) -> float:
    mse = float(np.asarray(row_sums, np.float64).sum()) / (size[0] * size[1] * 3)
    return float("inf") if mse <= 0 else 10.0 * math.log10(1.0 / mse)
