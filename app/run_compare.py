"""One image comparing two logged runs: both predictions (and their difference), both loss and PSNR curves.

Drawn with Pillow from what the log holds (thumbnails, series), so it needs no GPU.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLORS = ((230, 120, 40), (60, 140, 230))   # run A, run B (the window's compare view uses the same order)
BACKGROUND = (24, 24, 28)
TEXT = (225, 225, 225)
GRID = (70, 70, 78)
PANEL = 256
PLOT = (400, 240)
MARGIN = 16
FONT_SIZE = 13
LINE = 18


def compare_image(runs: list[dict], thumbnails: list[np.ndarray | None], series: list[dict]) -> np.ndarray:
    """float RGB (H, W, 3): row 1 the two thumbnails and |A - B| (when their sizes match), row 2 the
    loss (log scale) and PSNR curves of both runs against steps."""
    width = max(3 * PANEL + 4 * MARGIN, 2 * PLOT[0] + 3 * MARGIN)
    header = 2 * LINE
    height = 3 * MARGIN + header + PANEL + 2 * MARGIN + PLOT[1] + 16
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.font = ImageFont.load_default(size=FONT_SIZE)
    images = [None if t is None else _to_uint8(t) for t in thumbnails]
    labels = [(f"{'AB'[k]}: run #{r['id']} {r['preset']} ({r['encoding']})",
               f"{_fmt(r['psnr'], '.2f')} dB, {r['steps']:,} steps, {r['bits_per_pixel']:.2f} bpp")
              for k, r in enumerate(runs)]
    if all(i is not None for i in images) and images[0].shape == images[1].shape:
        diff = np.abs(images[0].astype(np.int16) - images[1].astype(np.int16)).astype(np.uint8)
        images.append(diff)
        labels.append(("|A - B|", f"largest {diff.max() / 255:.3f}"))
    for k, (img, label) in enumerate(zip(images, labels)):
        x = MARGIN + k * (PANEL + MARGIN)
        for row, text in enumerate(label):
            draw.text((x, MARGIN + row * LINE), _fit(draw, text, PANEL), fill=COLORS[k] if k < 2 else TEXT)
        if img is None:
            draw.text((x, 2 * MARGIN + header), "no thumbnail (run interrupted)", fill=TEXT)
            continue
        h, w = img.shape[:2]
        scale = PANEL / max(w, h)  # up or down to the panel, pixels kept sharp
        tile = Image.fromarray(img).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                           Image.Resampling.NEAREST)
        canvas.paste(tile, (x, 2 * MARGIN + header))
    top = 2 * MARGIN + header + PANEL + 2 * MARGIN
    for k, (name, log) in enumerate((("loss", True), ("psnr", False))):
        box = (MARGIN + k * (PLOT[0] + MARGIN), top, MARGIN + k * (PLOT[0] + MARGIN) + PLOT[0], top + PLOT[1])
        curves = [(s.get(name, []), COLORS[i]) for i, s in enumerate(series)]
        _plot(draw, box, curves, "loss" if log else "PSNR (dB)", log)
    return np.asarray(canvas, np.float32) / 255.0


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(np.nan_to_num(rgb), 0, 1) * 255 + 0.5).astype(np.uint8)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    while len(text) > 3 and draw.textlength(text) > width:
        text = text[:-4] + "..."
    return text


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _plot(draw: ImageDraw.ImageDraw, box, curves, title: str, log: bool) -> None:
    """Lines of [[step, seconds, value], ...] point lists in ``box`` (x: step), with axis ranges printed."""
    x0, y0, x1, y1 = box
    inner = (x0 + 44, y0 + 16, x1 - 8, y1 - 14)
    draw.rectangle(inner, outline=GRID)
    draw.text((x0 + 44, y0 - 2), title + " against steps", fill=TEXT)
    valid = []
    for points, color in curves:
        p = np.asarray(points, np.float64).reshape(-1, 3)
        keep = np.isfinite(p[:, 2]) & ((p[:, 2] > 0) if log else True)
        p = p[keep]
        if len(p):
            valid.append((p[:, 0], np.log10(p[:, 2]) if log else p[:, 2], color))
    if not valid:
        draw.text((inner[0] + 8, inner[1] + 8), "no points", fill=TEXT)
        return
    xs = np.concatenate([v[0] for v in valid])
    ys = np.concatenate([v[1] for v in valid])
    xmin, xmax = float(xs.min()), float(xs.max())
    ymin, ymax = float(ys.min()), float(ys.max())
    xmax, ymax = max(xmax, xmin + 1e-9), max(ymax, ymin + 1e-9)
    sx = (inner[2] - inner[0]) / (xmax - xmin)
    sy = (inner[3] - inner[1]) / (ymax - ymin)
    for x, y, color in valid:
        line = [(inner[0] + (a - xmin) * sx, inner[3] - (b - ymin) * sy) for a, b in zip(x, y)]
        if len(line) == 1:
            draw.ellipse([line[0][0] - 2, line[0][1] - 2, line[0][0] + 2, line[0][1] + 2], fill=color)
        else:
            draw.line(line, fill=color, width=2)
    label = (lambda v: f"{10 ** v:.2g}") if log else (lambda v: f"{v:.1f}")
    draw.text((x0, inner[1]), label(ymax), fill=TEXT)
    draw.text((x0, inner[3] - 10), label(ymin), fill=TEXT)
    draw.text((inner[0], inner[3] + 2), f"{xmin:.0f}", fill=TEXT)
    draw.text((inner[2] - 6 * len(f"{xmax:.0f}"), inner[3] + 2), f"{xmax:.0f}", fill=TEXT)
