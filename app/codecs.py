"""The codecs a texture would otherwise ship in, measured like the networks: JPEG and WebP (pillow), BC1 and
BC7 (etcpak, decoded by texture2ddecoder), ASTC at six block sizes (astc-encoder-py, its own decoder).

Each codec encodes the 8-bit reference and decodes it again; the decoded image is measured against the
reference with app/quality.py. Block formats need whole blocks: the image is padded by repeating its
edge for encoding and the decoded image is cropped before measuring. Bits per pixel are the encoded
bytes (file bytes for JPEG/WebP, all blocks, edge blocks included, for BC/ASTC) × 8 / texture pixels,
so BC1 is exactly 4 and BC7 exactly 8 on textures whose sides are multiples of 4.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, fields

import numpy as np

from .errors import StudioError
from .quality import measure

QUALITIES = (10, 25, 50, 75, 90, 95)  # JPEG and WebP quality settings
ASTC_BLOCKS = ((4, 4), (5, 5), (6, 6), (8, 8), (10, 10), (12, 12))


@dataclass(frozen=True)
class Row:
    """One line of a quality-against-size table (the CSV's columns, in order)."""
    codec: str          # jpeg, webp, bc1, bc7, astc or network
    setting: str        # q=75, 6x6, a weights file's name, ...
    bits_per_pixel: float
    psnr: float
    ssim: float
    flip: float
    seconds: float      # encoding + decoding (codecs) or training (networks)


CSV_HEADER = ",".join(f.name for f in fields(Row))


@dataclass(frozen=True)
class Decoded:
    image: np.ndarray   # uint8 RGB (H, W, 3), cropped to the texture
    nbytes: int         # encoded size
    seconds: float


def _pad(rgb8: np.ndarray, bw: int, bh: int) -> np.ndarray:
    h, w = rgb8.shape[:2]
    return np.pad(rgb8, ((0, -h % bh), (0, -w % bw), (0, 0)), mode="edge")


def _rgba(rgb8: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate([rgb8, np.full(rgb8.shape[:2] + (1,), 255, np.uint8)], axis=2))


def _pillow(rgb8: np.ndarray, fmt: str, quality: int) -> tuple[np.ndarray, int]:
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgb8, "RGB").save(buf, format=fmt, quality=quality)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB")), len(data)


def _bc(rgb8: np.ndarray, kind: str) -> tuple[np.ndarray, int]:
    import etcpak
    import texture2ddecoder
    h, w = rgb8.shape[:2]
    padded = _rgba(_pad(rgb8, 4, 4))
    ph, pw = padded.shape[:2]
    if kind == "bc1":
        data = etcpak.compress_bc1(padded.tobytes(), pw, ph)
        bgra = texture2ddecoder.decode_bc1(data, pw, ph)
    else:
        data = etcpak.compress_bc7(padded.tobytes(), pw, ph, etcpak.BC7CompressBlockParams())
        bgra = texture2ddecoder.decode_bc7(data, pw, ph)
    decoded = np.frombuffer(bgra, np.uint8).reshape(ph, pw, 4)[:h, :w, [2, 1, 0]]  # texture2ddecoder: BGRA
    return decoded, len(data)


def _astc(rgb8: np.ndarray, bw: int, bh: int) -> tuple[np.ndarray, int]:
    from astc_encoder import ASTCConfig, ASTCContext, ASTCImage, ASTCProfile, ASTCQualityPreset, ASTCSwizzle, ASTCType
    h, w = rgb8.shape[:2]
    padded = _rgba(_pad(rgb8, bw, bh))
    ph, pw = padded.shape[:2]
    ctx = ASTCContext(ASTCConfig(ASTCProfile.LDR, bw, bh, 1, ASTCQualityPreset.MEDIUM))
    data = ctx.compress(ASTCImage(ASTCType.U8, pw, ph, data=padded.tobytes()), ASTCSwizzle())
    out = ASTCImage(ASTCType.U8, pw, ph)  # a new image: decompressing into the source one can crash
    ctx.decompress(data, out, ASTCSwizzle())
    return np.frombuffer(out.data, np.uint8).reshape(ph, pw, 4)[:h, :w, :3], len(data)


def settings() -> list[tuple[str, str]]:
    """Every (codec, setting) the comparison measures, in CSV order."""
    out = [(codec, f"q={q}") for codec in ("jpeg", "webp") for q in QUALITIES]
    out += [("bc1", "4x4"), ("bc7", "4x4")]
    out += [("astc", f"{bw}x{bh}") for bw, bh in ASTC_BLOCKS]
    return out


def encode_decode(codec: str, setting: str, rgb8: np.ndarray) -> Decoded:
    """Encodes and decodes an 8-bit RGB image with one codec setting."""
    rgb8 = np.ascontiguousarray(rgb8, np.uint8)
    if rgb8.ndim != 3 or rgb8.shape[2] != 3:
        raise StudioError(f"codecs take 8-bit RGB images, not shape {rgb8.shape}")
    if (codec, setting) not in settings():
        raise StudioError(f"unknown codec setting {codec} {setting}")
    t0 = time.perf_counter()
    if codec in ("jpeg", "webp"):
        image, nbytes = _pillow(rgb8, codec.upper(), int(setting.removeprefix("q=")))
    elif codec in ("bc1", "bc7"):
        image, nbytes = _bc(rgb8, codec)
    else:
        bw, bh = (int(v) for v in setting.split("x"))
        image, nbytes = _astc(rgb8, bw, bh)
    return Decoded(image, nbytes, time.perf_counter() - t0)


def to_rgb8(reference: np.ndarray) -> np.ndarray:
    return (np.clip(np.asarray(reference, np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def measure_codec(reference: np.ndarray, codec: str, setting: str, *, with_flip: bool = True,
                  decoded: Decoded | None = None) -> Row:
    """One codec setting on ``reference`` (float RGB in [0, 1]), measured against that reference."""
    decoded = decoded or encode_decode(codec, setting, to_rgb8(reference))
    h, w = reference.shape[:2]
    q = measure(reference, decoded.image.astype(np.float32) / 255.0, with_flip=with_flip)
    return Row(codec, setting, decoded.nbytes * 8.0 / (w * h), q.psnr, q.ssim, q.flip, decoded.seconds)


def measure_codecs(reference: np.ndarray, *, with_flip: bool = True, progress=None, cancelled=None) -> list[Row]:
    """Every codec setting of settings(); ``progress(done, total)`` after each; stops early (returning the rows
    so far) when ``cancelled()`` turns true."""
    rows = []
    todo = settings()
    for i, (codec, setting) in enumerate(todo):
        if cancelled is not None and cancelled():
            break
        rows.append(measure_codec(reference, codec, setting, with_flip=with_flip))
        if progress is not None:
            progress(i + 1, len(todo))
    return rows


def codec_psnr(reference: np.ndarray, codec: str) -> float:
    """The PSNR a fixed-rate block codec (bc1 or bc7) reaches on ``reference``: the target of --target-psnr bc7."""
    if codec not in ("bc1", "bc7"):
        raise StudioError(f"no PSNR target named {codec!r}; use a number of dB, bc1 or bc7")
    return measure_codec(reference, codec, "4x4", with_flip=False).psnr


def rows_to_csv(rows: list[Row]) -> str:
    """The table as CSV text with the header CSV_HEADER (floats with 6 significant digits)."""
    import csv
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(f.name for f in fields(Row))
    for row in rows:
        writer.writerow(f"{v:.6g}" if isinstance(v, float) else v for v in (getattr(row, f.name) for f in fields(Row)))
    return buf.getvalue()
