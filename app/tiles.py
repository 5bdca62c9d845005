"""Network arrays on the host (shaders/tiles.slang is the GPU half): which tile's network a training
workgroup uses, and how a render groups pixels so that each workgroup uses one set of networks.

A region is an area whose samples all use the same networks: a tile without blending, a quarter of a
tile with blending (the four tiles whose centres surround it). A single network is the 1 x 1 array with
one region. Training draws each workgroup's samples inside one region, rotating with the step
(``group_regions``); renders enumerate pixels region by region (``render_regions``).
"""
from __future__ import annotations

import numpy as np


def region_grid(net) -> tuple[int, int]:
    tx, ty = net.tile_grid
    return (2 * tx, 2 * ty) if net.corners == 4 else (tx, ty)


def group_regions(step: int, groups: int, regions: int) -> np.ndarray:
    """Region (row-major) of each of a batch's ``groups`` workgroups at 1-based ``step``."""
    return (np.arange(groups) + (step % regions) * (groups % regions)) % regions


def corner_tiles(net, region: np.ndarray) -> np.ndarray:
    """(N, corners) tile index of each corner of each region (row-major region indices)."""
    tx, ty = net.tile_grid
    rx_count = region_grid(net)[0]
    r = np.asarray(region)
    rx, ry = r % rx_count, r // rx_count
    if net.corners == 1:
        return (ry * tx + rx)[:, None]
    bx, by = (rx + 1) // 2 - 1, (ry + 1) // 2 - 1
    out = [np.clip(by + cy, 0, ty - 1) * tx + np.clip(bx + cx, 0, tx - 1) for cy in (0, 1) for cx in (0, 1)]
    return np.stack(out, 1)


def region_start(r: int, count: int, size: int) -> int:
    """First pixel (of ``size``) whose centre lies in region r of ``count``: (2x + 1) count >= 2 r size."""
    n = 2 * r * size
    return 0 if n <= count else (n - count + 2 * count - 1) // (2 * count)


def pixel_region(x: int, count: int, size: int) -> int:
    return (2 * x + 1) * count // (2 * size)


def render_regions(net, image_size: tuple[int, int], tile: tuple[int, int, int, int], group: int):
    """(region origin, region span, workgroups per region) of a render of the (x, y, w, h) ``tile`` of an
    image of ``image_size``, ``group`` pixels per workgroup."""
    rx, ry = region_grid(net)
    x0, y0, w, h = tile
    lo = (pixel_region(x0, rx, image_size[0]), pixel_region(y0, ry, image_size[1]))
    hi = (pixel_region(x0 + w - 1, rx, image_size[0]), pixel_region(y0 + h - 1, ry, image_size[1]))

    def widest(axis: int, count: int, origin: int, extent: int) -> int:
        return max(min(region_start(r + 1, count, image_size[axis]), origin + extent)
                   - max(region_start(r, count, image_size[axis]), origin) for r in range(lo[axis], hi[axis] + 1))

    pixels = widest(0, rx, x0, w) * widest(1, ry, y0, h)
    return lo, (hi[0] - lo[0] + 1, hi[1] - lo[1] + 1), max(1, (pixels + group - 1) // group)


def tile_psnr(prediction: np.ndarray, reference: np.ndarray, tiles: tuple[int, int]) -> np.ndarray:
    """(TY, TX) PSNR (dB) of each tile of an image (H, W, 3; prediction clamped to [0, 1]); a pixel belongs
    to the tile its centre lies in, as renders assign it."""
    h, w = prediction.shape[:2]
    tx, ty = tiles
    col = np.array([pixel_region(x, tx, w) for x in range(w)])
    row = np.array([pixel_region(y, ty, h) for y in range(h)])
    err = ((np.clip(prediction, 0, 1).astype(np.float64) - reference) ** 2).mean(axis=2)
    sums = np.zeros((ty, tx))
    counts = np.zeros((ty, tx))
    np.add.at(sums, (row[:, None], col[None, :]), err)
    np.add.at(counts, (row[:, None], col[None, :]), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mse = sums / counts
        return np.where(counts > 0, 10 * np.log10(1 / np.maximum(mse, 1e-20)), np.nan)
