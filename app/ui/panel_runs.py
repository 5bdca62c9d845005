"""The Runs window (the experiment log's table and what to do with a run) and the Compare window.

Click selects a run, Ctrl+click adds a second one. One selected: Restore, Load weights only, Export,
its note, Delete, Compare with the current network. Two: Compare. The network training now is the
first row, live.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from imgui_bundle import hello_imgui, imgui

from ..errors import StudioError
from ..formats import open_network
from . import actions
from .compare_view import LABEL_COLORS, CompareView
from .engine import apply_live, defer, request_build
from .run_tracking import Comparison, end_run
from .state import AppState
from .widgets import DIM_COLOR, INFO_COLOR, gui_message, human_bytes, human_seconds, tooltip

# (header, key of a run's summary for sorting)
COLUMNS = (("#", "id"), ("texture", "texture"), ("preset (encoding)", "preset"), ("parameters", "parameters"),
           ("bits/pixel", "bits_per_pixel"), ("steps", "steps"), ("time", "seconds"), ("PSNR", "psnr"),
           ("status", "status"))  # SSIM/FLIP: in the run's tooltip (two more columns overflowed the panel)
REFRESH_S = 2.0
COMPARE_WINDOW = "Compare"


def _rows(state: AppState) -> list[dict]:
    """The log's runs (re-read when it changed, or every REFRESH_S for other processes' runs), sorted, the
    run training now first."""
    runs = state.runs
    if runs.rows_revision != runs.revision or time.monotonic() - runs.rows_read_at > REFRESH_S:
        texture = state.texture.path if runs.this_texture_only and state.texture is not None else None
        runs.rows = runs.log.runs(texture) if texture is None or Path(texture).is_file() else []
        runs.rows_revision, runs.rows_read_at = runs.revision, time.monotonic()
        runs.disk_usage = runs.log.disk_usage()
        runs.selected = [i for i in runs.selected if any(r["id"] == i for r in runs.rows)]
    column, ascending = runs.sort
    key = COLUMNS[column][1]
    rows = sorted((r for r in runs.rows if r[key] is not None), key=lambda r: r[key], reverse=not ascending)
    rows += [r for r in runs.rows if r[key] is None]  # missing values (no PSNR yet) last either way
    current = runs.current_id
    return [r for r in rows if r["id"] == current] + [r for r in rows if r["id"] != current]


def gui_runs(state: AppState) -> None:
    runs = state.runs
    if runs is None or runs.log is None:
        imgui.text_colored(DIM_COLOR, "no experiment log (see the message in the status bar); runs are not recorded")
        return
    gui_message(state, keep_line=True)  # rows stay put when a note fades (a click was lost there)
    changed, runs.this_texture_only = imgui.checkbox("this texture only", runs.this_texture_only)
    if changed:
        runs.revision += 1
    rows = _rows(state)
    imgui.same_line()
    imgui.text_colored(DIM_COLOR, f"{len(rows)} runs, {human_bytes(runs.disk_usage)} in {runs.log.home}")
    _gui_actions(state)
    _gui_table(state, rows)


def _gui_table(state: AppState, rows: list[dict]) -> None:
    runs = state.runs
    flags = (imgui.TableFlags_.sortable | imgui.TableFlags_.row_bg | imgui.TableFlags_.borders_inner_v
             | imgui.TableFlags_.scroll_y | imgui.TableFlags_.sizing_fixed_fit)
    if not imgui.begin_table("##runs", len(COLUMNS), flags):
        return
    imgui.table_setup_scroll_freeze(0, 1)
    for k, (header, _) in enumerate(COLUMNS):
        newest_first = imgui.TableColumnFlags_.default_sort | imgui.TableColumnFlags_.prefer_sort_descending
        imgui.table_setup_column(header, newest_first if k == 0 else 0, 0.0, k)
    imgui.table_headers_row()
    specs = imgui.table_get_sort_specs()
    if specs is not None and specs.specs_dirty and specs.specs_count:
        spec = specs.get_specs(0)
        runs.sort = (spec.column_user_id, spec.get_sort_direction() == imgui.SortDirection.ascending)
        specs.specs_dirty = False
    current = runs.current_id
    tr = state.trainer
    for r in rows:
        live = r["id"] == current and tr is not None
        imgui.table_next_row()
        imgui.table_next_column()
        selected = r["id"] in runs.selected
        label = f"{r['id']}{' *' if live else ''}###run{r['id']}"
        if imgui.selectable(label, selected, imgui.SelectableFlags_.span_all_columns)[0]:
            _select(runs, r["id"], imgui.get_io().key_ctrl)
        quality = "" if r["ssim"] is None else f"SSIM {r['ssim']:.4f}, FLIP {r['flip']:.4f}"
        if r["note"] or quality:
            tooltip("\n".join(t for t in (r["note"], quality) if t))
        steps, seconds, psnr = ((tr.step, tr.train_seconds, state.history.psnr.last()) if live
                                else (r["steps"], r["seconds"], r["psnr"]))
        cells = (Path(r["texture"]).name or "(generated)", f"{r['preset']} ({r['encoding']})",
                 f"{r['parameters']:,}", f"{r['bits_per_pixel']:.2f}", f"{steps:,}", human_seconds(seconds),
                 "-" if psnr is None or not np.isfinite(psnr) else f"{psnr:.2f} dB",
                 "training now" if live and state.training else r["status"])
        for cell in cells:
            imgui.table_next_column()
            if live:
                imgui.text_colored(INFO_COLOR, cell)
            else:
                imgui.text(cell)
    imgui.end_table()


def _select(runs, run_id: int, add: bool) -> None:
    if not add:
        runs.selected = [run_id]
    elif run_id in runs.selected:
        runs.selected.remove(run_id)
    else:
        runs.selected = (runs.selected + [run_id])[-2:]


def _gui_actions(state: AppState) -> None:
    runs = state.runs
    chosen = runs.selected
    if not chosen:
        imgui.text_colored(DIM_COLOR, "select a run (Ctrl+click: a second one to compare)")
    elif len(chosen) == 2:
        if imgui.button(f"Compare #{chosen[0]} and #{chosen[1]}"):
            compare(state, chosen[0], chosen[1])
    else:
        run_id = chosen[0]
        busy = run_id == runs.current_id
        if imgui.button("Restore"):
            guarded_report(state, lambda: restore_run(state, run_id))
        tooltip("its texture, settings and weights; training continues from there")
        imgui.same_line()
        if imgui.button("Load weights only"):
            guarded_report(state, lambda: load_run_weights(state, run_id))
        tooltip("its weights into the current network (or switch to its network)")
        imgui.same_line()
        if imgui.button("Export..."):
            state.dialogs["export_run"].open(lambda p: guarded_report(state, lambda: export_run(state, run_id, p)),
                                             name=f"run-{run_id}.ntsw")
        imgui.same_line()
        if imgui.button("Compare with current") and state.trainer is not None:
            compare(state, run_id, None)
        imgui.same_line()
        imgui.begin_disabled(busy)
        if imgui.button("Delete"):
            guarded_report(state, lambda: delete_run(state, run_id))
        imgui.end_disabled()
        if busy:
            tooltip("the run training now cannot be deleted")
        _gui_note(state, run_id)
    if runs.comparison is not None:
        imgui.same_line()
        if imgui.button("Stop comparing"):
            stop_comparing(state)


def _gui_note(state: AppState, run_id: int) -> None:
    runs = state.runs
    if runs.note_edit is None or runs.note_edit[0] != run_id:
        row = next((r for r in runs.rows if r["id"] == run_id), None)
        runs.note_edit = (run_id, row["note"] if row else "")
    imgui.set_next_item_width(-imgui.get_font_size() * 3)
    _, text = imgui.input_text("note", runs.note_edit[1])
    runs.note_edit = (run_id, text)
    if imgui.is_item_deactivated_after_edit():
        guarded_report(state, lambda: runs.log.set_note(run_id, text))
        runs.revision += 1


def guarded_report(state: AppState, fn) -> None:
    try:
        fn()
    except StudioError as err:
        state.report(str(err), error=True)


# ---- what the buttons do ----
def restore_run(state: AppState, run_id: int) -> None:
    """The run's texture (when its file is still there), settings and final weights; training continues."""
    log = state.runs.log
    weights = open_network(log.weights_path(run_id))
    preset = log.preset(run_id)
    run = log.get(run_id)
    texture, note = None, ""
    path = Path(run["texture"]) if run["texture"] else None
    current = state.texture.path.resolve() if state.texture is not None and state.texture.path else None
    if path is not None and path != current:
        if path.is_file():
            texture = actions.read_texture(path)
        else:
            note = f"; its texture {path} is gone, kept {state.texture.name}"

    def use(tr) -> None:
        end_run(state, restored_from=run_id)
        if texture is not None:
            state.texture = texture
            tr.set_image(texture.image)
        state.preset = preset
        apply_live(state)
        tr.seed = preset.training.seed
        tr.set_parameters(weights.parameters)
        state.history.clear()
        state.training = state.render_requested = True
        state.report(f"restored run {run_id} ({preset.name}, step {run['steps']}){note}; training continues")

    if (preset.encoding, preset.network) == (actions.current_preset(state).encoding,
                                             actions.current_preset(state).network) and state.trainer is not None:
        defer(state, "restore", lambda: use(state.trainer))
    else:
        if texture is not None:
            state.texture = texture  # the new network is built on it
        request_build(state, preset, f"run {run_id}", after=use)


