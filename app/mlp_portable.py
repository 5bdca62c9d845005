"""GPU state and passes of the portable MLP (shaders/mlp_portable.slang, train.slang, optimizer_step)."""
from __future__ import annotations

import numpy as np

from . import kernels as _kernels
from . import tiles
from .kernels import muon_kernels, network_kernels, small_batch_kernels
from .network import Layout
from .step_passes import PassSpec

INFER_CHUNK = 1 << 16  # records per inference dispatch (pixels x corners): bounds the record buffer at any resolution
MUON_THREADS = 64  # one workgroup per layer (muon.slang MUON_THREADS)


def muon_scratch_floats(layout: Layout) -> int:
    """Muon's work matrices X, A, B, X' per layer in their wide form m x n, m <= n (muon.slang)."""
    total = 0
    for o, i in layout.shapes():
        m, n = min(o, i), max(o, i)
        total += 2 * m * n + 2 * m * m
    return total


class PortableMLP:
    """Forward/transposed weight copies, float32 master + Adam moments, per-sample records, gradient partials."""
    name = "portable"

    def __init__(self, device, encoding, network, layout: Layout, software: bool = False):
        import slangpy as spy
        self.device, self.network, self.layout, self.software = device, network, layout, software
        self.encoding = encoding
        self.kernels = network_kernels(device, encoding, network, layout)
        self._muon_scratch = None
        self.spt = self.kernels.samples_per_thread
        self.group = self.kernels.group_threads * self.spt  # samples per workgroup (one region of a network array, app/tiles.py)
        self.corners = network.corners
        self._usage = spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access | spy.BufferUsage.copy_source
        # float16 networks store weights and records as float16 (half the memory traffic)
        self._format = spy.Format.rgba16_float if network.half else spy.Format.rgba32_float
        self._float4_bytes = 8 if network.half else 16
        self.wf = self._typed(layout.wf_float4s)
        self.wt = self._typed(layout.wt_float4s)
        self.master = self._floats(layout.padded_floats)
        self.moment1 = self._floats(layout.padded_floats)
        self.moment2 = self._floats(layout.padded_floats)
        self._stride = None
        self._infer_records = None

    def _typed(self, float4s: int):
        return self.device.create_buffer(size=float4s * self._float4_bytes, format=self._format, usage=self._usage)

    def _floats(self, n: int, zero: bool = False):
        """n float32 (rounded up to a multiple of 4), readable as floats and as typed float4 (the fast reads
        and writes of weight_gradients and optimizer_step)."""
        import slangpy as spy
        n = (n + 3) // 4 * 4
        return self.device.create_buffer(size=n * 4, format=spy.Format.rgba32_float, usage=self._usage,
                                         data=np.zeros(n, np.float32) if zero else None)

    # ---- parameters ----
    def set_parameters(self, compact: np.ndarray) -> None:
        self.master.copy_from_numpy(self.layout.pack(compact))
        zeros = np.zeros(self.layout.padded_floats, np.float32)
        self.moment1.copy_from_numpy(zeros)
        self.moment2.copy_from_numpy(zeros)
        enc = self.device.create_command_encoder()
        self.kernels.publish.dispatch(thread_count=[self._optimizer_units(), 1, 1], command_encoder=enc,
                                      master=self.master, wf=self.wf, wt=self.wt)
        self.device.submit_command_buffer(enc.finish())

    def parameters(self) -> np.ndarray:
        return self.layout.unpack(self.master.to_numpy().view(np.float32).reshape(-1))

    def _optimizer_units(self) -> int:
        lay = self.layout
        return sum(lay.out_rows(l) // 4 * (lay.in_chunks(l) + 1) for l in range(lay.layers)) * lay.tiles

    # ---- training ----
    def set_batch_size(self, batch: int) -> None:
        import slangpy as spy
        # A single network's small batch trains one sample per thread (kernels.SMALL_BATCH); a network array's
        # workgroup regions and the inference pass keep self.group.
        small = batch <= _kernels.SMALL_BATCH and self.layout.tiles == 1
        self._train_kernels = small_batch_kernels(self.device, self.encoding, self.network, self.layout) \
            if small else self.kernels
        group = self._train_kernels.group_threads * self._train_kernels.samples_per_thread
        stride = (batch + group - 1) // group * group
        if stride == self._stride:
            return
        if self.layout.tiles > 1:
            # A network array's partial rows must each belong to one tile: one partition per workgroup
            # of every corner's records.
            partitions = self.corners * stride // group
        else:
            # Partition the batch for the gradient reduction: each partition's 8 lanes give 8 partial rows.
            # A CPU (lavapipe) has few cores and pays for every partial row it sums: 2 partitions there
            # cost 13% less CPU time per step than 16 (measured); a GPU wants the parallelism of many.
            partitions = max(1, min(2 if self.software else 64, stride // 256))
            while stride % (partitions * 8):
                partitions -= 1
        self._stride, self.partitions = stride, partitions
        self.partition_len = self.corners * stride // partitions
        self.records = self._typed(self.layout.record_slots * stride * self.corners)
        self.sample_loss = self.device.create_buffer(size=stride * 4, format=spy.Format.r32_float, usage=self._usage)
        # Zeroed once: the padding columns of the bias chunks are never written, and garbage there would
        # read as non-finite gradients.
        self.partials = self._floats(partitions * 8 * self.layout.tile_padded_floats, zero=True)

    def _gradient_threads(self) -> int:
        lay = self.layout
        blocks = lambda l: lay.in_chunks(l) * 4 // _kernels.DW_COLS + 1
        tasks = sum(lay.out_rows(l) // _kernels.DW_ROWS * blocks(l) for l in range(lay.layers))
        return tasks * self.partitions * 8

    def training_passes(self, pass_args: dict, opt: dict, state, shader_vars: dict,
                        table: dict | None = None, muon: dict | None = None) -> tuple[list, list]:
        """(gradient passes, update passes) of one step: forward + backward, the weight-gradient partials (which
        also check a trainable encoding's count of rejected table-gradient contributions), then the optimizer,
        which sums the partials and also steps the table. ``pass_args``: the training pass's arguments; ``opt``:
        OptimizerParams; ``table``: a trainable encoding's EncodingOptimizer (app/encoding_state.py); ``muon``:
        Muon's OptimizerParams, which then steps the weight matrices first (``opt`` the biases)."""
        k, floats = self.kernels, self.layout.tile_padded_floats
        train = PassSpec(self._train_kernels.train, self._stride // self._train_kernels.samples_per_thread, {
            "wf": self.wf, "wt": self.wt, "records": self.records, "sample_loss": self.sample_loss,
            "stride": self._stride, "state": state, **pass_args}, shader_vars)
        # With a table, the optimizer pass also runs the table's workgroups, interleaved with the MLP's
        # (network.slang interleaved_first): optimizer_step steps the table with table["threads"] threads.
        groups = lambda threads: -(-threads // 64)
        gradient_threads, optimizer_threads = self._gradient_threads(), self._optimizer_units()
        optimizer_args = {
            "partials": self.partials, "partial_rows": self.partitions * 8, "param_floats": floats,
            "master": self.master, "moment1": self.moment1, "moment2": self.moment2, "wf": self.wf, "wt": self.wt,
            "state": state, "opt": opt, "matrices_stepped": int(muon is not None)}
        if table:
            optimizer_threads = (groups(optimizer_threads) + groups(table["threads"])) * 64
            optimizer_args["encoding"] = table
        gradients = PassSpec(k.weight_gradients, gradient_threads, {
            "records": self.records, "stride": self._stride * self.corners, "partitions": self.partitions,
            "partition_len": self.partition_len, "partials": self.partials, "param_floats": floats,
            "state": state}, shader_vars)
        optimizer = PassSpec(k.optimizer, optimizer_threads, optimizer_args)
        if muon is None:
            return [train, gradients], [optimizer]
        if self._muon_scratch is None:
            self._muon_scratch = self._floats(muon_scratch_floats(self.layout))
        matrices = PassSpec(muon_kernels(self.device, self.encoding, self.network, self.layout).step,
                            self.layout.layers * MUON_THREADS, {
                                "partials": self.partials, "partial_rows": self.partitions * 8, "param_floats": floats,
                                "master": self.master, "moment1": self.moment1, "scratch": self._muon_scratch,
                                "state": state, "opt": muon})
        return [train, gradients], [matrices, optimizer]

    def gradient_sum(self, step: int) -> np.ndarray:
        """Compact sum of the partials written by the gradient passes of ``step`` (still loss-scaled)."""
        rows = self.partials.to_numpy().view(np.float32).reshape(self.partitions, 8, -1).astype(np.float64)
        rows = rows.sum(axis=1)
        if self.layout.tiles == 1:
            return self.layout.unpack(rows.sum(axis=0))
        # row block c * groups + g: corner c of workgroup g (shaders/optimizer_step.slang tile_gradient)
        groups = self._stride // self.group
        net = self.network
        regions = tiles.group_regions(step, groups, int(np.prod(tiles.region_grid(net))))
        owner = tiles.corner_tiles(net, regions).T.reshape(-1)  # (corner, group) order, as the rows
        per_tile = np.zeros((self.layout.tiles, rows.shape[1]))
        np.add.at(per_tile, owner, rows)
        return self.layout.unpack(per_tile.reshape(-1))

    def sample_losses(self, batch: int) -> np.ndarray:
        return self.sample_loss.to_numpy().view(np.float32)[:batch]

    def records_array(self) -> np.ndarray:
        """(slots, corners * stride, 4) per-sample records of the last forward/backward pass (corner c of a
        blended network array at c * stride + sample)."""
        dtype = np.float16 if self.network.half else np.float32
        return self.records.to_numpy().view(dtype).reshape(self.layout.record_slots, self._stride * self.corners, 4)

    # ---- inference ----
    def append_infer(self, encoder, size: tuple[int, int], tile: tuple[int, int, int, int], output, alpha: float,
                     shader_vars: dict) -> None:
        """The prediction of the (x, y, w, h) ``tile`` of a ``size`` image into ``output`` (w x h)."""
        import slangpy as spy
        if self._infer_records is None:
            self._infer_records = self._typed(self.layout.record_slots * INFER_CHUNK)
        x0, y0, w, h = tile
        origin, span, blocks = tiles.render_regions(self.network, size, tile, self.group)
        groups = span[0] * span[1] * blocks
        stride = INFER_CHUNK // self.corners  # pixels per dispatch
        per_dispatch = stride // self.group
        for first in range(0, groups, per_dispatch):
            count = min(per_dispatch, groups - first)
            self.kernels.infer.dispatch(
                thread_count=[count * self.kernels.group_threads, 1, 1], command_encoder=encoder, vars=shader_vars,
                wf=self.wf, records=self._infer_records, stride=stride, first_group=first,
                image_size=spy.uint2(*size), tile_origin=spy.uint2(x0, y0), tile_size=spy.uint2(w, h),
                region_origin=spy.uint2(*origin), region_span=spy.uint2(*span), blocks=blocks,
                alpha=alpha, output=output)
