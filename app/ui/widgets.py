"""Small widget helpers shared by the panels."""
from __future__ import annotations

from typing import Callable

from imgui_bundle import imgui

from .state import AppState

ERROR_COLOR = (1.0, 0.45, 0.4, 1.0)
INFO_COLOR = (0.55, 0.85, 0.55, 1.0)
DIM_COLOR = (0.65, 0.65, 0.65, 1.0)


def combo(label: str, current: str, items: list[str]) -> str | None:
    """A combo over strings; returns the newly chosen item, or None."""
    chosen = None
    if imgui.begin_combo(label, current):
        for item in items:
            if imgui.selectable(item, item == current)[0] and item != current:
                chosen = item
        imgui.end_combo()
    return chosen


def committed_int(state: AppState, label: str, value: int, lo: int, hi: int,
                  commit: Callable[[int], None], slider: bool = True) -> None:
    """An int slider (or field) whose value is applied once, when the user lets go of it."""
    shown = state.edits.get(label, value)
    if slider:
        changed, shown = imgui.slider_int(label, shown, lo, hi, flags=imgui.SliderFlags_.always_clamp)
    else:
        changed, shown = imgui.input_int(label, shown, 0)
    _commit(state, label, value, shown, changed, commit)


def committed_float(state: AppState, label: str, value: float, commit: Callable[[float], None],
                    bounds: tuple[float, float] | None = None, fmt: str = "%.3f") -> None:
    """A float slider within ``bounds`` (or a field without them), applied when the user lets go."""
    shown = state.edits.get(label, value)
    if bounds is not None:
        changed, shown = imgui.slider_float(label, shown, bounds[0], bounds[1], fmt, imgui.SliderFlags_.always_clamp)
    else:
        changed, shown = imgui.input_float(label, shown, 0.0, 0.0, fmt)
    _commit(state, label, value, shown, changed, commit)


def _commit(state: AppState, label: str, value, shown, changed: bool, commit) -> None:
    if changed:
        state.edits[label] = shown
    if imgui.is_item_deactivated_after_edit():
        state.edits.pop(label, None)
        if isinstance(shown, float):  # ImGui edits float32: 0.9 would come back as 0.8999999761581421
            shown = float(f"{shown:.6g}")
        if shown != value:
            commit(shown)
    elif not imgui.is_item_active():
        state.edits.pop(label, None)


def tooltip(text: str) -> None:
    if imgui.is_item_hovered(imgui.HoveredFlags_.delay_short):
        imgui.set_tooltip(text)


def gui_message(state: AppState, keep_line: bool = False) -> None:
    """The latest message: errors stay until dismissed, notes fade after a while. ``keep_line``: an empty
    line stands in for a faded note, so that what follows does not jump up under the mouse."""
    msg = state.message
    import time
    if msg is None or not msg.error and time.monotonic() - msg.time > 10.0:
        if keep_line:
            imgui.text("")
        return
    imgui.push_text_wrap_pos(0.0)
    imgui.text_colored(ERROR_COLOR if msg.error else INFO_COLOR, msg.text)
    imgui.pop_text_wrap_pos()
    if msg.error and imgui.small_button("Dismiss"):
        state.message = None


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def human_seconds(s: float) -> str:
    s = int(s)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
