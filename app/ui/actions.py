"""What the controls do: each action updates AppState and hands GPU work to the engine.

Core calls that raise StudioError are reported in the window; the previous state stays in place.
"""
from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from ..encodings import encoding_from_config
from ..errors import StudioError
from ..losses import LossConfig
from ..network import NetworkConfig
from ..optimizers import OptimizerConfig
from ..preset import Preset, load_preset, save_preset
from ..registry import settings_of
from ..texture import load_image, save_image
from ..formats import open_network
from ..network_file import WeightsFile
from ..weights_io import save_weights
from .engine import apply_live, defer, guarded, request_build, submit_encoder
from .run_tracking import end_run
from .state import AppState, Texture

PRESET_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
SWITCH_POPUP = "Different network"


def read_texture(path: str | Path) -> Texture:
    """Loads an image through the core, plus its channel count and depth for the texture panel."""
    path = Path(path).expanduser()
    image = load_image(path)
    channels, bits = 3, "8-bit"
    try:
        import imageio.v3 as iio
        props = iio.improps(path)
        shape = props.shape
        channels = shape[-1] if len(shape) >= 3 and shape[-1] <= 4 else 1
        bits = f"{props.dtype.itemsize * 8}-bit" + (" float" if props.dtype.kind == "f" else "")
    except Exception:  # the image loaded; only the description is unavailable
        pass
    return Texture(path.name, image, path, channels, bits)


def open_texture(state: AppState, path: str | Path) -> bool:
    try:
        texture = read_texture(path)
    except StudioError as err:
        state.report(f"{err} (keeping {state.texture.name if state.texture else 'no texture'})", error=True)
        return False
    state.texture = texture

    def task():
        tr = state.trainer
        end_run(state)
        if tr is not None:
            tr.set_image(texture.image)
            tr.reset()
        state.history.clear()
        state.render_requested = True
        w, h = texture.size
        state.report(f"texture {texture.name}: {w}x{h}, training restarted")
    defer(state, "texture", task)
    return True


def set_transform(state: AppState, name: str) -> None:
    state.preset = state.preset.with_training(transform=name)
    defer(state, "transform", lambda: apply_live(state))
    state.render_requested = True


def optimizer_keys(otype: str) -> tuple[str, ...]:
    """The hyperparameters optimizer ``otype`` reads, as OptimizerConfig declares them."""
    return tuple(s.name for s in settings_of(OptimizerConfig, otype))


def set_live(state: AppState, *, loss: str | None = None, optimizer: str | None = None,
             optimizer_params: dict | None = None, batch_size: int | None = None,
             sampling: str | None = None) -> None:
    """Loss, optimizer and its hyperparameters, batch size, sampling: validated by the core's parsers, applied
    live."""
    p = state.preset
    try:
        if loss is not None:
            p = replace(p, loss=LossConfig.from_config({"otype": loss}))
        if optimizer is not None or optimizer_params:
            otype = optimizer or p.optimizer.otype
            cfg = {key: value for key, value in p.optimizer.settings().items() if key in optimizer_keys(otype)}
            p = replace(p, optimizer=OptimizerConfig.from_config({**cfg, **(optimizer_params or {}), "otype": otype}))
        if batch_size is not None:
            p = p.with_training(batch_size=int(batch_size))
        if sampling is not None:
            p = p.with_training(sampling=sampling)
    except StudioError as err:
        state.report(str(err), error=True)
        return
    state.preset = p
    defer(state, "settings", lambda: apply_live(state))


def set_architecture(state: AppState, *, encoding: dict | None = None, network: dict | None = None) -> None:
    """``encoding`` / ``network``: config changes (as in a preset). Rebuilds the network."""
    p = state.preset
    try:
        if encoding is not None:
            cfg = encoding if "otype" in encoding else {**p.encoding.to_config(), **encoding}
            p = replace(p, encoding=encoding_from_config(cfg))
        if network is not None:
            cfg = {**p.network.to_config(), **network}
            if cfg["otype"] != p.network.otype:  # keep what the other network type also reads
                kept = {s.name for s in settings_of(NetworkConfig, "array" if cfg["otype"] == "array" else "MLP")}
                cfg = {k: v for k, v in cfg.items() if k in kept or k == "otype"}
            p = replace(p, network=NetworkConfig.from_config(cfg))
    except StudioError as err:
        state.report(str(err), error=True)
        return
    if (p.encoding, p.network) != (state.preset.encoding, state.preset.network):
        request_build(state, p, "network rebuilt")


def set_mlp_path(state: AppState, name: str) -> None:
    state.mlp_request = name
    request_build(state, state.preset, f"{name} MLP")


def preset_names(state: AppState) -> list[str]:
    return sorted(p.stem for p in state.preset_dir.glob("*.json"))


def select_preset(state: AppState, name: str) -> None:
    try:
        preset = load_preset(state.preset_dir / f"{name}.json")
    except StudioError as err:
        state.report(str(err), error=True)
        return
    request_build(state, preset, f"preset {name}")