def load_run_weights(state: AppState, run_id: int) -> None:
    """Only the weights (the current settings and texture stay); a different network asks to switch."""
    path = state.runs.log.weights_path(run_id)
    weights = open_network(path)
    current = actions.current_preset(state)
    if (weights.preset.encoding, weights.preset.network) == (current.encoding, current.network):
        defer(state, "load weights", lambda: actions._use_weights(state, path, weights, run_id))
    else:
        actions.load_weights_from(state, path)


def export_run(state: AppState, run_id: int, target) -> None:
    from ..atomic import atomic_write
    target = Path(target).expanduser()
    atomic_write(target, state.runs.log.weights_path(run_id).read_bytes())
    state.report(f"exported run {run_id}'s weights to {target}")


def delete_run(state: AppState, run_id: int) -> None:
    runs = state.runs
    if run_id == runs.current_id:
        raise StudioError("the run training now cannot be deleted")
    if runs.comparison is not None and run_id in runs.comparison.ids:
        stop_comparing(state)
    runs.log.delete(run_id)
    runs.selected = [i for i in runs.selected if i != run_id]
    runs.revision += 1
    state.report(f"deleted run {run_id} and its files")


def compare(state: AppState, a: int, b: int | None) -> None:
    """Compares runs ``a`` and ``b`` (None: the network training now): the Compare window and the Metrics."""
    runs = state.runs
    log = runs.log
    images, labels, series = [], [], []
    for run_id in (a, b):
        if run_id is None or run_id == runs.current_id:
            images.append(state.images.arrays.get("prediction"))
            labels.append("current network")
            series.append({})
            continue
        run = log.get(run_id)
        images.append(log.thumbnail(run_id))
        labels.append(f"#{run_id} {run['preset']} ({run['encoding']}), {run['steps']} steps")
        series.append(log.series(run_id))
    if any(i is None for i in images):
        state.report("a run to compare has no thumbnail (interrupted) or the views are not rendered yet", error=True)
        return
    ids = tuple(None if i == runs.current_id else i for i in (a, b))
    if runs.comparison is not None:
        runs.comparison.view.release()
    view = CompareView()
    view.set_images(images[0], images[1], tuple(labels))
    runs.comparison = Comparison(ids, tuple(labels), tuple(series), view, state.images.serial)
    hello_imgui.get_runner_params().docking_params.focus_dockable_window(COMPARE_WINDOW)


