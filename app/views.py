"""The network's images (GPU half: shaders/views.slang and the MLP's inference pass): the prediction, the
transformed reference, the loss view ((prediction - reference) * scale * 0.5 + 0.5, as RTXNS shows it)
and per-row squared errors, at any size and in tiles, and the PSNR they give. No UI code here."""
from __future__ import annotations

import math

import numpy as np

from .kernels import view_kernels
from .texture import to_8bit, transform_id

IMAGES = ("prediction", "reference", "loss")
TILE = 1024              # pixels per side of a full-resolution evaluation's tiles
VIEW_SIZES_KEPT = 4      # view texture sizes kept between renders (the window's, a tiling's edges)


class Views:
    def __init__(self, device):
        self.device = device
        self.kernels = view_kernels(device)
        self._textures: dict[tuple[int, int], dict] = {}

    def textures(self, size: tuple[int, int]) -> dict:
        """Prediction, reference and loss textures and a row-sum buffer of ``size``; the few most recently
        used sizes are kept."""
        import slangpy as spy
        views = self._textures.pop(size, None)
        if views is None:
            usage = (spy.TextureUsage.shader_resource | spy.TextureUsage.unordered_access
                     | spy.TextureUsage.copy_source)
            make = lambda: self.device.create_texture(format=spy.Format.rgba32_float, width=size[0],
                                                      height=size[1], usage=usage)
            views = {name: make() for name in IMAGES}
            views["row_sums"] = self.device.create_buffer(element_count=size[1], struct_size=4,
                                                          usage=spy.BufferUsage.unordered_access
                                                          | spy.BufferUsage.copy_source)
        self._textures[size] = views  # most recent last
        while len(self._textures) > VIEW_SIZES_KEPT:
            del self._textures[next(iter(self._textures))]
        return views

    def append(self, encoder, trainer, size: tuple[int, int] | None = None, loss_scale: float = 1.0,
               tile: tuple[int, int, int, int] | None = None) -> dict:
        """Records the trainer's inference, the transformed reference, the loss view and per-row squared
        errors of an image of ``size`` (default: the texture's), or of its (x, y, w, h) ``tile``; the views
        are w x h."""
        import slangpy as spy
        size = tuple(size or trainer.image_size)
        x0, y0, w, h = tile or (0, 0, *size)
        views = self.textures((w, h))
        self._infer(encoder, trainer, size, (x0, y0, w, h), views["prediction"])
        k, dims = self.kernels, spy.uint2(w, h)
        k.reference.dispatch(thread_count=[w, h, 1], command_encoder=encoder, source=trainer.target,
                             source_size=spy.uint2(*trainer.image_size), transform=transform_id(trainer.transform),
                             image_size=spy.uint2(*size), tile_origin=spy.uint2(x0, y0), tile_size=dims,
                             output=views["reference"])
        k.loss_visualization.dispatch(thread_count=[w, h, 1], command_encoder=encoder,
                                      prediction=views["prediction"], reference=views["reference"],
                                      image_size=dims, scale=float(loss_scale), output=views["loss"])
        k.squared_error_rows.dispatch(thread_count=[h, 1, 1], command_encoder=encoder,
                                      prediction=views["prediction"], reference=views["reference"],
                                      image_size=dims, row_sums=views["row_sums"])
        return views

    def append_prediction(self, encoder, trainer, size: tuple[int, int] | None = None):
        """Records the trainer's inference alone of an image of ``size`` (default: the texture's) into the
        prediction view, which it returns (the bench times inference with it)."""
        size = tuple(size or trainer.image_size)
        output = self.textures(size)["prediction"]
        self._infer(encoder, trainer, size, (0, 0, *size), output)
        return output

    @staticmethod
    def _infer(encoder, trainer, size, tile, output) -> None:
        trainer.mlp.append_infer(encoder, size, tile, output, float(trainer.network.leaky_relu_alpha),
                                 trainer.shader_vars())

    def evaluate(self, trainer, size: tuple[int, int] | None = None,
                 images: tuple[str, ...] = (), eight_bit: bool = False) -> tuple[float, dict]:
        """PSNR (dB) of the prediction (clamped to [0,1]) against the transformed reference at ``size``
        (default: the texture's), and the requested views ("prediction", "reference") as float32 RGB
        (H, W, 3), or with ``eight_bit`` as the uint8 RGB an image file stores (a quarter of the memory:
        an 8192^2 preview). Rendered in tiles of at most TILE x TILE pixels, so GPU memory stays bounded
        at any size."""
        w, h = tuple(size or trainer.image_size)
        out = {name: np.empty((h, w, 3), np.uint8 if eight_bit else np.float32) for name in images}
        convert = to_8bit if eight_bit else (lambda rgb: rgb)
        squared = 0.0
        for y0 in range(0, h, TILE):
            for x0 in range(0, w, TILE):
                tile = (x0, y0, min(TILE, w - x0), min(TILE, h - y0))
                views = trainer.render((w, h), tile=tile)
                squared += float(views["row_sums"].to_numpy().view(np.float32)[:tile[3]].astype(np.float64).sum())
                for name, image in out.items():
                    image[y0:y0 + tile[3], x0:x0 + tile[2]] = convert(views[name].to_numpy()[:tile[3], :tile[2], :3])
        return psnr_from_mse(squared / (w * h * 3)), out


class ViewReadback:
    """A render's images and row sums copied into host-visible memory inside its submission, so they can be
    read once that submission is done without waiting for work queued behind it (reading a texture
    itself waits for everything queued)."""

    def __init__(self, device, encoder, views: dict, size: tuple[int, int]):
        import slangpy as spy
        w, h = self.size = tuple(size)
        self.pitch = (w * 16 + 255) // 256 * 256  # bytes per row, aligned as buffer-image copies want
        self.image_bytes = self.pitch * h
        self.buffer = device.create_buffer(size=len(IMAGES) * self.image_bytes + h * 4,
                                           usage=spy.BufferUsage.copy_destination, memory_type=spy.MemoryType.read_back)
        for i, name in enumerate(IMAGES):
            encoder.copy_texture_to_buffer(self.buffer, i * self.image_bytes, self.image_bytes, self.pitch,
                                           views[name], 0, 0, spy.uint3(0, 0, 0), spy.uint3(w, h, 1))
        encoder.copy_buffer(self.buffer, len(IMAGES) * self.image_bytes, views["row_sums"], 0, h * 4)

    def read(self) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """({image name: float32 RGB (H, W, 3)}, per-row squared errors); call once the submission is done."""
        w, h = self.size
        data = self.buffer.to_numpy().view(np.uint8)
        images = {}
        for i, name in enumerate(IMAGES):
            rows = data[i * self.image_bytes:(i + 1) * self.image_bytes].reshape(h, self.pitch)
            images[name] = rows[:, :w * 16].copy().view(np.float32).reshape(h, w, 4)[:, :, :3].copy()
        row_sums = data[len(IMAGES) * self.image_bytes:][:h * 4].copy().view(np.float32)
        return images, row_sums


def psnr_from_mse(mse: float) -> float:
    return float("inf") if mse <= 0 else 10.0 * math.log10(1.0 / mse)


def psnr_from_row_sums(row_sums: np.ndarray, size: tuple[int, int]) -> float:
    return psnr_from_mse(float(np.asarray(row_sums, np.float64).sum()) / (size[0] * size[1] * 3))
