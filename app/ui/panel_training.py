"""Training control and the settings that apply live: learning rate, loss, optimizer, batch size, sampling."""
from __future__ import annotations

from imgui_bundle import imgui

from ..losses import LOSSES
from ..optimizers import OPTIMIZERS, OptimizerConfig
from ..preset import TrainingConfig
from ..registry import settings_of
from ..sampling import SAMPLINGS
from . import actions
from .state import AppState
from .widgets import DIM_COLOR, combo, committed_float, committed_int, tooltip

# Ranges as the preset's declarations give them (a logarithmic slider cannot reach 0: it starts at 1e-6).
LEARNING_RATE = next(s for s in settings_of(OptimizerConfig) if s.name == "learning_rate")
BATCH = next(s for s in settings_of(TrainingConfig) if s.name == "batch_size")
BATCH_SIZES = [1 << k for k in range(BATCH.lo.bit_length() - 1, BATCH.hi.bit_length())]  # powers of two


def gui_training(state: AppState) -> None:
    ready = state.trainer is not None
    imgui.begin_disabled(not ready)
    if state.training:
        if imgui.button("Pause"):
            actions.toggle_training(state)
    elif imgui.button("Train"):
        actions.toggle_training(state)
    tooltip("Space")
    imgui.same_line()
    if imgui.button("Step"):
        actions.single_step(state)
    tooltip("one training step, then pause")
    imgui.same_line()
    if imgui.button("Reset weights"):
        actions.reset_weights(state)
    tooltip("R: fresh initial weights with a new seed")
    imgui.end_disabled()
    imgui.same_line()
    imgui.text_colored(DIM_COLOR, f"seed {state.preset.training.seed}")

    opt = state.preset.optimizer
    changed, lr = imgui.slider_float("learning rate", opt.learning_rate, max(LEARNING_RATE.lo, 1e-6),
                                     LEARNING_RATE.hi, "%.2e",
                                     imgui.SliderFlags_.logarithmic | imgui.SliderFlags_.always_clamp)
    tooltip(LEARNING_RATE.doc)
    if changed and lr > 0:
        actions.set_live(state, optimizer_params={"learning_rate": float(f"{lr:.3g}")})
    chosen = combo("optimizer", opt.otype, OPTIMIZERS.names())
    if chosen:
        actions.set_live(state, optimizer=chosen)
    if imgui.tree_node("optimizer settings"):
        # Every hyperparameter the core accepts for this optimizer, e.g. betas, weight decay, lr decay.
        settings = opt.settings()
        for key in actions.optimizer_keys(opt.otype):
            if key == "learning_rate":
                continue
            commit = (lambda k: lambda v: actions.set_live(state, optimizer_params={k: v}))(key)
            if key == "adamw":  # Muon's nested section: the same widgets, committed as that section
                if imgui.tree_node("adamw (biases, encoding)"):
                    nested = opt.elementwise.settings()
                    for inner in actions.optimizer_keys("adamw"):
                        _setting_widget(state, f"adamw {inner.replace('_', ' ')}", nested[inner],
                                        (lambda k: lambda v: commit({**nested, k: v}))(inner))
                    imgui.tree_pop()
                continue
            _setting_widget(state, key.replace("_", " "), settings[key], commit)
        imgui.tree_pop()
    chosen = combo("loss", state.preset.loss.otype, LOSSES.names())
    if chosen:
        actions.set_live(state, loss=chosen)
    batch = state.preset.training.batch_size
    sizes = sorted(set(BATCH_SIZES) | {batch})
    chosen = combo("batch size", str(batch), [str(b) for b in sizes])
    if chosen:
        actions.set_live(state, batch_size=int(chosen))
    tooltip(BATCH.doc)
    chosen = combo("sampling", state.preset.training.sampling, list(SAMPLINGS))
    if chosen:
        actions.set_live(state, sampling=chosen)
    tooltip("uniform: random uvs; stratified: one jittered sample per grid cell, every cell once per epoch")
    steps = int(state.pacing.steps) if state.training else 0
    pacing = state.pacing
    caps = {(f"{fps:g} fps" if fps else "uncapped"): fps for fps in pacing.frame_caps()}
    current = next((name for name, fps in caps.items() if fps == pacing.fps_max), f"{pacing.fps_max:g} fps")
    chosen = combo("frame rate", current, list(caps))
    if chosen:
        pacing.set_frame_cap(caps[chosen])
    tooltip("Frames per second the window draws at most. On a software device the window's drawing takes CPU "
            "time from training: a lower cap trains faster, a higher one is smoother")
    imgui.text_colored(DIM_COLOR, f"{steps} steps/frame, views every {pacing.render_interval():.1f} s")
    cap = f"; the frame rate is capped at {pacing.fps_max:g}/s" if pacing.fps_max else ""
    if pacing.fps_max and pacing.software:
        cap += ", as this software device's CPU cores also draw the window"
    tooltip(f"Both adapt so the window stays above {pacing.min_fps:g} frames/s and view refreshes take at most "
            f"{pacing.render_share:.0%} of the device{cap}")


def _setting_widget(state: AppState, label: str, value, commit) -> None:
    if isinstance(value, bool):
        changed, checked = imgui.checkbox(label, value)
        if changed:
            commit(checked)
    elif isinstance(value, int):
        committed_int(state, label, value, 0, 0, commit, slider=False)
    else:
        committed_float(state, label, value, commit, fmt="%g")
