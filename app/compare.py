"""Networks next to the codecs on one texture: the rows of the compare command's table and figure."""
from __future__ import annotations

import math

import numpy as np

from .codecs import Row, measure_codecs
from .errors import StudioError
from .footprint import bits_per_pixel
from .quality import trainer_quality, transformed_reference


def network_row(trainer, name: str, seconds: float, *, with_flip: bool = True) -> Row:
    """A trained network's row: its full-resolution prediction against the transformed reference;
    ``seconds``: its training time."""
    q = trainer_quality(trainer, with_flip=with_flip)
    return Row("network", name, bits_per_pixel(trainer.preset, trainer.image_size), q.psnr, q.ssim, q.flip,
               float(seconds))


def common_transform(weights: list, requested: str | None) -> str:
    """The transform the comparison uses: the one requested, else the one the networks were trained with."""
    found = {w.transform for w in weights}
    transform = requested or (found.pop() if len(found) == 1 else "none")
    for w in weights:
        if w.transform != transform:
            raise StudioError(f"a network was trained with transform {w.transform}, the comparison uses {transform}: "
                              "compare networks of one transform, passing it with --transform")
    return transform


def compare_rows(device, image: np.ndarray, weights: dict, transform: str, *, mlp_path: str | None = None,
                 progress=None) -> list[Row]:
    """Codec rows for the transformed ``image``, then a row per network (``weights``: name -> WeightsFile);
    ``progress(text)`` reports each step."""
    reference = transformed_reference(image, transform)
    say = progress or (lambda text: None)
    rows = measure_codecs(reference, progress=lambda done, total: say(f"codecs {done}/{total}"))
    if weights:
        from .trainer import Trainer
        for name, w in weights.items():
            trainer = Trainer(device, image, w.preset.with_training(transform=transform), mlp_path=mlp_path)
            trainer.set_parameters(w.parameters)
            seconds = w.stats.get("train_seconds")
            rows.append(network_row(trainer, name, float(seconds) if isinstance(seconds, (int, float)) else math.nan))
            say(f"network {name}")
    return rows
