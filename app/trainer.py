"""The training core: GPU buffers for one network on one texture, training steps, inference and metrics.

Frame order (one command encoder, one submit): N x [train_forward_backward -> weight_gradients ->
optimizer_step], then on demand infer_pixels -> reference/loss images -> PSNR. No UI code here.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .device import DeviceInfo, choose_mlp_path, describe
from .errors import StudioError
from .kernels import image_kernels, network_kernels
from .network import Layout, initial_parameters
from .preset import Preset
from .texture import transform_id

INFER_CHUNK = 1 << 16  # pixels per inference dispatch: bounds the record buffer at any resolution


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
        self.mlp_path = choose_mlp_path(self.info, mlp_path)
        if self.mlp_path != "portable":
            raise StudioError("the CoopVec training path is not implemented yet; use --mlp portable")
        self.preset = preset
        self.encoding = preset.encoding
        self.network = preset.network
        self.layout = Layout.of(self.encoding.output_dims, self.network)
        self.kernels = network_kernels(device, self.encoding, self.network, self.layout)
        self.images = image_kernels(device)
        self.loss = preset.loss
        self.optimizer = preset.optimizer
        self.transform = preset.training.transform
        self.loss_scale = preset.training.loss_scale if self.network.half else 1.0
        self.seed = preset.training.seed if seed is None else seed
        self.step = 0
        self.samples_seen = 0
        self.train_seconds = 0.0
        self._weight_format = spy.Format.rgba16_float if self.network.half else spy.Format.rgba32_float
        self._usage = spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access
        n4 = self.layout.wf_float4s
        bytes_per_float4 = 8 if self.network.half else 16
        self.wf = device.create_buffer(size=n4 * bytes_per_float4, format=self._weight_format, usage=self._usage)
        self.wt = device.create_buffer(size=self.layout.wt_float4s * bytes_per_float4, format=self._weight_format,
                                       usage=self._usage)
        nf = self.layout.padded_floats
        self.master = self._float_buffer(nf)
        self.moment1 = self._float_buffer(nf)
        self.moment2 = self._float_buffer(nf)
        self._batch_buffers_for = None
        self._infer_records = None
        self.set_batch_size(preset.training.batch_size)
        # Without an image (inference from a weights file) the target is one black texel.
        self.set_image(np.zeros((1, 1, 3), np.float32) if image is None else image)
        self.reset(self.seed)

    # ---- setup ----
    def _float_buffer(self, n: int, data: np.ndarray | None = None):
        return self.device.create_buffer(element_count=n, struct_size=4, usage=self._usage,
                                         data=None if data is None else np.ascontiguousarray(data, np.float32))

    def _records(self, stride: int):
        fmt = self._weight_format
        size = self.layout.record_slots * stride * (8 if self.network.half else 16)
        return self.device.create_buffer(size=size, format=fmt, usage=self._usage)

    def set_batch_size(self, batch: int) -> None:
        if batch < 1:
            raise StudioError("batch size must be at least 1")
        spt = self.kernels.samples_per_thread
        group = 64 * spt
        self.batch = batch
        self.stride = (batch + group - 1) // group * group
        if self._batch_buffers_for == self.stride:
            return
        # Partition the batch for the gradient reduction: each partition's 8 lanes give 8 partial rows.
        partitions = max(1, min(16, self.stride // 1024))
        while self.stride % (partitions * 8):
            partitions -= 1
        self.partitions = partitions
        self.partition_len = self.stride // partitions
        self.records = self._records(self.stride)
        self.sample_loss = self.device.create_buffer(size=self.stride * 4, format=self._spy.Format.r32_float,
                                                     usage=self._usage)
        self.partials = self._float_buffer(self.partitions * 8 * self.layout.padded_floats)
        self._batch_buffers_for = self.stride

    def set_image(self, image: np.ndarray) -> None:
        spy = self._spy
        image = np.asarray(image, np.float32)
        h, w = image.shape[:2]
        rgba = np.concatenate([image, np.ones((h, w, 1), np.float32)], axis=2)
        self.image = image
        self.image_size = (w, h)
        self.target = self.device.create_texture(format=spy.Format.rgba32_float, width=w, height=h,
                                                 usage=spy.TextureUsage.shader_resource, data=rgba)
        self._views = {}

    def set_transform(self, name: str) -> None:
        transform_id(name)
        self.transform = name

    def reset(self, seed: int | None = None) -> None:
        """Fresh seeded initial weights and optimizer state; the step counter restarts."""
        if seed is not None:
            self.seed = seed
        self.set_parameters(initial_parameters(self.layout, self.seed))

    def set_parameters(self, compact: np.ndarray) -> None:
        """Loads compact parameters (as files store them); clears the optimizer state."""
        self.master.copy_from_numpy(self.layout.pack(compact))
        zeros = np.zeros(self.layout.padded_floats, np.float32)
        self.moment1.copy_from_numpy(zeros)
        self.moment2.copy_from_numpy(zeros)
        self.step = 0
        self.samples_seen = 0
        self.train_seconds = 0.0
        enc = self.device.create_command_encoder()
        self.kernels.publish.dispatch(thread_count=[self._optimizer_units(), 1, 1], command_encoder=enc,
                                      master=self.master, wf=self.wf, wt=self.wt)
        self.device.submit_command_buffer(enc.finish())

    def parameters(self) -> np.ndarray:
        """Compact float32 master parameters."""
        return self.layout.unpack(self.master.to_numpy().view(np.float32))

    def _optimizer_units(self) -> int:
        lay = self.layout
        return sum(lay.out_rows(l) // 4 * (lay.in_chunks(l) + 1) for l in range(lay.layers))

    def _gradient_threads(self) -> int:
        lay = self.layout
        tasks = sum(lay.out_rows(l) // 8 * (lay.in_chunks(l) // 2 + 1) for l in range(lay.layers))
        return tasks * self.partitions * 8

    # ---- training ----
    def append_steps(self, encoder, n: int) -> None:
        """Records n training steps into ``encoder`` (nothing runs until it is submitted)."""
        for _ in range(n):
            self.step += 1
            self._append_gradients(encoder, self.step)
            self._append_optimizer(encoder, self.step)
        self.samples_seen += n * self.batch

    def _append_gradients(self, encoder, step: int) -> None:
        spy = self._spy
        k = self.kernels
        w, h = self.image_size
        grad_scale = self.loss_scale / (self.batch * 3.0)  # mean over samples and channels, times loss scale
        k.train.dispatch(
            thread_count=[self.stride // k.samples_per_thread, 1, 1], command_encoder=encoder,
            wf=self.wf, wt=self.wt, records=self.records, sample_loss=self.sample_loss, target=self.target,
            target_size=spy.uint2(w, h), transform=transform_id(self.transform), loss=self.loss.id,
            batch=self.batch, stride=self.stride, seed=self.seed, step=step,
            alpha=float(self.network.leaky_relu_alpha), grad_scale=float(grad_scale))
        k.weight_gradients.dispatch(
            thread_count=[self._gradient_threads(), 1, 1], command_encoder=encoder,
            records=self.records, stride=self.stride, partitions=self.partitions,
            partition_len=self.partition_len, partials=self.partials, param_floats=self.layout.padded_floats)

    def _append_optimizer(self, encoder, step: int) -> None:
        opt = self.optimizer
        self.kernels.optimizer.dispatch(
            thread_count=[self._optimizer_units(), 1, 1], command_encoder=encoder,
            partials=self.partials, partial_rows=self.partitions * 8, param_floats=self.layout.padded_floats,
            master=self.master, moment1=self.moment1, moment2=self.moment2, wf=self.wf, wt=self.wt,
            optimizer=opt.id, learning_rate=float(opt.learning_rate), beta1=float(opt.beta1),
            beta2=float(opt.beta2), epsilon=float(opt.epsilon), inv_loss_scale=float(1.0 / self.loss_scale),
            adam_step=step)

    def gradients(self) -> np.ndarray:
        """Compact loss gradient for the batch the next step will draw, without updating anything
        (the loss scale is divided out). For tests and diagnostics."""
        enc = self.device.create_command_encoder()
        self._append_gradients(enc, self.step + 1)
        self.device.submit_command_buffer(enc.finish())
        self.device.wait_for_idle()
        rows = self.partials.to_numpy().view(np.float32).reshape(self.partitions * 8, -1)
        return self.layout.unpack(rows.astype(np.float64).sum(axis=0) / self.loss_scale)

    def _read_records(self) -> np.ndarray:
        dtype = np.float16 if self.network.half else np.float32
        return self.records.to_numpy().view(dtype).reshape(self.layout.record_slots, self.stride, 4)

    def batch_outputs(self) -> np.ndarray:
        """Network outputs (batch, 3) recorded by the most recent forward pass."""
        return self._read_records()[self.layout.y_slot, :self.batch, :3].astype(np.float32)

    def batch_inputs(self) -> np.ndarray:
        """Encoded network inputs (batch, encoding dims) of the most recent forward pass."""
        lay = self.layout
        rec = self._read_records()[:lay.in0_chunks, :self.batch, :]  # (chunks, batch, 4)
        return rec.transpose(1, 0, 2).reshape(self.batch, -1)[:, :lay.input_dims].astype(np.float32)

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

    def check_finite(self) -> None:
        """Raises StudioError when training has diverged (NaN or infinite loss)."""
        loss = self.last_loss()
        if self.step and not (math.isfinite(loss) and np.isfinite(self.parameters()).all()):
            raise StudioError(f"training diverged at step {self.step} (loss is {loss}); lower the learning rate "
                              f"({self.optimizer.learning_rate:g}) or use float32 precision")

    def last_loss(self) -> float:
        """Mean loss of the most recent training step's batch (NaN before the first step)."""
        if self.step == 0:
            return math.nan
        return float(self.sample_loss.to_numpy().view(np.float32)[:self.batch].astype(np.float64).mean())

    # ---- inference and images ----
    def _view_textures(self, size: tuple[int, int]):
        if size not in self._views:
            spy = self._spy
            usage = spy.TextureUsage.shader_resource | spy.TextureUsage.unordered_access
            make = lambda fmt: self.device.create_texture(format=fmt, width=size[0], height=size[1], usage=usage)
            self._views[size] = {name: make(spy.Format.rgba32_float) for name in ("prediction", "reference", "loss")}
            self._views[size]["row_sums"] = self._float_buffer(size[1])
        return self._views[size]

    def append_render(self, encoder, size: tuple[int, int] | None = None, loss_scale: float = 1.0) -> dict:
        """Records inference, the transformed reference and the loss view at ``size`` (default: the texture's)."""
        spy = self._spy
        size = size or self.image_size
        views = self._view_textures(size)
        k = self.kernels
        if self._infer_records is None:
            self._infer_records = self._records(INFER_CHUNK)
        pixels = size[0] * size[1]
        for first in range(0, pixels, INFER_CHUNK):
            count = min(INFER_CHUNK, pixels - first)
            k.infer.dispatch(thread_count=[(count + 63) // 64 * 64 // k.samples_per_thread, 1, 1],
                             command_encoder=encoder, wf=self.wf, records=self._infer_records, stride=INFER_CHUNK,
                             first_pixel=first, image_size=spy.uint2(*size),
                             alpha=float(self.network.leaky_relu_alpha), output=views["prediction"])
        img = self.images
        w, h = self.image_size
        img.reference.dispatch(thread_count=[size[0], size[1], 1], command_encoder=encoder, source=self.target,
                               source_size=spy.uint2(w, h), transform=transform_id(self.transform),
                               image_size=spy.uint2(*size), output=views["reference"])
        img.loss_visualization.dispatch(thread_count=[size[0], size[1], 1], command_encoder=encoder,
                                        prediction=views["prediction"], reference=views["reference"],
                                        image_size=spy.uint2(*size), scale=float(loss_scale), output=views["loss"])
        img.squared_error_rows.dispatch(thread_count=[size[1], 1, 1], command_encoder=encoder,
                                        prediction=views["prediction"], reference=views["reference"],
                                        image_size=spy.uint2(*size), row_sums=views["row_sums"])
        return views

    def render(self, size: tuple[int, int] | None = None, loss_scale: float = 1.0) -> dict:
        enc = self.device.create_command_encoder()
        views = self.append_render(enc, size, loss_scale)
        self.device.submit_command_buffer(enc.finish())
        self.device.wait_for_idle()
        return views

    def psnr(self, size: tuple[int, int] | None = None) -> float:
        """PSNR (dB) of the full prediction (clamped to [0,1]) against the transformed reference."""
        views = self.render(size)
        return psnr_from_row_sums(views["row_sums"].to_numpy().view(np.float32), size or self.image_size)

    def prediction(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """The network's image as float32 RGB (H, W, 3), unclamped."""
        views = self.render(size)
        return views["prediction"].to_numpy()[:, :, :3].copy()

    def reference(self, size: tuple[int, int] | None = None) -> np.ndarray:
        return self.render(size)["reference"].to_numpy()[:, :, :3].copy()


def psnr_from_row_sums(row_sums: np.ndarray, size: tuple[int, int]) -> float:
    mse = float(np.asarray(row_sums, np.float64).sum()) / (size[0] * size[1] * 3)
    return float("inf") if mse <= 0 else 10.0 * math.log10(1.0 / mse)
