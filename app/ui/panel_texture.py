"""Texture choice (bundled or any file) and the UV transform."""
from __future__ import annotations

from imgui_bundle import imgui

from ..texture import TRANSFORMS
from . import actions
from .file_browser import IMAGE_EXTENSIONS
from .state import AppState
from .widgets import DIM_COLOR


def bundled_textures(state: AppState) -> list:
    return sorted(p for p in state.texture_dir.glob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)


def gui_texture(state: AppState) -> None:
    tex = state.texture
    if tex is not None:
        w, h = tex.size
        imgui.text(f"training on {tex.name}")
        imgui.text_colored(DIM_COLOR, f"{w}x{h}, {tex.channels} channel{'s' if tex.channels > 1 else ''}, "
                                      f"{tex.bits}")
        if tex.path is not None and tex.path.parent.resolve() != state.texture_dir.resolve():
            imgui.text_colored(DIM_COLOR, str(tex.path.parent))
    imgui.text_colored(DIM_COLOR, "bundled:")
    for path in bundled_textures(state):
        selected = tex is not None and tex.path is not None and tex.path.resolve() == path.resolve()
        if imgui.selectable(path.name, selected)[0] and not selected:
            actions.open_texture(state, path)
    if imgui.button("Open image..."):
        folder = tex.path.parent if tex is not None and tex.path is not None else None
        state.dialogs["texture"].open(lambda p: actions.open_texture(state, p), folder)
    imgui.text("Transform")
    for name in TRANSFORMS:
        imgui.same_line()
        if imgui.radio_button(name, state.preset.training.transform == name):
            actions.set_transform(state, name)
