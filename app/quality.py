"""How good and how big a texture's reproduction is: PSNR, SSIM, FLIP; bits per pixel of networks
(app/footprint.py) and of the formats engines ship.

Every metric compares a test image with the reference, both float RGB (H, W, 3) in [0, 1] (8-bit
textures scaled by 1/255); the test image is clamped to [0, 1] first, as it would be displayed. The
reference of a network is the transformed texture (the image the network learns), read from
Trainer.reference(); transformed_reference() computes the same image in numpy for the codecs.
No UI and no GPU code here (trainer_quality takes a Trainer that already exists).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import StudioError


@dataclass(frozen=True)
class Quality:
    psnr: float   # dB, peak 1.0
    ssim: float   # scikit-image's mean SSIM over RGB (NaN for images under 3 pixels a side)
    flip: float   # mean FLIP error (NVIDIA FLIP, LDR, 67 pixels per degree); 0 = identical


def _check_pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference = np.asarray(reference, np.float32)
    test = np.asarray(test, np.float32)
    if reference.ndim != 3 or reference.shape[2] != 3 or reference.shape[0] < 1 or reference.shape[1] < 1:
        raise StudioError(f"reference image has shape {reference.shape}; expected (height, width, 3)")
    if test.shape != reference.shape:
        raise StudioError(f"image of shape {test.shape} cannot be compared with a reference of shape {reference.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(test).all()):
        raise StudioError("cannot measure images holding NaN or infinite values")
    return np.clip(reference, 0.0, 1.0), np.clip(test, 0.0, 1.0)


def psnr(reference: np.ndarray, test: np.ndarray) -> float:
    """10·log10(1 / MSE) over every pixel and channel, in float64 (inf for identical images)."""
    reference, test = _check_pair(reference, test)
    mse = float(np.mean((test.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return math.inf if mse <= 0.0 else 10.0 * math.log10(1.0 / mse)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM (scikit-image, 7x7 window or the largest odd window that fits a smaller image)."""
    from skimage.metrics import structural_similarity
    reference, test = _check_pair(reference, test)
    side = min(reference.shape[:2])
    window = min(7, side if side % 2 else side - 1)
    if window < 3:
        return math.nan
    return float(structural_similarity(reference, test, data_range=1.0, channel_axis=-1, win_size=window))


def flip(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean LDR FLIP error. flip_evaluator exits the process on input it dislikes, so the inputs are
    checked (shape, finite, [0, 1], contiguous float32) before it sees them."""
    import flip_evaluator
    reference, test = _check_pair(reference, test)
    try:
        _, mean, _ = flip_evaluator.evaluate(np.ascontiguousarray(reference), np.ascontiguousarray(test), "LDR",
                                             applyMagma=False)
    except SystemExit:
        raise StudioError(f"FLIP refused images of shape {reference.shape}") from None
    return float(mean)


def measure(reference: np.ndarray, test: np.ndarray, *, with_flip: bool = True) -> Quality:
    return Quality(psnr(reference, test), ssim(reference, test), flip(reference, test) if with_flip else math.nan)


# SSIM and FLIP work on whole images in float64 with several filtered copies: at 8192 x 8192 that is tens
# of GB and minutes (at 4 Mpx an 8192^2 run still peaked at 4.1 GB). Above this many pixels they are
# measured on a view of the texture of about this size (a regular subsample, as the progress PSNR is);
# PSNR is always full resolution.
METRICS_MAX_PIXELS = 1 << 20


def metrics_size(size: tuple[int, int]) -> tuple[int, int]:
    """The size SSIM and FLIP are measured at for a texture of ``size``: itself, or a view of at most
    METRICS_MAX_PIXELS pixels."""
    w, h = size
    if w * h <= METRICS_MAX_PIXELS:
        return w, h
    scale = math.sqrt(METRICS_MAX_PIXELS / (w * h))
    return max(1, int(w * scale)), max(1, int(h * scale))


def _pixel_centres(n: int) -> np.ndarray:
    """The uv of a view's n pixel centres along one axis, in float32 as the shaders compute them."""
    return (np.arange(n, dtype=np.float32) + np.float32(0.5)) / np.float32(n)


def _texels(uv: np.ndarray, n: int) -> np.ndarray:
    """The nearest of n texels along one axis at each ``uv``, as fetch_texel (shaders/texture.slang)."""
    return np.minimum((uv * np.float32(n)).astype(np.int64), n - 1)


def subsample(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The texels of ``image`` a view of ``size`` shows: the nearest texel at each pixel centre, as
    reference_image in shaders/views.slang samples the texture (under flip and zoom the view transforms
    its pixel centres first, so it may show a neighbour of the transformed image's texel)."""
    h, w = image.shape[:2]
    vw, vh = size
    return image[_texels(_pixel_centres(vh), h)][:, _texels(_pixel_centres(vw), w)]


def trainer_quality(trainer, *, with_flip: bool = True) -> Quality:
    """The metrics of a Trainer's prediction against its transformed reference: PSNR at full resolution,
    SSIM and FLIP at metrics_size (rendered in tiles by Trainer.evaluate, so any texture size fits)."""
    size = metrics_size(trainer.image_size)
    if size == tuple(trainer.image_size):
        _, views = trainer.evaluate(images=("prediction", "reference"))
        return measure(views["reference"], views["prediction"], with_flip=with_flip)
    psnr_full = trainer.psnr()
    _, views = trainer.evaluate(size, images=("prediction", "reference"))
    q = measure(views["reference"], views["prediction"], with_flip=with_flip)
    return Quality(psnr_full, q.ssim, q.flip)


# Bits per pixel of the formats engines ship, for comparison in the UI and on the command line.
RGB8_BPP = 24.0
BC1_BPP = 4.0
BC7_BPP = 8.0


def transformed_reference(image: np.ndarray, transform: str) -> np.ndarray:
    """The image a network learns under ``transform``, at the texture's size: the numpy twin of
    reference_image in shaders/views.slang (nearest texel at transform_uv(pixel centre))."""
    from .texture import transform_id
    transform_id(transform)
    image = np.asarray(image, np.float32)
    if transform == "none":
        return image.copy()
    h, w = image.shape[:2]
    uu, vv = np.meshgrid(_pixel_centres(w), _pixel_centres(h))
    if transform == "flip":
        uu, vv = vv, uu
    else:  # zoom
        uu, vv = uu * np.float32(0.5) + np.float32(0.25), vv * np.float32(0.5) + np.float32(0.25)
    return image[_texels(vv, h), _texels(uu, w)]
