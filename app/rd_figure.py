"""The rate-distortion figure of the compare command: PSNR and FLIP against bits per pixel (log axis), a curve
per codec, networks as labelled points. Drawn with matplotlib's Agg backend (no display), written atomically.
"""
from __future__ import annotations

import io
import math
from pathlib import Path

from .atomic import atomic_write
from .codecs import Row
from .quality import RGB8_BPP

STYLE = {"jpeg": ("tab:blue", "o"), "webp": ("tab:green", "s"), "astc": ("tab:purple", "^"),
         "bc1": ("tab:orange", "D"), "bc7": ("tab:red", "D"), "network": ("black", "*")}

LABELS = {"jpeg": "JPEG q=10..95", "webp": "WebP q=10..95", "astc": "ASTC 4x4..12x12", "bc1": "BC1", "bc7": "BC7"}


def figure_png(rows: list[Row], title: str) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    fig = Figure(figsize=(12, 5), dpi=110, layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, metric, label in ((axes[0], "psnr", "PSNR (dB), higher is better"),
                              (axes[1], "flip", "mean FLIP error, lower is better")):
        for codec, (colour, marker) in STYLE.items():
            points = sorted((r.bits_per_pixel, getattr(r, metric), r.setting) for r in rows
                            if r.codec == codec and math.isfinite(getattr(r, metric)))
            if not points:
                continue
            xs, ys, names = zip(*points)
            if codec == "network":
                ax.scatter(xs, ys, color=colour, marker=marker, s=140, zorder=3, label="networks")
                for x, y, name in points:
                    ax.annotate(Path(name).stem, (x, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
            else:
                ax.plot(xs, ys, color=colour, marker=marker, linestyle="-" if len(xs) > 1 else "",
                        label=LABELS[codec])
                if codec == "astc":
                    for x, y, name in points:
                        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7,
                                    color=colour)
        ax.axvline(RGB8_BPP, color="grey", linestyle=":", linewidth=1)  # beyond it a network is bigger than raw
        ax.annotate("raw RGB8", (RGB8_BPP, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                    textcoords="offset points", fontsize=8, color="grey")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.5, 1, 2 rather than 10^x
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("bits per pixel (log scale)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=9)
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_figure(path: str | Path, rows: list[Row], title: str) -> None:
    atomic_write(path, figure_png(rows, title))
