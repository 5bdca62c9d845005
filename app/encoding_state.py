"""GPU state of an encoding with trainable parameters (hash grid, permutohedral lattice): its float32 master
table, the copy the forward pass reads (float16 for float16 networks, in texels of an entry's features),
the gradient (fixed point) and the Adam moments. The shaders see the forward copy and the gradient as
global variables of the encoding's Slang file.
"""
from __future__ import annotations

import numpy as np

from .errors import StudioError

# the forward copy's texel format by [float16][values per texel] (TableEncoding.table_vector)
TABLE_FORMATS = {False: {1: "r32_float", 2: "rg32_float", 4: "rgba32_float"},
                 True: {1: "r16_float", 2: "rg16_float", 4: "rgba16_float"}}
# of the table's optimizer threads (they loop over the table, optimizer_step.slang step_encoding)
FLOAT4S_PER_THREAD = 8
# The table's gradient is summed with int64 atomics in units of 2^-TABLE_GRADIENT_BITS (the loss scale divided
# out; shaders/table_gradient.slang): resolution 1.5e-11, contributions below 32 each.
TABLE_GRADIENT_BITS = 36
# int64s before the values: the count of rejected contributions, then padding so that values 4k.. start a
# 16-byte texel
TABLE_GRADIENT_FIRST = 2


class EncodingParameters:
    def __init__(self, device, encoding, half: bool = False):
        import slangpy as spy
        self.device, self.encoding, self.half = device, encoding, half
        self.count = encoding.parameter_count
        self.padded = (self.count + 3) // 4 * 4
        usage = spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access
        zeros = np.zeros(self.padded, np.float32)
        # float32 arrays padded to whole float4s, typed float4 for the table's optimizer (one vector access
        # each on lavapipe)
        make = lambda: device.create_buffer(size=self.padded * 4, format=spy.Format.rgba32_float,
                                            usage=usage, data=zeros)
        self.master, self.moment1, self.moment2 = make(), make(), make()
        # int64s, bound for atomics as a structured buffer and as int4 texels (two values each) for the
        # optimizer's vector reads
        self.grads = device.create_buffer(size=(TABLE_GRADIENT_FIRST + self.padded) * 8, format=spy.Format.rgba32_sint,
                                          usage=usage)
        self._clear_gradient()
        # the forward copy, in texels of an entry's features (at most four; one typed read per corner)
        self.table = device.create_buffer(size=self.count * (2 if half else 4), usage=usage,
                                          format=getattr(spy.Format, TABLE_FORMATS[half][encoding.table_vector]))

    def shader_vars(self) -> dict:
        return {"g_encoding_params": self.table, "g_encoding_grads": self.grads}

    def set_parameters(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float32)
        if values.shape != (self.count,):
            raise StudioError(f"the {self.encoding.otype} encoding has {self.count} parameters, got {values.size}")
        zeros = np.zeros(self.padded, np.float32)
        self.master.copy_from_numpy(np.concatenate([values, zeros[self.count:]]))
        # float16 tables hold the nearest float16 values, as the optimizer writes them
        self.table.copy_from_numpy(values.astype(np.float16) if self.half else values)
        for buffer in (self.moment1, self.moment2):
            buffer.copy_from_numpy(zeros)
        self._clear_gradient()

    def parameters(self) -> np.ndarray:
        return self.master.to_numpy().view(np.float32).reshape(-1)[:self.count].copy()

    def gradients(self) -> np.ndarray:
        """The accumulated table gradient (the loss scale divided out); clears it."""
        raw = self._raw_gradient()
        self._clear_gradient()
        values = raw[TABLE_GRADIENT_FIRST:TABLE_GRADIENT_FIRST + self.count]
        return values.astype(np.float64) * 2.0 ** -TABLE_GRADIENT_BITS

    def _clear_gradient(self) -> None:
        """Zeroes the values and the count of rejected contributions."""
        self.grads.copy_from_numpy(np.zeros(TABLE_GRADIENT_FIRST + self.padded, np.int64))

    def reject_contributions(self, count: int = 1) -> None:
        """Marks the gradient as holding ``count`` contributions that could not be added (as a non-finite
        or too large one does): the next step is skipped. For tests."""
        raw = self._raw_gradient()
        raw[0] = count
        self.grads.copy_from_numpy(raw)

    def rejected_contributions(self) -> int:
        """The count of contributions not added since the gradient was last cleared. For tests."""
        return int(self._raw_gradient()[0])

    def _raw_gradient(self) -> np.ndarray:
        """The gradient buffer's int64s: the count, the padding, then the values (a host copy)."""
        return self.grads.to_numpy().view(np.int64).reshape(-1)

    def optimizer_args(self, opt: dict) -> dict:
        """The table's EncodingOptimizer (shaders/optimizer_step.slang), stepped by the MLP's optimizer pass with
        the table's OptimizerParams ``opt`` (its gradients are checked by the weight-gradient pass)."""
        return {"master": self.master, "grads": self.grads, "moment1": self.moment1, "moment2": self.moment2,
                "table": self.table, "count": self.count, "threads": -(-self.padded // (4 * FLOAT4S_PER_THREAD)),
                "opt": opt}
