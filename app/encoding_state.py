"""GPU state of an encoding with trainable parameters (hash grid): its table, gradient and Adam moments.

The float32 table is both what the forward pass reads (as a typed Buffer<float>) and what the optimizer
updates in place; the shaders see it and its gradient as global variables of the encoding's Slang file.
"""
from __future__ import annotations

import numpy as np

from .errors import StudioError


class EncodingParameters:
    def __init__(self, device, encoding):
        import slangpy as spy
        self.device, self.encoding = device, encoding
        self.count = encoding.parameter_count
        usage = spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access
        zeros = np.zeros(self.count, np.float32)
        make = lambda: device.create_buffer(size=self.count * 4, struct_size=4, format=spy.Format.r32_float,
                                            usage=usage, data=zeros)
        self.table, self.grads, self.moment1, self.moment2 = make(), make(), make(), make()

    def shader_vars(self) -> dict:
        return {"g_encoding_params": self.table, "g_encoding_grads": self.grads}

    def set_parameters(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float32)
        if values.shape != (self.count,):
            raise StudioError(f"the {self.encoding.otype} encoding has {self.count} parameters, got {values.size}")
        zeros = np.zeros(self.count, np.float32)
        self.table.copy_from_numpy(values)
        for buffer in (self.grads, self.moment1, self.moment2):
            buffer.copy_from_numpy(zeros)

    def parameters(self) -> np.ndarray:
        return self.table.to_numpy().view(np.float32)[:self.count].copy()

    def gradients(self) -> np.ndarray:
        """The accumulated (loss-scaled) table gradient; clears it."""
        g = self.grads.to_numpy().view(np.float32)[:self.count].astype(np.float64)
        self.grads.copy_from_numpy(np.zeros(self.count, np.float32))
        return g

    def append_check(self, encoder, kernels, scaler) -> None:
        kernels.check_encoding_gradients.dispatch(thread_count=[self.count, 1, 1], command_encoder=encoder,
                                                  grads=self.grads, count=self.count, scaler=scaler)

    def append_optimizer(self, encoder, kernels, opt: dict, scaler) -> None:
        kernels.optimizer_encoding.dispatch(thread_count=[self.count, 1, 1], command_encoder=encoder,
                                            params=self.table, grads=self.grads, moment1=self.moment1,
                                            moment2=self.moment2, count=self.count, scaler=scaler, opt=opt)
