"""Target quality: the smallest network of a preset's family that reaches a PSNR on a texture (RTXNTC's
--targetPsnr). No UI code: the CLI runs it in the foreground, the window in a background thread, both through
``progress`` and ``cancelled``.

The family keeps everything of the preset but its size: hidden width and layers for plain MLPs, levels and
table size for trainable grid encodings. Candidates are sorted by bits per pixel and searched by bisection,
which assumes a bigger network of the family trains to at least the PSNR of a smaller one (usually, not
always, true: a non-monotonic family can hide a smaller winner). Each attempt trains from the preset's seed
for the same number of steps; its PSNR is measured in numpy on the full-resolution prediction, as `infer`
renders it, so the winner meets the target as `infer` shows it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from .errors import StudioError
from .footprint import bits_per_pixel, storage_bits
from .preset import Preset
from .quality import Quality, trainer_quality

MLP_WIDTHS = (16, 32, 64, 128)
MLP_LAYERS = (1, 2, 3, 4)
GRID_LEVELS = (2, 4, 8, 16)
GRID_LOG2_SIZES = (8, 10, 12, 14, 16)
CHUNK_STEPS = 16  # steps between checks of the cancel flag


@dataclass(frozen=True)
class Attempt:
    preset: Preset
    bits_per_pixel: float
    quality: Quality          # NaN PSNR when training diverged
    parameters: np.ndarray
    steps: int
    samples: int
    seconds: float
    reached: bool
    note: str = ""


@dataclass
class SearchResult:
    target_psnr: float
    attempts: list
    best: Attempt | None      # the smallest that reached the target, else the highest PSNR
    cancelled: bool = False

    @property
    def reached(self) -> bool:
        return self.best is not None and self.best.reached


@dataclass(frozen=True)
class Progress:
    """What the search is doing: attempt ``attempt`` (1-based) at ``step`` of ``steps``; ``done`` is set once
    per finished attempt."""
    attempt: int
    max_attempts: int
    candidate: str
    step: int
    steps: int
    done: Attempt | None = None


def describe(preset: Preset) -> str:
    net, enc = preset.network, preset.encoding
    size = f"{net.n_hidden_layers} x {net.n_neurons} {net.precision}"
    if enc.parameter_count:
        return f"{enc.otype} {enc.n_levels} levels x 2^{enc.log2_hashmap_size} -> {size}"
    return f"{enc.otype} -> {size}"


def candidates(preset: Preset, limit: int | None = None) -> list[Preset]:
    """The preset's family (its own size included), smallest first, one network per storage size; at most
    ``limit`` of the smallest."""
    if preset.encoding.parameter_count:
        enc = preset.encoding
        options = [replace(preset, encoding=replace(enc, n_levels=levels, log2_hashmap_size=size))
                   for levels in sorted({*GRID_LEVELS, enc.n_levels})
                   for size in sorted({*GRID_LOG2_SIZES, enc.log2_hashmap_size})
                   if levels * enc.n_features_per_level <= 128]
    else:
        net = preset.network
        options = [replace(preset, network=replace(net, n_neurons=width, n_hidden_layers=layers))
                   for width in sorted({*MLP_WIDTHS, net.n_neurons})
                   for layers in sorted({*MLP_LAYERS, net.n_hidden_layers})]
    family, seen = [], set()
    for option in sorted(options, key=storage_bits):
        if storage_bits(option) not in seen:
            seen.add(storage_bits(option))
            family.append(option)
    return family[:limit] if limit else family


def search(device, image: np.ndarray, preset: Preset, target_psnr: float, *, steps: int | None = None,
           mlp_path: str | None = None, limit: int | None = None, progress=None, cancelled=None,
           watch=None) -> SearchResult:
    """Bisection over candidates(preset, limit) for the smallest network whose PSNR reaches ``target_psnr`` after
    ``steps`` steps (default: the preset's). ``progress(Progress)`` is called while training; when
    ``cancelled()`` turns true the search stops and returns what it has (``cancelled`` set). ``watch(trainer)``,
    called as each attempt starts, returns a function called with its Attempt (None: cancelled) at its end
    (the CLI records attempts in the experiment log that way)."""
    if not np.isfinite(target_psnr) or target_psnr <= 0:
        raise StudioError(f"target PSNR {target_psnr} must be a positive number of dB")
    family = candidates(preset, limit)
    steps = steps or preset.training.steps
    max_attempts = max(1, int(np.ceil(np.log2(len(family) + 1))))
    result = SearchResult(target_psnr, [], None)
    lo, hi = 0, len(family) - 1
    while lo <= hi:
        mid = (lo + hi) // 2
        number, name = len(result.attempts) + 1, describe(family[mid])
        report = (lambda step, done=None: progress(Progress(number, max_attempts, name, step, steps, done))) \
            if progress else (lambda step, done=None: None)
        attempt = _train(device, image, family[mid].with_training(steps=steps), target_psnr, mlp_path, report,
                         cancelled, watch)
        if attempt is None:
            result.cancelled = True
            break
        result.attempts.append(attempt)
        report(steps, attempt)
        if attempt.reached:
            hi = mid - 1
        else:
            lo = mid + 1
    reached = [a for a in result.attempts if a.reached]
    if reached:
        result.best = min(reached, key=lambda a: a.bits_per_pixel)
    elif result.attempts:
        result.best = max(result.attempts, key=lambda a: a.quality.psnr if np.isfinite(a.quality.psnr) else -1.0)
    return result


def _train(device, image, preset: Preset, target: float, mlp_path, on_step, cancelled, watch) -> Attempt | None:
    from .trainer import Trainer
    if cancelled is not None and cancelled():
        return None
    trainer = Trainer(device, image, preset, mlp_path=mlp_path)
    trainer.warm_up(poll=True)  # the driver's pipeline compiles, outside the attempt's training time
    finish = watch(trainer) if watch is not None else (lambda attempt: None)
    steps = preset.training.steps
    note = ""
    while trainer.step < steps:
        if cancelled is not None and cancelled():
            finish(None)
            return None
        train_polling(trainer, min(CHUNK_STEPS, steps - trainer.step))
        try:
            trainer.check_finite()
        except StudioError as err:
            note = str(err)
            break
        on_step(trainer.step)
    h, w = image.shape[:2]
    quality = Quality(float("nan"), float("nan"), float("nan")) if note else trainer_quality(trainer)
    attempt = Attempt(preset, bits_per_pixel(preset, (w, h)), quality, trainer.parameters(), trainer.step,
                      trainer.samples_seen, trainer.train_seconds, bool(not note and quality.psnr >= target), note)
    finish(attempt)
    return attempt


def train_polling(trainer, steps: int) -> None:
    """Trainer.train, but polling the device instead of waiting on it: a wait inside slangpy holds Python's
    GIL, which would freeze the window while the search runs in a background thread."""
    t0 = time.perf_counter()
    encoder = trainer.device.create_command_encoder()
    trainer.append_steps(encoder, steps)
    submission = trainer.device.submit_command_buffer(encoder.finish())
    while not trainer.device.is_submit_finished(submission):
        time.sleep(0.002)
    trainer.train_seconds += time.perf_counter() - t0
