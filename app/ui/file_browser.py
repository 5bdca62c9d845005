"""An in-app file browser (works everywhere, Xvfb included) plus the native dialog where one exists.

portable_file_dialogs needs zenity, kdialog, qarma or matedialog on Linux; without them only the
in-app browser is offered.
"""
from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from imgui_bundle import imgui

from ..formats import FORMATS, READABLE_SUFFIXES

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tga", ".tif", ".tiff", ".exr", ".hdr", ".gif", ".webp")
WEIGHTS_EXTENSIONS = (FORMATS["ntsw"].suffix,)
NETWORK_EXTENSIONS = READABLE_SUFFIXES  # what Load reads: also RTXNS networks


def native_dialogs_available() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return any(shutil.which(tool) for tool in ("zenity", "kdialog", "qarma", "matedialog"))


@dataclass
class FileBrowser:
    title: str                          # popup title, also its ImGui id
    action: str                         # "Open" or "Save": the confirm button's label
    extensions: tuple[str, ...] = ()    # shown files; empty: all
    folder: Path = field(default_factory=Path.cwd)
    name: str = ""
    show_all: bool = False
    on_accept: Callable[[Path], object] | None = None
    request_open: bool = False
    native: object | None = None        # a pending portable_file_dialogs dialog
    close_requested: bool = False       # the native dialog answered: close the popup
    _listing: tuple[Path, list[tuple[str, bool]]] | None = None

    def open(self, on_accept: Callable[[Path], object], folder: Path | None = None, name: str = "") -> None:
        self.on_accept = on_accept
        if folder is not None and folder.is_dir():
            self.folder = folder.resolve()
        self.name = name
        self.request_open = True
        self.close_requested = False
        self._listing = None

    def entries(self) -> list[tuple[str, bool]]:
        """(name, is_folder) in the current folder, folders first; cached until the folder changes."""
        if self._listing is None or self._listing[0] != self.folder:
            items: list[tuple[str, bool]] = []
            try:
                with os.scandir(self.folder) as it:
                    for e in it:
                        if e.name.startswith("."):
                            continue
                        is_dir = e.is_dir()
                        if is_dir or self.show_all or not self.extensions or \
                                e.name.lower().endswith(self.extensions):
                            items.append((e.name, is_dir))
            except OSError as err:
                items = [(f"(cannot list: {err.strerror})", False)]
            items.sort(key=lambda t: (not t[1], t[0].lower()))
            self._listing = (self.folder, items)
        return self._listing[1]

    def target(self) -> Path:
        name = Path(self.name).expanduser()
        return name if name.is_absolute() else self.folder / name

    def navigate(self, folder: Path) -> None:
        folder = folder.expanduser()
        if folder.is_dir():
            self.folder = folder.resolve()
            self._listing = None


def gui_file_browser(fb: FileBrowser) -> None:
    """Draws the browser's modal popup; call once per frame from one place (popups need a fixed ID)."""
    if fb.request_open:
        imgui.open_popup(fb.title)
        fb.request_open = False
    _poll_native(fb)
    imgui.set_next_window_size((640, 460), imgui.Cond_.appearing)
    opened, _ = imgui.begin_popup_modal(fb.title, None)
    if not opened:
        return
    if fb.close_requested:
        fb.close_requested = False
        imgui.close_current_popup()
    changed, text = imgui.input_text("Folder", str(fb.folder), imgui.InputTextFlags_.enter_returns_true)
    if changed:
        fb.navigate(Path(text))
    if imgui.button("Up"):
        fb.navigate(fb.folder.parent)
    imgui.same_line()
    if imgui.button("Home"):
        fb.navigate(Path.home())
    imgui.same_line()
    if imgui.button("Working folder"):
        fb.navigate(Path.cwd())
    if fb.extensions:
        imgui.same_line()
        changed, fb.show_all = imgui.checkbox("All files", fb.show_all)
        if changed:
            fb._listing = None
    if native_dialogs_available():
        imgui.same_line()
        if imgui.button("System dialog...") and fb.native is None:
            _start_native(fb)
    footer = imgui.get_frame_height_with_spacing() * 2 + imgui.get_style().item_spacing.y
    if imgui.begin_child("##files", (0, -footer), imgui.ChildFlags_.borders):
        for name, is_dir in fb.entries():
            label = f"[{name}]" if is_dir else name
            clicked, _ = imgui.selectable(label, fb.name == name, imgui.SelectableFlags_.allow_double_click)
            if clicked and is_dir:
                fb.navigate(fb.folder / name)
            elif clicked:
                fb.name = name
                if imgui.is_mouse_double_clicked(0):
                    _accept(fb)
    imgui.end_child()
    imgui.set_next_item_width(-imgui.calc_text_size("File name").x - imgui.get_style().item_inner_spacing.x)
    entered, fb.name = imgui.input_text("File name", fb.name, imgui.InputTextFlags_.enter_returns_true)
    if fb.action == "Save" and fb.name and fb.target().exists():
        imgui.text_colored((1.0, 0.8, 0.3, 1.0), "exists: it will be replaced")
        imgui.same_line()
    if imgui.button(fb.action) or entered:
        _accept(fb)
    imgui.same_line()
    if imgui.button("Cancel"):
        imgui.close_current_popup()
    imgui.end_popup()


def _accept(fb: FileBrowser) -> None:
    if not fb.name.strip():
        return
    target = fb.target()
    if target.is_dir():
        fb.navigate(target)
        fb.name = ""
        return
    imgui.close_current_popup()
    if fb.on_accept is not None:
        fb.on_accept(target)


def _start_native(fb: FileBrowser) -> None:
    from imgui_bundle import portable_file_dialogs as pfd
    patterns = " ".join(f"*{ext}" for ext in fb.extensions) or "*"
    filters = ["Files", patterns, "All files", "*"]
    start = str(fb.target() if fb.name else fb.folder)
    fb.native = (pfd.open_file(fb.title, start, filters) if fb.action == "Open"
                 else pfd.save_file(fb.title, start, filters))


def _poll_native(fb: FileBrowser) -> None:
    if fb.native is None or not fb.native.ready(0):
        return
    result = fb.native.result()
    fb.native = None
    paths = result if isinstance(result, list) else [result]
    if paths and paths[0]:
        chosen = Path(paths[0])
        fb.navigate(chosen.parent)
        fb.name = chosen.name
        fb.close_requested = True
        if fb.on_accept is not None:
            fb.on_accept(chosen)
