"""The training state on the GPU (shaders/train_state.slang): step counter and loss scaler in two slots,
one per step parity, so recorded steps need no per-step value from the host. This module declares the
word layout, creates the buffer, resets it and reads it back."""
from __future__ import annotations

import numpy as np

# A slot's words (the shaders get them as STATE_* defines, app/shader_ids.py): the loss scale this step's
# gradients carry (float bits), consecutive finite steps before it, steps skipped before it, whether its
# gradients were not finite, its 1-based number, and its scaling settings (dynamic, growth interval).
LAYOUT = {"scale": 0, "clean": 1, "skipped": 2, "found": 3, "step": 4, "dynamic": 5, "growth": 6, "words": 8}
WORDS = LAYOUT["words"]
SCALE, CLEAN, SKIPPED, FOUND, STEP, DYNAMIC, GROWTH = (LAYOUT[k] for k in
                                                      ("scale", "clean", "skipped", "found", "step", "dynamic", "growth"))


class TrainState:
    def __init__(self, device):
        import slangpy as spy
        self.buffer = device.create_buffer(element_count=2 * WORDS, struct_size=4,
                                           usage=spy.BufferUsage.shader_resource | spy.BufferUsage.unordered_access
                                           | spy.BufferUsage.copy_source)

    def reset(self, loss_scale: float) -> None:
        """Before step 1: slot 0 holds step 0 with the initial loss scale."""
        words = np.zeros(2 * WORDS, np.uint32)
        words[SCALE] = np.float32(loss_scale).view(np.uint32)
        self.buffer.copy_from_numpy(words)

    def read(self, step: int) -> tuple[float, int]:
        """(loss scale for the next step, steps skipped so far) after ``step`` steps."""
        return scaler_view(self.buffer.to_numpy().view(np.uint32), step)


def scaler_view(words: np.ndarray, step: int) -> tuple[float, int]:
    """(loss scale, steps skipped) from the state words after ``step`` steps, the last step's outcome folded
    in the way the next step's training pass will (next_state)."""
    slot = np.asarray(words, np.uint32)[(step % 2) * WORDS:][:WORDS]
    scale, skipped = float(slot[SCALE:SCALE + 1].view(np.float32)[0]), int(slot[SKIPPED])
    if slot[STEP] == 0:
        return scale, skipped
    if slot[FOUND]:
        return (max(scale * 0.5, 1.0) if slot[DYNAMIC] else scale), skipped + 1
    if slot[DYNAMIC] and slot[CLEAN] + 1 >= slot[GROWTH]:
        scale = min(scale * 2.0, 65536.0)
    return scale, skipped


class Readout:
    """The last step's per-sample losses and the training state, copied into host-visible memory inside a
    submission, so the window reads them once that submission is done without waiting for later ones
    (reading a device buffer waits for everything queued)."""

    def __init__(self, device, encoder, sample_loss, batch: int, state: TrainState, step: int):
        import slangpy as spy
        self.batch, self.step = batch, step
        loss_bytes = batch * 4
        self.buffer = device.create_buffer(size=loss_bytes + 2 * WORDS * 4, usage=spy.BufferUsage.copy_destination,
                                           memory_type=spy.MemoryType.read_back)
        encoder.copy_buffer(self.buffer, 0, sample_loss, 0, loss_bytes)
        encoder.copy_buffer(self.buffer, loss_bytes, state.buffer, 0, 2 * WORDS * 4)

    def read(self) -> tuple[float, tuple[float, int]]:
        """(mean loss of the step's batch, (loss scale, steps skipped)); call once the submission is done."""
        data = self.buffer.to_numpy().view(np.uint32)
        loss = float(data[:self.batch].view(np.float32).astype(np.float64).mean())
        return loss, scaler_view(data[self.batch:], self.step)
