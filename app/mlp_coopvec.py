"""GPU state and passes of the cooperative-vector MLP (shaders/mlp_coopvec.slang, train_coopvec.slang).

Weights and gradients are float16 in the device's training-optimal matrix layout, biases plain float16
after each matrix, all in one buffer; the float32 master copy and Adam moments are indexed element by
element like it (RTXNS's arrangement), so the optimizer is elementwise and never needs the layout.
Files keep the portable compact layout: ``pack``/``unpack`` convert on the host with slangpy's
``Device.convert_coop_vec_matrix``.
"""
from __future__ import annotations

import numpy as np

from .errors import StudioError
from .kernels import coopvec_kernels
from .network import Layout
from .step_passes import PassSpec

ALIGN = 64  # bytes; matrix and bias blocks start on this boundary


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


MUON_REFUSAL = ("the CoopVec path does not run Muon: Muon orthogonalises each layer's weight matrix, which "
                "CoopVec keeps in the device's training-optimal layout (use the portable path)")


def coopvec_supports(network, encoding=None, optimizer=None) -> str | None:
    """Why this network (trained with ``optimizer``) cannot use the CoopVec path, or None when it can."""
    if optimizer is not None and optimizer.otype == "muon":
        return MUON_REFUSAL
    if network.is_array:
        # Its matrix calls take one matrix per call; a workgroup of one region could pass its tile's
        # offset, but that path is not written (and cannot be run on the machines this is tested on).
        return "the CoopVec path does not train network arrays (otype array) yet"
    if encoding is not None and encoding.parameter_count:
        return "the CoopVec path does not train encodings with parameters (hash grids) yet"
    if not network.half:
        return "the CoopVec path trains float16 networks only (this one is float32)"
    if network.needs_preactivation:
        return "the CoopVec path does not support silu or sine activations yet"
    if network.n_neurons % 8:
        return f"the CoopVec path needs a hidden width that is a multiple of 8 (this one is {network.n_neurons})"
    return None


class CoopVecPlacement:
    """Byte offsets of every layer's matrix (training-optimal) and bias in the parameter buffer."""

    def __init__(self, device, layout: Layout):
        import slangpy as spy
        self.layout = layout
        self.matrix_descs, self.weight_offsets, self.bias_offsets = [], [], []
        at = 0
        for l in range(layout.layers):
            rows, cols = layout.out_rows(l), layout.in_chunks(l) * 4
            desc = device.create_coop_vec_matrix_desc(rows, cols, spy.CoopVecMatrixLayout.training_optimal,
                                                      spy.DataType.float16, at)
            self.matrix_descs.append(desc)
            self.weight_offsets.append(at)
            at = _align(at + desc.size)
            self.bias_offsets.append(at)
            at = _align(at + rows * 2)
        self.total_bytes = at

    def pack(self, device, compact: np.ndarray) -> bytes:
        """Compact float32 parameters -> this device's float16 parameter buffer contents."""
        import slangpy as spy
        lay = self.layout
        out = bytearray(self.total_bytes)
        for l, (w, b) in enumerate(lay.layers_of(np.asarray(compact, np.float32))):
            rows, cols = lay.out_rows(l), lay.in_chunks(l) * 4
            dense = np.zeros((rows, cols), np.float16)
            dense[:w.shape[0], :w.shape[1]] = w
            src = device.create_coop_vec_matrix_desc(rows, cols, spy.CoopVecMatrixLayout.row_major,
                                                     spy.DataType.float16, 0)
            device.convert_coop_vec_matrix(out, self.matrix_descs[l], dense.tobytes(), src)
            if b is not None:
                bias = np.zeros(rows, np.float16)
                bias[:b.size] = b
                out[self.bias_offsets[l]:self.bias_offsets[l] + rows * 2] = bias.tobytes()
        return bytes(out)

    def unpack(self, device, data: bytes) -> np.ndarray:
        import slangpy as spy
        lay = self.layout
        parts = []
        for l in range(lay.layers):
            rows, cols = lay.out_rows(l), lay.in_chunks(l) * 4
            dst_desc = device.create_coop_vec_matrix_desc(rows, cols, spy.CoopVecMatrixLayout.row_major,
                                                          spy.DataType.float16, 0)
            dense = bytearray(rows * cols * 2)
            device.convert_coop_vec_matrix(dense, dst_desc, data, self.matrix_descs[l])
            w = np.frombuffer(bytes(dense), np.float16).reshape(rows, cols)
            parts.append(w[:lay.out_real(l), :lay.in_real(l)].reshape(-1))
            if lay.bias:
                b = np.frombuffer(data, np.float16, count=rows, offset=self.bias_offsets[l])
                parts.append(b[:lay.out_real(l)])
        return np.concatenate(parts).astype(np.float32)


