"""The application window: docking layout, menus, shortcuts, dialogs; ``run_app`` is the entry point.

This is the only place that fills hello_imgui's RunnerParams. Panels live in panel_*.py, the GPU
frame loop in engine.py, and what controls do in actions.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from imgui_bundle import hello_imgui, imgui, immapp

from ..errors import StudioError
from ..preset import Preset, describe_architecture, load_preset
from . import actions, engine, run_tracking
from .display import display_problem
from .file_browser import IMAGE_EXTENSIONS, NETWORK_EXTENSIONS, WEIGHTS_EXTENSIONS, FileBrowser, gui_file_browser
from .panel_metrics import gui_metrics
from .panel_network import SAVE_PRESET_POPUP, gui_network
from .panel_quality import gui_quality
from .panel_runs import COMPARE_WINDOW, gui_compare, gui_runs
from .panel_texture import gui_texture
from .panel_training import gui_training
from .panel_views import gui_views
from .state import TEXTURE_DIR, AppState, Texture
from .widgets import DIM_COLOR, ERROR_COLOR, INFO_COLOR

DEFAULT_TEXTURE = TEXTURE_DIR / "chelsea.png"
DEFAULT_PRESET = "rtxns-simple-training"


def create_state(texture: str | Path | None = None, preset: str | Path = DEFAULT_PRESET,
                 mlp_path: str | None = None, preset_dir: Path | None = None) -> AppState:
    """The state the window starts from; the first network compiles once the window is up."""
    errors = []
    try:
        chosen = load_preset(preset)
    except StudioError as err:
        errors.append(str(err))
        chosen = Preset()
    state = AppState(preset=chosen, mlp_request=mlp_path)
    if preset_dir is not None:
        state.preset_dir = preset_dir
    try:
        state.texture = actions.read_texture(texture or DEFAULT_TEXTURE)
    except StudioError as err:
        errors.append(str(err))
        y, x = np.mgrid[0:64, 0:64] / 63.0  # something to train on, so the window still works
        state.texture = Texture("gradient", np.stack([x, y, 1 - x], 2).astype(np.float32))
    state.dialogs = {
        "texture": FileBrowser("Open image", "Open", IMAGE_EXTENSIONS),
        "load": FileBrowser("Load weights", "Open", NETWORK_EXTENSIONS),
        "save": FileBrowser("Save weights", "Save", WEIGHTS_EXTENSIONS),
        "export": FileBrowser("Export prediction", "Save", (".png",)),
        "export_weights": FileBrowser("Export weights", "Save"),
        "export_run": FileBrowser("Export run weights", "Save", WEIGHTS_EXTENSIONS),
    }
    run_tracking.open_runs(state)
    engine.request_build(state, chosen, "first network")
    if errors:
        state.report("; ".join(errors), error=True)
    return state


def gui(state: AppState) -> None:
    """Called every frame: GPU work, shortcuts, dialogs (the panels are the dockable windows)."""
    engine.tick(state, imgui.get_io().delta_time)
    _shortcuts(state)
    _gui_dialogs(state)
    # Keep frames coming while there is work; idle (save power) otherwise.
    idling = hello_imgui.get_runner_params().fps_idling
    idling.enable_idling = not state.busy
    idling.fps_max = state.pacing.fps_max
    _backgrounds_by_clear()


def _backgrounds_by_clear() -> None:
    """Docked windows draw no background; the frame's clear paints their colour instead.

    ImGui fills each docked window's background over the whole window: a full-window layer of
    blended, textured pixels that llvmpipe (the GL of software devices) paid ~10 ms of CPU a frame for
    at 1500x950, CPU taken from training. The clear is almost free. Floating windows keep theirs: they
    lie over other windows. Read every frame, as the theme (View menu) and the docking can change."""
    rp = hello_imgui.get_runner_params()
    bg = imgui.get_style().color_(imgui.Col_.window_bg)
    rp.imgui_window_params.background_color = imgui.ImVec4(bg.x, bg.y, bg.z, 1.0)
    for label in [w.label for w in rp.docking_params.dockable_windows]:
        dockable = rp.docking_params.dockable_window_of_name(label)
        window = imgui.internal.find_window_by_name(label)
        node = window.dock_node if window is not None else None
        while node is not None and node.parent_node is not None:
            node = node.parent_node
        flags = dockable.imgui_window_flags & ~imgui.WindowFlags_.no_background
        if node is not None and node.is_dock_space():
            flags |= imgui.WindowFlags_.no_background
        dockable.imgui_window_flags = flags


def _shortcuts(state: AppState) -> None:
    io = imgui.get_io()
    any_popup = imgui.PopupFlags_.any_popup_id | imgui.PopupFlags_.any_popup_level
    if io.want_text_input or imgui.is_popup_open("", any_popup):
        return
    if io.key_ctrl:
        if imgui.is_key_pressed(imgui.Key.s, False):
            _open_save_weights(state)
        elif imgui.is_key_pressed(imgui.Key.o, False):
            _open_load_weights(state)
        return
    if state.trainer is None:
        return
    if imgui.is_key_pressed(imgui.Key.space, False):
        actions.toggle_training(state)
    elif imgui.is_key_pressed(imgui.Key.r, False):
        actions.reset_weights(state)


def _default_weights_name(state: AppState) -> str:
    return f"{Path(state.texture.name).stem}-{state.preset.name}.ntsw"


def _open_save_weights(state: AppState) -> None:
    state.dialogs["save"].open(lambda p: actions.save_weights_to(state, p), name=_default_weights_name(state))


def _open_load_weights(state: AppState) -> None:
    state.dialogs["load"].open(lambda p: actions.load_weights_from(state, p))


def _open_export(state: AppState) -> None:
    name = f"{Path(state.texture.name).stem}-prediction.png"
    state.dialogs["export"].open(lambda p: actions.export_prediction(state, p), name=name)


def _open_export_weights(state: AppState, fmt) -> None:
    dialog = state.dialogs["export_weights"]
    dialog.extensions = (fmt.suffix,)
    dialog.open(lambda p: actions.export_weights_as(state, fmt.name, p),
                name=f"{Path(state.texture.name).stem}{fmt.suffix}")


def _gui_dialogs(state: AppState) -> None:
    for name in state.popups_to_open:
        imgui.open_popup(name)
    state.popups_to_open.clear()
    for browser in state.dialogs.values():
        gui_file_browser(browser)
    if imgui.begin_popup_modal(SAVE_PRESET_POPUP, None, imgui.WindowFlags_.always_auto_resize)[0]:
        imgui.text(f"Writes the current settings to {state.preset_dir}/NAME.json")
        entered, state.preset_name_edit = imgui.input_text("preset name", state.preset_name_edit,
                                                           imgui.InputTextFlags_.enter_returns_true)
        exists = (state.preset_dir / f"{state.preset_name_edit.strip()}.json").exists()
        if exists:
            imgui.text_colored(ERROR_COLOR, "a preset with this name exists: it will be replaced")
        if imgui.button("Save") or entered:
            if actions.save_current_preset(state, state.preset_name_edit):
                imgui.close_current_popup()
        imgui.same_line()
        if imgui.button("Cancel"):
            imgui.close_current_popup()
        imgui.end_popup()
    if imgui.begin_popup_modal(actions.SWITCH_POPUP, None, imgui.WindowFlags_.always_auto_resize)[0]:
        if state.pending_weights is None:
            imgui.close_current_popup()
        else:
            path, weights = state.pending_weights
            imgui.text(f"{path.name} holds a different network:")
            imgui.bullet_text(f"file:    {describe_architecture(weights.preset)}")
            imgui.bullet_text(f"current: {describe_architecture(actions.current_preset(state))}")
            imgui.text("Switch to the file's network? It compiles, then shows the file's weights.")
            if imgui.button("Switch network"):
                actions.switch_to_pending_weights(state)
                imgui.close_current_popup()
            imgui.same_line()
            if imgui.button("Keep current"):
                state.pending_weights = None
                imgui.close_current_popup()
        imgui.end_popup()


def gui_controls(state: AppState) -> None:
    imgui.push_item_width(-imgui.get_font_size() * 8.5)  # room for the longest label on the right
    if imgui.collapsing_header("Training", imgui.TreeNodeFlags_.default_open):
        gui_training(state)
    if imgui.collapsing_header("Texture", imgui.TreeNodeFlags_.default_open):
        gui_texture(state)
    if imgui.collapsing_header("Network", imgui.TreeNodeFlags_.default_open):
        gui_network(state)
    imgui.pop_item_width()


def gui_menus(state: AppState) -> None:
    if imgui.begin_menu("File"):
        if imgui.menu_item_simple("Open image..."):
            state.dialogs["texture"].open(lambda p: actions.open_texture(state, p))
        if imgui.menu_item_simple("Load weights...", "Ctrl+O"):
            _open_load_weights(state)
        if imgui.menu_item_simple("Save weights...", "Ctrl+S", enabled=state.trainer is not None):
            _open_save_weights(state)
        if imgui.menu_item_simple("Export prediction as PNG...", enabled=state.trainer is not None):
            _open_export(state)
        if imgui.begin_menu("Export weights as", state.trainer is not None):
            from ..formats import FORMATS
            for fmt in FORMATS.values():
                if imgui.menu_item_simple(f"{fmt.name} ({fmt.suffix})..."):
                    _open_export_weights(state, fmt)
                imgui.set_item_tooltip(fmt.summary)
            imgui.end_menu()
        if imgui.menu_item_simple("Save settings as preset..."):
            state.preset_name_edit = state.preset.name
            state.popups_to_open.append(SAVE_PRESET_POPUP)
        imgui.end_menu()
    if imgui.begin_menu("Training", state.trainer is not None):
        if imgui.menu_item_simple("Pause" if state.training else "Train", "Space"):
            actions.toggle_training(state)
        if imgui.menu_item_simple("Single step"):
            actions.single_step(state)
        if imgui.menu_item_simple("Reset weights (new seed)", "R"):
            actions.reset_weights(state)
        imgui.end_menu()


def gui_status(state: AppState) -> None:
    if state.build is not None:
        imgui.text_colored(INFO_COLOR, f"compiling {state.build.request.reason}... {state.build.seconds:.1f} s")
    elif state.trainer is not None:
        tr = state.trainer
        imgui.text(f"{'training' if state.training else 'paused'}  step {tr.step:,}  "
                   f"{tr.info.adapter} ({tr.mlp_path} MLP)")
    msg = state.message
    if msg is not None:
        imgui.same_line()
        imgui.text_colored(ERROR_COLOR if msg.error else DIM_COLOR, f"  {msg.text}")


def _docking(state: AppState) -> hello_imgui.DockingParams:
    left = hello_imgui.DockingSplit("MainDockSpace", "ControlSpace", imgui.Dir.left, 0.27)
    bottom = hello_imgui.DockingSplit("MainDockSpace", "MetricsSpace", imgui.Dir.down, 0.42)

    def window(label: str, space: str, fn, flags: int = 0) -> hello_imgui.DockableWindow:
        w = hello_imgui.DockableWindow(label, space, lambda: fn(state))
        w.imgui_window_flags = flags
        return w

    params = hello_imgui.DockingParams()
    params.docking_splits = [left, bottom]
    no_scroll = imgui.WindowFlags_.no_scrollbar | imgui.WindowFlags_.no_scroll_with_mouse
    params.dockable_windows = [
        window("Controls", "ControlSpace", gui_controls),
        window("Views", "MainDockSpace", gui_views, no_scroll),
        window("Metrics", "MetricsSpace", gui_metrics, no_scroll),
        window("Quality vs size", "MainDockSpace", gui_quality, no_scroll),
        window("Runs", "MainDockSpace", gui_runs, no_scroll),
        window(COMPARE_WINDOW, "MainDockSpace", gui_compare, no_scroll),
    ]
    params.layout_condition = hello_imgui.DockingLayoutCondition.application_start
    # Not passthrough (hello_imgui's default): that draws the dock space's background under the docked
    # windows, one more full-window layer (see _backgrounds_by_clear).
    params.main_dock_space_node_flags = imgui.DockNodeFlags_.none
    return params


def make_runner_params(state: AppState, window_size: tuple[int, int] = (1500, 950)) -> hello_imgui.RunnerParams:
    rp = hello_imgui.RunnerParams()
    rp.app_window_params.window_title = "Neural Texture Studio"
    rp.app_window_params.window_geometry.size = window_size
    rp.imgui_window_params.menu_app_title = "Neural Texture Studio"
    rp.imgui_window_params.default_imgui_window_type = \
        hello_imgui.DefaultImGuiWindowType.provide_full_screen_dock_space
    rp.imgui_window_params.show_menu_bar = True
    rp.imgui_window_params.show_status_bar = True
    rp.imgui_window_params.enable_viewports = False
    rp.docking_params = _docking(state)
    rp.callbacks.show_gui = lambda: gui(state)
    rp.callbacks.show_menus = lambda: gui_menus(state)
    rp.callbacks.show_status = lambda: gui_status(state)
    rp.callbacks.post_init = lambda: _post_init()
    rp.callbacks.before_exit = lambda: _before_exit(state)
    rp.imgui_window_params.show_status_fps = False  # the status bar shows it; idling is automatic
    rp.ini_disable = True  # the layout is the same at every start; no settings file next to the app
    return rp


def _post_init() -> None:
    # Space and R are shortcuts here; keyboard navigation would also "press" the focused button.
    io = imgui.get_io()
    io.config_flags &= ~imgui.ConfigFlags_.nav_enable_keyboard


def _before_exit(state: AppState) -> None:
    """Finish GPU work and free GL textures (the next window, e.g. in tests, creates fresh ones)."""
    if state.build is not None:
        state.build.thread.join()
    if state.device is not None:
        state.device.wait_for_idle()
    if state.quality is not None:
        state.quality.close()
    run_tracking.close_runs(state)
    for gl in state.gl_images.values():
        gl.release()
    state.gl_images.clear()


def add_ons() -> immapp.AddOnsParams:
    return immapp.AddOnsParams(with_implot=True)


def run_app(mlp_path: str | None = None) -> int:
    problem = display_problem()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    state = create_state(mlp_path=mlp_path)
    immapp.run(make_runner_params(state), add_ons())
    return 0
