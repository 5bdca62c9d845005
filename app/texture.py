"""Loading images as float RGB and the UV transforms applied to training targets."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import StudioError
from .jsonfile import shown

# name -> id in shaders/texture.slang (TRANSFORM_*)
TRANSFORMS = {"none": 0, "flip": 1, "zoom": 2}
MAX_TEXTURE_SIDE = 8192


def transform_id(name: str) -> int:
    if name not in TRANSFORMS:
        raise StudioError(f"unknown transform {shown(name)}; choose one of: {', '.join(TRANSFORMS)}")
    return TRANSFORMS[name]


def load_image(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Reads an image file as float32 RGB in [0, 1], shape (H, W, 3).

    Grayscale is repeated to RGB, alpha is dropped, 8- and 16-bit (and float) data are scaled by their
    range. ``size`` = (width, height) resamples the image (Lanczos)."""
    path = Path(path)
    if not path.exists():
        raise StudioError(f"image not found: {path}")
    if path.is_dir():
        raise StudioError(f"{path} is a folder, not an image")
    if path.stat().st_size == 0:
        raise StudioError(f"{path} is empty (0 bytes)")
    try:
        import warnings
        import imageio.v3 as iio
        with warnings.catch_warnings():  # imageio warns while it tries its legacy plugins on unknown data
            warnings.simplefilter("ignore")
            data = iio.imread(path)
    except Exception as err:
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise StudioError(f"cannot read {path.name} as an image: {reason}") from None
    return to_rgb_float(data, path.name, size)


def to_rgb_float(data: np.ndarray, name: str = "image", size: tuple[int, int] | None = None) -> np.ndarray:
    data = np.asarray(data)
    if data.ndim == 4:  # animated/multi-page: first frame
        data = data[0]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3 or data.shape[2] not in (1, 2, 3, 4) or data.shape[0] < 1 or data.shape[1] < 1:
        raise StudioError(f"{name} has an unsupported shape {data.shape}; expected an RGB, RGBA or grayscale image")
    h, w = data.shape[:2]
    if max(h, w) > MAX_TEXTURE_SIDE:
        raise StudioError(f"{name} is {w}x{h}; the largest side supported is {MAX_TEXTURE_SIDE} (use --size to resample)")
    # In place where possible: an 8192 x 8192 texture is 805 MB as float RGB, and every temporary counts.
    if data.dtype == bool:
        rgb = data.astype(np.float32)
    elif np.issubdtype(data.dtype, np.floating):
        rgb = np.nan_to_num(data.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    elif np.issubdtype(data.dtype, np.integer):
        rgb = data.astype(np.float32)
        np.divide(rgb, 255.0 if data.dtype == np.uint8 else float(np.iinfo(data.dtype).max), out=rgb)
    else:
        raise StudioError(f"{name} has unsupported pixel type {data.dtype}")
    channels = rgb.shape[2]
    if channels in (1, 2):  # gray, gray+alpha
        rgb = np.repeat(rgb[:, :, :1], 3, axis=2)
    if rgb.shape[2] == 3:
        np.clip(rgb, 0.0, 1.0, out=rgb)
    else:  # drop alpha
        rgb = np.ascontiguousarray(np.clip(rgb[:, :, :3], 0.0, 1.0), dtype=np.float32)
    if size is not None and (size[0], size[1]) != (w, h):
        rgb = resample(rgb, size)
    return rgb


def resample(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image
    w, h = size
    if not (1 <= w <= MAX_TEXTURE_SIDE and 1 <= h <= MAX_TEXTURE_SIDE):
        raise StudioError(f"size {w}x{h} is out of range (1..{MAX_TEXTURE_SIDE} per side)")
    channels = [Image.fromarray(rgb[:, :, c], mode="F").resize((w, h), Image.Resampling.LANCZOS) for c in range(3)]
    return np.clip(np.stack([np.asarray(c) for c in channels], axis=2), 0.0, 1.0).astype(np.float32)


def parse_size(text: str) -> tuple[int, int]:
    """'256x128' -> (256, 128)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise StudioError(f"size {shown(text)} must look like WIDTHxHEIGHT, e.g. 256x256") from None
    if not (1 <= w <= MAX_TEXTURE_SIDE and 1 <= h <= MAX_TEXTURE_SIDE):
        raise StudioError(f"size {shown(text)} is out of range (1..{MAX_TEXTURE_SIDE} per side)")
    return w, h


def to_8bit(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0,1] (clamped) to uint8, rounded to nearest; in bands of rows, since the float
    temporaries of a whole 8192^2 image would be GBs."""
    data = np.empty((*rgb.shape[:2], 3), np.uint8)
    for y in range(0, rgb.shape[0], 256):
        data[y:y + 256] = (np.clip(rgb[y:y + 256, :, :3], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return data


def save_image(path: str | Path, rgb: np.ndarray) -> None:
    """Writes RGB as an 8-bit image, atomically (temp file + rename): float in [0,1], or uint8 as it is."""
    import imageio.v3 as iio
    from .atomic import atomic_write
    data = rgb[:, :, :3] if rgb.dtype == np.uint8 else to_8bit(rgb)
    ext = Path(path).suffix.lower() or ".png"
    try:
        encoded = iio.imwrite("<bytes>", data, extension=ext)
    except Exception as err:
        raise StudioError(f"cannot write {Path(path).name}: {str(err).splitlines()[0][:120]}") from None
    atomic_write(path, encoded)