class CoopVecMLP:
    name = "coopvec"

    def __init__(self, device, encoding, network, layout: Layout, software: bool = False):
        import slangpy as spy
        reason = coopvec_supports(network)
        if reason:
            raise StudioError(reason + "; use --mlp portable")
        self.device, self.network, self.layout = device, network, layout
        self.kernels = coopvec_kernels(device, encoding, network, layout)
        self.placement = CoopVecPlacement(device, layout)
        usage = spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access | spy.BufferUsage.copy_source
        n = self.placement.total_bytes
        self.params = device.create_buffer(size=n, usage=usage)
        self.grads = device.create_buffer(size=n, usage=usage)
        self.count = n // 2
        self.master = device.create_buffer(element_count=self.count, struct_size=4, usage=usage)
        self.moment1 = device.create_buffer(element_count=self.count, struct_size=4, usage=usage)
        self.moment2 = device.create_buffer(element_count=self.count, struct_size=4, usage=usage)
        self._usage = usage
        self._batch = None

    def _weights(self) -> dict:
        return {"params": self.params, "weight_offsets": self.placement.weight_offsets,
                "bias_offsets": self.placement.bias_offsets}

    def set_parameters(self, compact: np.ndarray) -> None:
        packed = self.placement.pack(self.device, compact)
        halves = np.frombuffer(packed, np.float16)
        self.params.copy_from_numpy(np.frombuffer(packed, np.uint8))
        self.master.copy_from_numpy(halves.astype(np.float32))
        zeros = np.zeros(self.count, np.float32)
        self.moment1.copy_from_numpy(zeros)
        self.moment2.copy_from_numpy(zeros)
        self.grads.copy_from_numpy(np.zeros(self.placement.total_bytes, np.uint8))

    def parameters(self) -> np.ndarray:
        # The float32 master, rounded to the float16 the network uses, back in the portable layout.
        master = self.master.to_numpy().view(np.float32)[:self.count]
        return self.placement.unpack(self.device, master.astype(np.float16).tobytes())

    def set_batch_size(self, batch: int) -> None:
        import slangpy as spy
        if batch != self._batch:
            self._batch = batch
            self.sample_loss = self.device.create_buffer(size=batch * 4, format=spy.Format.r32_float,
                                                         usage=self._usage)

    def training_passes(self, pass_args: dict, opt: dict, state, shader_vars: dict,
                        table: dict | None = None, muon: dict | None = None) -> tuple[list, list]:
        """(gradient passes, update passes) of one step: forward + backward accumulating float16 gradients,
        then their finiteness check and the elementwise optimizer. ``table`` is always None here: this path
        refuses trainable encodings (coopvec_supports)."""
        if muon is not None:
            raise StudioError(MUON_REFUSAL)
        k = self.kernels
        train = PassSpec(k.train, self._batch, {"weights": self._weights(), "grads": self.grads,
                                                "sample_loss": self.sample_loss, "state": state, **pass_args})
        check = PassSpec(k.check_gradients, self.count, {"grads": self.grads, "count": self.count, "state": state})
        optimizer = PassSpec(k.optimizer, self.count, {
            "params": self.params, "grads": self.grads, "master": self.master, "moment1": self.moment1,
            "moment2": self.moment2, "count": self.count, "state": state, "opt": opt})
        return [train], [check, optimizer]

    def gradient_sum(self, step: int = 0) -> np.ndarray:
        data = self.grads.to_numpy().tobytes()
        grads = self.placement.unpack(self.device, data).astype(np.float64)
        self.grads.copy_from_numpy(np.zeros(self.placement.total_bytes, np.uint8))
        return grads

    def sample_losses(self, batch: int) -> np.ndarray:
        return self.sample_loss.to_numpy().view(np.float32)[:batch]

    def records_array(self):
        raise StudioError("the CoopVec path keeps activations in registers; per-sample records are portable-only")

    def append_infer(self, encoder, size: tuple[int, int], tile: tuple[int, int, int, int], output, alpha: float,
                     shader_vars: dict) -> None:
        import slangpy as spy
        x0, y0, w, h = tile
        self.kernels.infer.dispatch(thread_count=[w * h, 1, 1], command_encoder=encoder,
                                    weights=self._weights(), first_pixel=0, image_size=spy.uint2(*size),
                                    tile_origin=spy.uint2(x0, y0), tile_size=spy.uint2(w, h), alpha=alpha,
                                    output=output)