def save_current_preset(state: AppState, name: str) -> bool:
    name = name.strip()
    if not name or not set(name) <= PRESET_NAME_CHARS:
        state.report(f"preset name {name!r}: use letters, digits, '-', '_' and '.'", error=True)
        return False
    path = state.preset_dir / f"{name}.json"
    try:
        save_preset(replace(current_preset(state), name=name), path)
    except StudioError as err:
        state.report(str(err), error=True)
        return False
    state.preset = replace(state.preset, name=name)
    state.report(f"saved preset {path}")
    return True


def current_preset(state: AppState) -> Preset:
    """The settings of the network that is running (the desired ones while none is)."""
    tr = state.trainer
    if tr is None:
        return state.preset
    return replace(state.preset, encoding=tr.encoding, network=tr.network)


def toggle_training(state: AppState) -> None:
    state.training = not state.training
    state.render_requested = True  # show the state training stopped at


def single_step(state: AppState) -> None:
    state.training = False
    state.single_steps += 1


def reset_weights(state: AppState, seed: int | None = None) -> None:
    seed = random.randrange(1 << 31) if seed is None else seed
    state.preset = state.preset.with_training(seed=seed)

    def task():
        end_run(state)
        if state.trainer is not None:
            state.trainer.reset(seed)
        state.history.clear()
        state.render_requested = True
        state.report(f"weights reset with seed {seed}")
    defer(state, "reset", task)


def _weights_file(state: AppState) -> WeightsFile:
    tr = state.trainer
    if tr is None:
        raise StudioError("no network to save yet")
    stats = {"steps": tr.step, "samples": tr.samples_seen, "loss": state.history.loss.last(),
             "psnr": state.history.psnr.last(), "train_seconds": tr.train_seconds, "adapter": tr.info.adapter}
    size = state.texture.size if state.texture else (0, 0)
    return WeightsFile(current_preset(state), tr.parameters(), size, tr.transform, stats)


def save_weights_to(state: AppState, path: str | Path) -> None:
    path = Path(path).expanduser()

    def task():
        weights = _weights_file(state)
        save_weights(path, weights)
        state.report(f"saved weights {path} ({weights.parameters.size:,} parameters, step {state.trainer.step})")
    defer(state, "save weights", task)


def export_weights_as(state: AppState, fmt: str, path: str | Path) -> None:
    """Writes the current network in another tool's format (app/export); refusals show in the window."""
    from ..formats import export_weights
    path = Path(path).expanduser()

    def task():
        from ..export.shader_source import constants_fit
        weights = _weights_file(state)
        # the window has no weight-mode choice: shaders hold their weights as constants unless a trainable
        # encoding's table is too large for that (the CLI refuses it and names --shader-weights buffer)
        large = fmt in ("slang", "hlsl") and not constants_fit(weights)
        written = export_weights(weights, fmt, path, **({"shader_weights": "buffer"} if large else {}))
        state.report(f"exported {fmt}: {', '.join(p.name for p in written)}"
                     + (" (the encoding's table is too large for constants: weights in the .weights.bin buffer)"
                        if large else ""))
    defer(state, "export weights", task)


def load_weights_from(state: AppState, path: str | Path) -> None:
    path = Path(path).expanduser()
    loaded = []
    if not guarded(state, "load weights", lambda: loaded.append(open_network(path))):
        return
    weights = loaded[0]
    current = current_preset(state)
    if (weights.preset.encoding, weights.preset.network) == (current.encoding, current.network):
        defer(state, "load weights", lambda: _use_weights(state, path, weights))
        return
    state.pending_weights = (path, weights)
    state.popups_to_open.append(SWITCH_POPUP)


def switch_to_pending_weights(state: AppState) -> None:
    """Rebuilds the network with the pending file's architecture, then loads its weights."""
    path, weights = state.pending_weights
    state.pending_weights = None
    preset = weights.preset.with_training(transform=weights.transform)
    request_build(state, preset, f"network of {path.name}", after=lambda _tr: _use_weights(state, path, weights))


def _use_weights(state: AppState, path: Path, weights: WeightsFile, run_id: int | None = None) -> None:
    """``run_id``: the logged run the weights come from."""
    tr = state.trainer
    end_run(state, restored_from=run_id)
    tr.set_parameters(weights.parameters)
    state.preset = state.preset.with_training(transform=weights.transform)
    tr.set_transform(weights.transform)
    state.training = False
    state.history.clear()
    state.render_requested = True
    steps = weights.stats.get("steps")
    trained = f", trained {steps} steps" if steps else ""
    notes = "".join(f"; {note}" for note in weights.notes)  # what an import of another tool's file assumed
    state.report(f"loaded {path.name} ({tr.parameter_count:,} parameters{trained}); "
                 f"training paused, Space resumes{notes}")


def export_prediction(state: AppState, path: str | Path) -> None:
    """Renders the prediction at the texture's size and writes it, without waiting on the device."""
    path = Path(path).expanduser()

    def task():
        tr = state.trainer
        if tr is None or state.texture is None:
            raise StudioError("no network to export yet")
        size = state.texture.size
        enc = state.device.create_command_encoder()
        views = tr.append_render(enc, size)

        def write():
            save_image(path, views["prediction"].to_numpy()[:, :, :3])
            state.report(f"exported the prediction to {path} ({size[0]}x{size[1]})")
        submit_encoder(state, enc, write)
    defer(state, "export", task)
