"""The training state on the GPU (shaders/train_state.slang): step counter and loss scaler in two slots,
one per step parity, so recorded steps need no per-step value from the host. This module creates the
buffer, resets it and reads it back; the word layout below mirrors the STATE_* defines."""
from __future__ import annotations

import numpy as np

WORDS = 8  # STATE_WORDS
SCALE, CLEAN, SKIPPED, FOUND, STEP, DYNAMIC, GROWTH = range(7)


class TrainState:
    def __init__(self, device):
        import slangpy as spy
        self.buffer = device.create_buffer(element_count=2 * WORDS, struct_size=4,
                                           usage=spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access)

    def reset(self, loss_scale: float) -> None:
        """Before step 1: slot 0 holds step 0 with the initial loss scale."""
        words = np.zeros(2 * WORDS, np.uint32)
        words[SCALE] = np.float32(loss_scale).view(np.uint32)
        self.buffer.copy_from_numpy(words)

    def read(self, step: int) -> tuple[float, int]:
        """(loss scale for the next step, steps skipped so far) after ``step`` steps, the last one's outcome
        folded in the way the next step's training pass will (next_state)."""
        slot = self.buffer.to_numpy().view(np.uint32)[(step % 2) * WORDS:][:WORDS]
        scale, skipped = float(slot[SCALE:SCALE + 1].view(np.float32)[0]), int(slot[SKIPPED])
        if slot[STEP] == 0:
            return scale, skipped
        if slot[FOUND]:
            return (max(scale * 0.5, 1.0) if slot[DYNAMIC] else scale), skipped + 1
        if slot[DYNAMIC] and slot[CLEAN] + 1 >= slot[GROWTH]:
            scale = min(scale * 2.0, 65536.0)
        return scale, skipped
