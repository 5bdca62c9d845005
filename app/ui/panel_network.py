"""Presets, encoding and architecture. Changes here compile a new network in the background."""
from __future__ import annotations

from imgui_bundle import imgui

from ..activations import ACTIVATIONS
from ..encodings import ENCODINGS
from ..network import MAX_TILES, NETWORK_OTYPES, PRECISIONS, NetworkConfig
from ..registry import settings_of
from . import actions
from .state import AppState
from .widgets import DIM_COLOR, INFO_COLOR, combo, committed_float, committed_int, tooltip

SAVE_PRESET_POPUP = "Save preset"


def gui_network(state: AppState) -> None:
    _gui_presets(state)
    imgui.separator_text("Encoding")
    _gui_encoding(state)
    imgui.separator_text("Network")
    _gui_architecture(state)
    _gui_build_status(state)


def _gui_presets(state: AppState) -> None:
    name = state.preset.name
    chosen = combo("preset", name, actions.preset_names(state))
    if chosen:
        actions.select_preset(state, chosen)
    tooltip(state.preset.description or "presets/*.json")
    if imgui.button("Save as preset..."):
        state.preset_name_edit = name if name != "custom" else "my-preset"
        state.popups_to_open.append(SAVE_PRESET_POPUP)


def _gui_encoding(state: AppState) -> None:
    enc = state.preset.encoding
    chosen = combo("encoding", enc.otype, ENCODINGS.names())
    if chosen:
        actions.set_architecture(state, encoding={"otype": chosen})
    tooltip((type(enc).__doc__ or enc.otype).strip())
    # Every hyperparameter the encoding declares, with its range; the core validates the combination.
    for s in settings_of(type(enc)):
        key, kind, lo, hi = s.name, s.kind, s.lo, s.hi
        value = getattr(enc, key)
        label = key.replace("_", " ")
        commit = (lambda k: lambda v: actions.set_architecture(state, encoding={k: v}))(key)
        if kind is bool:
            changed, v = imgui.checkbox(label, value)
            if changed:
                commit(v)
        elif kind is int:
            committed_int(state, label, value, int(lo), int(hi), commit, slider=hi - lo <= 64)
        else:
            committed_float(state, label, float(value), commit, fmt="%g")
        tooltip(f"{s.doc}: {lo} to {hi}")
    imgui.text_colored(DIM_COLOR, f"{enc.output_dims} network inputs"
                       + (f", {enc.parameter_count:,} trainable parameters" if enc.parameter_count else ""))


def _gui_architecture(state: AppState) -> None:
    net = state.preset.network

    def set_net(**changes):
        actions.set_architecture(state, network=changes)

    declared = {s.name: s for s in settings_of(NetworkConfig)}
    chosen = combo("network type", net.otype, list(NETWORK_OTYPES))
    if chosen:
        set_net(otype=chosen)
    tooltip("MLP: one network for the whole texture; array: one small network per tile (tinn)")
    if net.is_array:
        tx, ty = net.tiles
        committed_int(state, "tiles x", tx, 1, MAX_TILES, lambda v: set_net(tiles=[v, ty]))
        committed_int(state, "tiles y", ty, 1, MAX_TILES, lambda v: set_net(tiles=[tx, v]))
        tooltip(declared["tiles"].doc)
        for key in ("blend", "local_uv"):
            changed, value = imgui.checkbox(key.replace("_", " "), getattr(net, key))
            if changed:
                set_net(**{key: value})
            tooltip(declared[key].doc)
    for key in ("n_neurons", "n_hidden_layers"):  # ranges as the preset's declaration says
        s = declared[key]
        committed_int(state, s.doc, getattr(net, key), s.lo, s.hi, (lambda k: lambda v: set_net(**{k: v}))(key))
    names = list(ACTIVATIONS)
    chosen = combo("hidden activation", net.activation, names)
    if chosen:
        set_net(activation=chosen)
    chosen = combo("output activation", net.output_activation, names)
    if chosen:
        set_net(output_activation=chosen)
    if "leaky_relu" in (net.activation, net.output_activation):
        committed_float(state, "leaky slope", net.leaky_relu_alpha, lambda v: set_net(leaky_relu_alpha=v),
                        (0.0, 1.0))
    changed, bias = imgui.checkbox("bias", net.bias)
    if changed:
        set_net(bias=bias)
    chosen = combo("precision", net.precision, list(PRECISIONS))
    if chosen:
        set_net(precision=chosen)
    tr = state.trainer
    if tr is not None and len(tr.info.paths) > 1:
        chosen = combo("MLP path", tr.mlp_path, tr.info.paths)
        if chosen:
            actions.set_mlp_path(state, chosen)


def _gui_build_status(state: AppState) -> None:
    job = state.build
    if job is not None:
        dots = "." * (1 + int(job.seconds * 3) % 3)
        imgui.text_colored(INFO_COLOR, f"compiling {job.request.reason}{dots} {job.seconds:.1f} s")
    elif state.build_request is not None:
        imgui.text_colored(INFO_COLOR, "compile queued...")
    elif state.trainer is not None:
        tr = state.trainer
        text = f"{tr.parameter_count:,} parameters"
        if tr.network.is_array:
            tx, ty = tr.network.tiles
            text += f": {tx} x {ty} tiles of {tr.layout.tile_parameter_count:,}"
        imgui.text_colored(DIM_COLOR, text)