def stop_comparing(state: AppState) -> None:
    runs = state.runs
    if runs.comparison is not None:
        runs.comparison.view.release()
    runs.comparison = None


def compare_curves(state: AppState, name: str) -> list[tuple[str, tuple, list]]:
    """The compared runs' ``name`` series for the Metrics plots: (label, colour, points), the current
    network's left out (the plots draw it anyway)."""
    runs = state.runs
    c = None if runs is None else runs.comparison
    if c is None:
        return []
    return [(f"{'AB'[k]}: run #{c.ids[k]}", LABEL_COLORS[k], c.series[k].get(name, []))
            for k in range(2) if c.ids[k] is not None]


def gui_compare(state: AppState) -> None:
    runs = state.runs
    c = None if runs is None else runs.comparison
    if c is None:
        imgui.text_colored(DIM_COLOR, "select two runs in Runs (Ctrl+click), or one, and press Compare")
        return
    if None in c.ids and c.serial != state.images.serial and "prediction" in state.images.arrays:
        pred = state.images.arrays["prediction"]  # the current network keeps learning: show its latest image
        a, b = (pred, c.view.b) if c.ids[0] is None else (c.view.a, pred)
        c.view.set_images(a, b, c.labels)
        c.serial = state.images.serial
    c.view.gui(state.view)

