"""Reference, prediction and loss views: fitted to the window, one shared zoom and pan, pixel readout."""
from __future__ import annotations

import numpy as np
from imgui_bundle import imgui

from ..tiles import tile_psnr
from .gl_texture import GlImage, to_rgba8
from .state import VIEW_NAMES, AppState, ViewSettings
from .widgets import DIM_COLOR, combo, gui_message, tooltip

MODES = ["side by side", *VIEW_NAMES]
VIEW_RESOLUTIONS = [128, 256, 512, 1024]
MAX_ZOOM = 64.0


def gui_views(state: AppState) -> None:
    _gui_toolbar(state)
    gui_message(state)
    images = state.images
    if not images.arrays:
        if state.build is not None or state.build_request is not None:
            imgui.text("compiling the network...")
        elif state.trainer is None:
            imgui.text("no network: see the message above")
        else:
            imgui.text("rendering...")
        return
    _upload(state)
    names = VIEW_NAMES if state.view.mode == "side by side" else (state.view.mode,)
    avail = imgui.get_content_region_avail()
    line = imgui.get_text_line_height_with_spacing()
    gap = imgui.get_style().item_spacing
    w, h = images.size
    # Side by side in a row, a grid or a column: whichever shows the views largest.
    best = (0.0, 1)
    for cols in range(1, len(names) + 1):
        rows = -(-len(names) // cols)
        cell_w = (avail.x - gap.x * (cols - 1)) / cols
        cell_h = (avail.y - 2 * line) / rows - line - gap.y
        best = max(best, (min(cell_w / w, cell_h / h), cols))
    scale, cols = max(0.01, best[0]), best[1]
    state.view.hover = None
    for i, name in enumerate(names):
        if i % cols:
            imgui.same_line()
        imgui.begin_group()
        imgui.text(_caption(state, name))
        _gui_image(state, name, (w * scale, h * scale))
        imgui.end_group()
    _gui_readout(state)


def _gui_toolbar(state: AppState) -> None:
    view = state.view
    imgui.set_next_item_width(imgui.get_font_size() * 9)
    chosen = combo("view", view.mode, MODES)
    if chosen:
        view.mode = chosen
    imgui.same_line()
    imgui.set_next_item_width(imgui.get_font_size() * 8)
    changed, view.diff_scale = imgui.slider_float("difference x", view.diff_scale, 1.0, 64.0, "%.0f",
                                                  imgui.SliderFlags_.logarithmic)
    tooltip("loss view: (prediction - reference) x N, grey is no error")
    if changed:
        state.render_requested = True
    imgui.same_line()
    imgui.set_next_item_width(imgui.get_font_size() * 5)
    chosen = combo("view resolution", str(view.max_side), [str(r) for r in VIEW_RESOLUTIONS])
    if chosen:
        view.max_side = int(chosen)
        state.render_requested = True
    tooltip("long side of the rendered views (the texture's own size if smaller)")
    tr = state.trainer
    if tr is not None and tr.network.is_array:
        imgui.same_line()
        _, view.tile_psnr = imgui.checkbox("tile PSNR", view.tile_psnr)
        tooltip("network arrays: each tile's PSNR over the loss view (red: low, green: high)")
    imgui.same_line()
    if imgui.button("Fit"):
        view.zoom, view.center = 1.0, (0.5, 0.5)
    tooltip("zoom: mouse wheel over a view; pan: drag; fit: double-click")
    imgui.same_line()
    imgui.text_colored(DIM_COLOR, f"zoom {view.zoom:.1f}x")


def _caption(state: AppState, name: str) -> str:
    if name == "reference":
        return f"Reference ({state.preset.training.transform})"
    if name == "prediction":
        return f"Prediction (step {state.images.step})"
    return f"Loss (difference x{state.view.diff_scale:.0f})"


def _upload(state: AppState) -> None:
    images = state.images
    for name in VIEW_NAMES:
        gl = state.gl_images.setdefault(name, GlImage())
        if gl.serial != images.serial:
            gl.upload(to_rgba8(images.arrays[name]))
            gl.serial = images.serial


def visible_uv(view: ViewSettings) -> tuple[tuple[float, float], tuple[float, float]]:
    """The texture rectangle (uv) every view shows at the shared zoom and pan."""
    half = 0.5 / view.zoom
    cx, cy = view.center
    return (cx - half, cy - half), (cx + half, cy + half)


def _clamp_center(view: ViewSettings) -> None:
    half = 0.5 / view.zoom
    cx, cy = view.center
    view.center = (min(max(cx, half), 1 - half), min(max(cy, half), 1 - half))


def _gui_image(state: AppState, name: str, size: tuple[float, float]) -> None:
    uv0, uv1 = visible_uv(state.view)
    pos = imgui.get_cursor_screen_pos()
    imgui.image(state.gl_images[name].ref(), size, uv0, uv1)
    tr = state.trainer
    if name == "loss" and state.view.tile_psnr and tr is not None and tr.network.is_array:
        _tile_psnr_overlay(state, pos, size, uv0, uv1)
    imgui.set_cursor_screen_pos(pos)
    view_interaction(state.view, f"##view_{name}", size, state.images.size)


def _tile_psnr_overlay(state: AppState, pos, size, uv0, uv1) -> None:
    """Each tile of the network array tinted by its PSNR (views of the current images), with the value."""
    images = state.images
    tiles = state.trainer.network.tiles
    key = (images.serial, tiles)
    if state.tile_psnr_cache[0] != key:
        state.tile_psnr_cache = (key, tile_psnr(images.arrays["prediction"], images.arrays["reference"], tiles))
    values = state.tile_psnr_cache[1]
    finite = values[np.isfinite(values)]
    if not finite.size:
        return
    lo, hi = float(finite.min()), float(finite.max())
    draw = imgui.get_window_draw_list()
    draw.push_clip_rect(pos, imgui.ImVec2(pos.x + size[0], pos.y + size[1]), True)
    sx, sy = size[0] / (uv1[0] - uv0[0]), size[1] / (uv1[1] - uv0[1])
    for ty in range(tiles[1]):
        for tx in range(tiles[0]):
            value = values[ty, tx]
            if not np.isfinite(value):
                continue
            t = (value - lo) / (hi - lo) if hi > lo else 1.0
            a = imgui.ImVec2(pos.x + (tx / tiles[0] - uv0[0]) * sx, pos.y + (ty / tiles[1] - uv0[1]) * sy)
            b = imgui.ImVec2(pos.x + ((tx + 1) / tiles[0] - uv0[0]) * sx, pos.y + ((ty + 1) / tiles[1] - uv0[1]) * sy)
            draw.add_rect_filled(a, b, imgui.color_convert_float4_to_u32(imgui.ImVec4(1 - t, t, 0.15, 0.45)))
            label = f"{value:.1f}"
            text = imgui.calc_text_size(label)
            if b.x - a.x > text.x + 2:
                draw.add_text(imgui.ImVec2((a.x + b.x - text.x) / 2, (a.y + b.y - text.y) / 2), 0xFFFFFFFF, label)
    draw.pop_clip_rect()


def view_interaction(view: ViewSettings, item_id: str, size: tuple[float, float], image_size: tuple[int, int]) -> None:
    """An invisible button of ``size`` at the cursor, over an image drawn there at visible_uv(view): the wheel
    zooms about the cursor, a drag pans, a double-click fits (``view`` is shared by all views); sets
    view.hover to the pixel of an ``image_size`` image under the cursor."""
    io = imgui.get_io()
    uv0, uv1 = visible_uv(view)
    pos = imgui.get_cursor_screen_pos()
    imgui.invisible_button(item_id, size)
    if imgui.is_item_hovered():
        lx = min(max((io.mouse_pos.x - pos.x) / size[0], 0.0), 0.9999)
        ly = min(max((io.mouse_pos.y - pos.y) / size[1], 0.0), 0.9999)
        u, v = uv0[0] + lx * (uv1[0] - uv0[0]), uv0[1] + ly * (uv1[1] - uv0[1])
        w, h = image_size
        view.hover = (min(int(u * w), w - 1), min(int(v * h), h - 1))
        if io.mouse_wheel:  # zoom about the cursor: the texel under it stays put
            view.zoom = min(max(view.zoom * 1.25 ** io.mouse_wheel, 1.0), MAX_ZOOM)
            view.center = (u - (lx - 0.5) / view.zoom, v - (ly - 0.5) / view.zoom)
        if imgui.is_mouse_double_clicked(0):
            view.zoom, view.center = 1.0, (0.5, 0.5)
    if imgui.is_item_active() and imgui.is_mouse_dragging(0, 0.0):
        d = io.mouse_delta
        view.center = (view.center[0] - d.x / size[0] / view.zoom, view.center[1] - d.y / size[1] / view.zoom)
    _clamp_center(view)


def _gui_readout(state: AppState) -> None:
    hover = state.view.hover
    if hover is None:
        imgui.text_colored(DIM_COLOR, "hover a view to read pixel values")
        return
    x, y = hover
    ref = state.images.arrays["reference"][y, x]
    pred = state.images.arrays["prediction"][y, x]
    fmt = lambda c: " ".join(f"{v:.3f}" for v in c)  # noqa: E731
    w, h = state.images.size
    imgui.text(f"pixel ({x}, {y}) of {w}x{h}   reference {fmt(ref)}   prediction {fmt(pred)}   "
               f"|difference| {fmt(abs(pred - ref))}")
