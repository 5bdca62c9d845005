"""Showing read-back views in ImGui: one persistent OpenGL texture per view, updated in place."""
from __future__ import annotations

import numpy as np
from imgui_bundle import imgui


def to_rgba8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB (H, W, 3) -> contiguous uint8 RGBA, clamped like the display would."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), np.uint8)
    out[:, :, :3] = np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5
    out[:, :, 3] = 255
    return out


class GlImage:
    """An RGBA8 GL texture; created lazily because a GL context exists only inside the running window."""

    def __init__(self):
        self.id: int | None = None
        self.size: tuple[int, int] = (0, 0)
        self.serial = -1  # Images.serial of the data uploaded last

    def upload(self, rgba: np.ndarray) -> None:
        from OpenGL import GL
        h, w = rgba.shape[:2]
        if self.id is None:
            self.id = int(GL.glGenTextures(1))
            GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
            # Nearest when magnified: zoomed-in pixels stay crisp so they can be inspected.
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_NEAREST)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.id)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if self.size != (w, h):
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, w, h, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, rgba)
            self.size = (w, h)
        else:
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, w, h, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, rgba)

    def ref(self) -> imgui.ImTextureRef:
        return imgui.ImTextureRef(self.id)

    def release(self) -> None:
        if self.id is not None:
            from OpenGL import GL
            GL.glDeleteTextures([self.id])
            self.id, self.size = None, (0, 0)
