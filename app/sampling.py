"""Where a training step's samples fall (shaders/sampling.slang ``sample_uv``).

uniform: independent random uvs every step. stratified (jittered, as Dr.Jit's neural texture example
samples): a grid of cells covers the texture, each sample is one jittered point in one cell, and the
steps of an epoch walk through the cells in a shuffled order, so every cell is visited exactly once per
epoch. The shuffle is a seeded bijection of the cell index computed on the GPU per sample (no host work
per step); the epoch's number comes from the step counter on the GPU.
"""
from __future__ import annotations

import math
from functools import lru_cache

SAMPLINGS = {"uniform": 0, "stratified": 1}  # ids: SAMPLING_* defines (app/shader_ids.py)


@lru_cache(maxsize=64)
def stratified_grid(texture_size: tuple[int, int], batch: int) -> tuple[int, int, int]:
    """(cells across, cells down, steps per epoch): about one cell per texel, rounded to a whole number
    of batches so that epochs start with steps, and cells as close to square texels as that count's
    factorisations allow."""
    w, h = texture_size
    steps = max(1, round(w * h / batch))
    cells = steps * batch
    aspect = w / h
    best = None
    for across in range(1, math.isqrt(cells) + 1):
        if cells % across:
            continue
        for gx in (across, cells // across):
            error = abs(math.log(gx * gx / cells / aspect))  # gx / gy against w / h
            if best is None or error < best[0]:
                best = (error, gx)
    gx = best[1]
    return gx, cells // gx, steps


def sampling_params(name: str, texture_size: tuple[int, int], batch: int) -> dict:
    """The SamplingParams struct of shaders/sampling.slang."""
    gx, gy, steps = stratified_grid(tuple(texture_size), batch) if name == "stratified" else (1, 1, 1)
    return {"kind": SAMPLINGS[name], "grid_x": gx, "grid_y": gy, "steps_per_epoch": steps, "batch": batch}
