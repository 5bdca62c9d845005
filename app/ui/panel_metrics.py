"""Loss and PSNR curves (implot) and the training counters."""
from __future__ import annotations

import numpy as np
from imgui_bundle import imgui, implot

from .panel_runs import compare_curves
from .state import AppState, Curve
from .widgets import human_bytes, human_seconds


def gui_metrics(state: AppState) -> None:
    em = imgui.get_font_size()
    if imgui.begin_child("##counters", (em * 24, 0)):
        _gui_counters(state)
    imgui.end_child()
    imgui.same_line()
    imgui.begin_group()
    hist = state.history
    imgui.text("x axis")
    for axis in ("steps", "seconds"):
        imgui.same_line()
        if imgui.radio_button(axis, hist.x_axis == axis):
            hist.x_axis = axis
    avail = imgui.get_content_region_avail()
    plot_size = ((avail.x - imgui.get_style().item_spacing.x) / 2, avail.y)
    _plot(state, "Loss", hist.loss, plot_size, log=True, others=compare_curves(state, "loss"))
    imgui.same_line()
    _plot(state, "PSNR (dB)", hist.psnr, plot_size, log=False, others=compare_curves(state, "psnr"))
    imgui.end_group()


def _plot(state: AppState, title: str, curve: Curve, size, log: bool, others=()) -> None:
    """The current network's curve, and ``others`` (label, colour, [[step, seconds, value], ...]) when
    runs are compared."""
    x_label = "step" if state.history.x_axis == "steps" else "training time (s)"
    column = 0 if state.history.x_axis == "steps" else 1
    lines = [("current", None, np.asarray(curve.steps if column == 0 else curve.seconds, np.float64),
              np.asarray(curve.values, np.float64))]
    for label, color, points in others:
        p = np.asarray(points, np.float64).reshape(-1, 3)
        lines.append((label, color, p[:, column], p[:, 2]))
    masks = [np.isfinite(ys) & ((ys > 0) if log else True) for _, _, _, ys in lines]
    any_points = any(m.any() for m in masks)
    if implot.begin_plot(title, size, 0 if others else implot.Flags_.no_legend):
        fit = implot.AxisFlags_.auto_fit if any_points else 0
        implot.setup_axes(x_label, "", fit, fit)
        if log:
            implot.setup_axis_scale(implot.ImAxis_.y1, implot.Scale_.log10)
        for (label, color, xs, ys), ok in zip(lines, masks):
            if ok.any():
                spec = implot.Spec()
                if color is not None:
                    spec.line_color, spec.line_weight = imgui.ImVec4(*color), 2.0
                implot.plot_line(label, np.ascontiguousarray(xs[ok]), np.ascontiguousarray(ys[ok]), spec)
        if not any_points:  # an empty log axis would span 1e-300..1
            implot.setup_axes_limits(0, 1, 1e-3 if log else 0, 1, implot.Cond_.always)
        implot.end_plot()


def _row(label: str, value: str) -> None:
    imgui.table_next_row()
    imgui.table_next_column()
    imgui.text(label)
    imgui.table_next_column()
    imgui.text(value)


def _gui_counters(state: AppState) -> None:
    tr = state.trainer
    flags = imgui.TableFlags_.row_bg | imgui.TableFlags_.sizing_fixed_fit
    if tr is None or not imgui.begin_table("##counter_table", 2, flags):
        imgui.text("no network yet")
        return
    tex_w, tex_h = state.texture.size
    rate = tr.samples_seen / tr.train_seconds if tr.train_seconds > 0 else 0.0
    mlp, enc = tr.layout.parameter_count, tr.encoding.parameter_count
    param_bytes = mlp * (2 if tr.network.half else 4) + enc * 4  # trainable encodings keep float32 tables
    texture_bytes = tex_w * tex_h * 3
    _row("steps", f"{tr.step:,}  ({tr.samples_seen / (tex_w * tex_h):.2f} epochs)")
    _row("samples/s", f"{rate:,.0f}")
    _row("elapsed", human_seconds(tr.train_seconds))
    _row("loss / PSNR", f"{state.history.loss.last():.5f} / {state.history.psnr.last():.2f} dB")
    scale, skipped = state.history.loss_scale
    if tr.network.half:
        dynamic = " dynamic" if tr.preset.training.dynamic_loss_scale else ""
        _row("loss scale", f"{scale:g}{dynamic}, {skipped} steps skipped")
    _row("parameters", f"{mlp + enc:,} = {human_bytes(param_bytes)}" + ("" if enc else f" ({tr.network.precision})"))
    if enc:
        _row("MLP / encoding", f"{mlp:,} {tr.network.precision} / {enc:,} float32")
    _row("texture", f"{tex_w}x{tex_h} = {human_bytes(texture_bytes)} (8-bit RGB)")
    _row("compression", f"{texture_bytes / param_bytes:.1f} : 1")
    _row("device", tr.info.adapter)
    _row("MLP path", tr.mlp_path + ("" if tr.mlp_path != "portable" or not tr.info.cooperative_vector
                                   else " (CoopVec available)"))
    _row("frame rate", f"{imgui.get_io().framerate:.0f} fps, {int(state.pacing.steps)} steps/frame")
    share = state.share
    if state.training:
        _row("device time", f"training {share.training:.0%}, views {share.render:.0%}, idle {share.idle:.0%}")
    imgui.end_table()
