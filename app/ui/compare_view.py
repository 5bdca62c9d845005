"""Two images of one scene compared: side by side, split screen with a draggable divider, or |A - B|.

Reusable by anything with two float RGB images (two runs' predictions; a codec's decoded image beside
the network's prediction). Zoom, pan and the pixel readout are the Views' own (one ViewSettings):

    compare = CompareView()                            # keep it: it owns GL textures
    compare.set_images(a, b, ("run 3", "run 5"))        # float RGB (H, W, 3), whenever they change
    compare.gui(state.view)                            # every frame, inside a window
    compare.release()                                  # before the GL context goes
"""
from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from .gl_texture import GlImage, to_rgba8
from .panel_views import view_interaction, visible_uv
from .state import ViewSettings
from .widgets import DIM_COLOR, tooltip

MODES = ("side by side", "split", "difference")
LABEL_COLORS = ((0.90, 0.47, 0.16, 1.0), (0.24, 0.55, 0.90, 1.0))  # A, B (the CLI's compare image too)


class CompareView:
    def __init__(self, mode: str = "side by side"):
        self.mode = mode
        self.split = 0.5          # divider position, 0..1 of the image width (split mode)
        self.diff_scale = 4.0     # |A - B| x N (difference mode)
        self.a: np.ndarray | None = None
        self.b: np.ndarray | None = None
        self.labels = ("A", "B")
        self.note = ""            # e.g. that B was resampled to A's size
        self.serial = 0
        self._gl: dict[str, GlImage] = {}
        self._uploaded: dict[str, object] = {}

    def set_images(self, a: np.ndarray, b: np.ndarray, labels: tuple[str, str]) -> None:
        """``a`` and ``b``: float RGB (H, W, 3); ``b`` is resampled to ``a``'s size when they differ."""
        a = np.ascontiguousarray(a[:, :, :3], np.float32)
        b = np.ascontiguousarray(b[:, :, :3], np.float32)
        self.note = ""
        if b.shape != a.shape:
            from ...texture import resample
            self.note = f"B resampled from {b.shape[1]}x{b.shape[0]} to {a.shape[1]}x{a.shape[0]}"
            b = resample(np.clip(b, 0, 1), (a.shape[1], a.shape[0]))
        self.a, self.b, self.labels = a, b, labels
        self.serial += 1

    @property
    def size(self) -> tuple[int, int]:
        return (0, 0) if self.a is None else (self.a.shape[1], self.a.shape[0])

    def difference(self) -> np.ndarray:
        """|A - B| per channel (unscaled)."""
        return np.abs(self.a - self.b)

    def release(self) -> None:
        for gl in self._gl.values():
            gl.release()
        self._gl.clear()
        self._uploaded.clear()

    # ---- drawing ----
    def _texture(self, name: str) -> imgui.ImTextureRef:
        key = (self.serial, self.diff_scale if name == "diff" else None)
        gl = self._gl.setdefault(name, GlImage())
        if self._uploaded.get(name) != key:
            data = {"a": self.a, "b": self.b}.get(name)
            gl.upload(to_rgba8(data if data is not None else self.difference() * self.diff_scale))
            self._uploaded[name] = key
        return gl.ref()

    def gui(self, view: ViewSettings, item_id: str = "compare") -> None:
        if self.a is None:
            imgui.text_colored(DIM_COLOR, "nothing to compare")
            return
        self._gui_toolbar(item_id)
        view.hover = None  # set again by the image under the cursor
        avail = imgui.get_content_region_avail()
        line = imgui.get_text_line_height_with_spacing()
        gap = imgui.get_style().item_spacing
        w, h = self.size
        if self.mode == "side by side":  # in a row or in a column, whichever shows them larger
            row = min((avail.x - gap.x) / 2 / w, (avail.y - 3 * line) / h)
            column = min(avail.x / w, ((avail.y - 2 * line) / 2 - line - gap.y) / h)
            scale = max(0.01, row, column)
            for k, name in enumerate("ab"):
                if k and row >= column:
                    imgui.same_line()
                imgui.begin_group()
                imgui.text_colored(LABEL_COLORS[k], f"{name.upper()}: {self.labels[k]}")
                self._image(view, name, f"##{item_id}_{name}", (w * scale, h * scale))
                imgui.end_group()
        else:
            scale = max(0.01, min(avail.x / w, (avail.y - 3 * line) / h))
            if self.mode == "split":
                imgui.text_colored(LABEL_COLORS[0], f"A: {self.labels[0]}")
                imgui.same_line()
                imgui.text_colored(DIM_COLOR, " | ")
                imgui.same_line()
                imgui.text_colored(LABEL_COLORS[1], f"B: {self.labels[1]}")
                self._split(view, item_id, (w * scale, h * scale))
            else:
                imgui.text(f"|A - B| x {self.diff_scale:.0f}   (A: {self.labels[0]}, B: {self.labels[1]})")
                self._image(view, "diff", f"##{item_id}_diff", (w * scale, h * scale))
        self._gui_readout(view)

    def _gui_toolbar(self, item_id: str) -> None:
        for mode in MODES:
            if imgui.radio_button(f"{mode}##{item_id}", self.mode == mode):
                self.mode = mode
            imgui.same_line()
        imgui.set_next_item_width(imgui.get_font_size() * 7)
        if self.mode == "difference":
            _, self.diff_scale = imgui.slider_float(f"difference x##{item_id}", self.diff_scale, 1.0, 64.0, "%.0f",
                                                    imgui.SliderFlags_.logarithmic)
        elif self.mode == "split":
            _, self.split = imgui.slider_float(f"divider##{item_id}", self.split, 0.0, 1.0, "%.2f")
            tooltip("or drag the divider in the image")
        else:
            imgui.new_line()
        if self.note:
            imgui.same_line()
            imgui.text_colored(DIM_COLOR, self.note)

    def _image(self, view: ViewSettings, name: str, item_id: str, size) -> None:
        uv0, uv1 = visible_uv(view)
        pos = imgui.get_cursor_screen_pos()
        imgui.image(self._texture(name), size, uv0, uv1)
        imgui.set_cursor_screen_pos(pos)
        view_interaction(view, item_id, size, self.size)

    def _split(self, view: ViewSettings, item_id: str, size) -> None:
        """A left of the divider, B right of it, in one image rectangle."""
        uv0, uv1 = visible_uv(view)
        pos = imgui.get_cursor_screen_pos()
        imgui.image(self._texture("a"), size, uv0, uv1)
        x = pos.x + self.split * size[0]
        u = uv0[0] + self.split * (uv1[0] - uv0[0])
        draw = imgui.get_window_draw_list()
        draw.add_image(self._texture("b"), imgui.ImVec2(x, pos.y), imgui.ImVec2(pos.x + size[0], pos.y + size[1]),
                       imgui.ImVec2(u, uv0[1]), imgui.ImVec2(uv1[0], uv1[1]))
        draw.add_line(imgui.ImVec2(x, pos.y), imgui.ImVec2(x, pos.y + size[1]),
                      imgui.get_color_u32(imgui.ImVec4(1, 1, 1, 0.9)), 2.0)
        imgui.set_cursor_screen_pos(pos)
        imgui.set_next_item_allow_overlap()  # the divider's handle, submitted next, takes the mouse over it
        view_interaction(view, f"##{item_id}_split", size, self.size)
        grip = imgui.get_font_size() * 0.6
        imgui.set_cursor_screen_pos(imgui.ImVec2(x - grip / 2, pos.y))
        imgui.invisible_button(f"##{item_id}_divider", (grip, size[1]))
        if imgui.is_item_hovered() or imgui.is_item_active():
            imgui.set_mouse_cursor(imgui.MouseCursor_.resize_ew)
        if imgui.is_item_active():
            mouse = imgui.get_io().mouse_pos.x
            self.split = min(max((mouse - pos.x) / size[0], 0.0), 1.0)
        imgui.set_cursor_screen_pos(imgui.ImVec2(pos.x, pos.y + size[1] + imgui.get_style().item_spacing.y))
        imgui.dummy((0, 0))

    def _gui_readout(self, view: ViewSettings) -> None:
        hover = view.hover
        w, h = self.size
        if hover is None or not (0 <= hover[0] < w and 0 <= hover[1] < h):
            imgui.text_colored(DIM_COLOR, "hover an image to read pixel values")
            return
        x, y = hover
        a, b = self.a[y, x], self.b[y, x]
        fmt = lambda c: " ".join(f"{v:.3f}" for v in c)  # noqa: E731
        imgui.text(f"pixel ({x}, {y}) of {w}x{h}   A {fmt(a)}   B {fmt(b)}   |A - B| {fmt(np.abs(a - b))}")
