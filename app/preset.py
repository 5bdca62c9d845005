"""Presets: JSON files with sections encoding, network, loss, optimizer, training (tiny-cuda-nn style).

Every section is parsed by the module that owns it; unknown sections, unknown keys, wrong types and
out-of-range values are errors that name the offending key.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from .encodings import Encoding, FrequencyEncoding, encoding_from_config
from .errors import StudioError
from .jsonfile import parse_json, shown
from .losses import LossConfig
from .network import NetworkConfig
from .optimizers import OptimizerConfig
from .registry import expect_object, parse_settings, reject_unknown, setting, settings_of

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
SECTIONS = ["description", "encoding", "network", "loss", "optimizer", "training"]


def _transforms() -> tuple:
    from .texture import TRANSFORMS
    return tuple(TRANSFORMS)


def _samplings() -> tuple:
    from .sampling import SAMPLINGS
    return tuple(SAMPLINGS)


@dataclass(frozen=True)
class TrainingConfig:
    batch_size: int = setting(16384, lo=64, hi=1 << 20, flag="--batch", doc="samples per training step (random UVs drawn on the GPU)")
    steps: int = setting(2000, lo=1, hi=10_000_000, flag="--steps", doc="training steps")
    loss_scale: float = setting(1024.0, lo=1.0, hi=65536.0,
                                doc="float16 networks: gradients are computed for loss·scale and the optimizer divides it "
                                    "out; a step whose gradients hold an inf or NaN is skipped")
    seed: int = setting(1337, lo=0, hi=2**32 - 1, flag="--seed", doc="seed for initial weights and sample positions")
    transform: str = setting("none", choices=_transforms, flag="--transform", doc="UV transform of the target: flip swaps u and v, zoom is uv·0.5 + 0.25")
    sampling: str = setting("uniform", choices=_samplings, flag="--sampling",
                            doc="uniform random uvs, or stratified (jittered, as Dr.Jit's example): a grid of about one "
                                "cell per texel in whole batches, one jittered sample per cell, the steps of an epoch "
                                "walking the cells in a shuffled order so each cell is visited once per epoch")
    dynamic_loss_scale: bool = setting(False, doc="float16 networks, like Dr.Jit's and PyTorch's GradScaler: the "
                                                  "scale halves on a skipped step and doubles after "
                                                  "loss_scale_growth_interval consecutive finite steps")
    loss_scale_growth_interval: int = setting(2000, lo=1, hi=10**9, doc="finite steps before the scale doubles")

    @classmethod
    def from_config(cls, section: object, where: str = "training") -> "TrainingConfig":
        return cls(**parse_settings(cls, expect_object(section, where), where))

    def to_config(self) -> dict:
        """Every setting, except the dynamic loss scale's pair while both are at their defaults and a
        default sampling."""
        out = {s.name: getattr(self, s.name) for s in settings_of(TrainingConfig)}
        if all(out[key] == getattr(TrainingConfig, key) for key in ("dynamic_loss_scale", "loss_scale_growth_interval")):
            del out["dynamic_loss_scale"], out["loss_scale_growth_interval"]
        if out["sampling"] == TrainingConfig.sampling:  # files written before sampling existed stay identical
            del out["sampling"]
        return out


@dataclass(frozen=True)
class Preset:
    name: str = "custom"
    description: str = ""
    encoding: Encoding = field(default_factory=FrequencyEncoding)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    encoding_optimizer: OptimizerConfig | None = None  # a trainable encoding's own; default: `optimizer`

    def __post_init__(self):
        if self.network.is_array and self.encoding.parameter_count:
            raise StudioError(f"network arrays (otype array) need an encoding without trainable parameters; "
                              f"{self.encoding.otype} has {self.encoding.parameter_count:,}: use frequency, "
                              "identity, sin, tri, triangle_wave or one_blob")
        if self.network.is_array and self.optimizer.otype == "muon":
            raise StudioError("Muon does not step network arrays yet (each tile's weight matrices would need their "
                              "own orthogonalisation); use adam, adamw, sgd or rmsprop")

    @classmethod
    def from_dict(cls, data: object, name: str = "custom") -> "Preset":
        where = f"preset {name}"
        d = expect_object(data, where)
        description = d.pop("description", "")
        if not isinstance(description, str):
            raise StudioError(f"{where}: description must be a string")
        encoding = expect_object(d.pop("encoding", {"otype": "frequency"}), "encoding")
        encoding_optimizer = encoding.pop("optimizer", None)
        preset = cls(
            name=name, description=description,
            encoding=encoding_from_config(encoding, "encoding"),
            encoding_optimizer=None if encoding_optimizer is None else
            OptimizerConfig.from_config(encoding_optimizer, "encoding.optimizer"),
            network=NetworkConfig.from_config(d.pop("network", {}), "network"),
            loss=LossConfig.from_config(d.pop("loss", {"otype": "l2"}), "loss"),
            optimizer=OptimizerConfig.from_config(d.pop("optimizer", {"otype": "adam"}), "optimizer"),
            training=TrainingConfig.from_config(d.pop("training", {}), "training"),
        )
        reject_unknown(d, where, SECTIONS)
        return preset

    def to_dict(self) -> dict:
        encoding = self.encoding.to_config()
        if self.encoding_optimizer is not None:
            encoding["optimizer"] = self.encoding_optimizer.to_config()
        return {"description": self.description, "encoding": encoding,
                "network": self.network.to_config(), "loss": self.loss.to_config(),
                "optimizer": self.optimizer.to_config(), "training": self.training.to_config()}

    def with_training(self, **changes) -> "Preset":
        """A copy with these training settings (None: unchanged), checked like a preset file's."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return replace(self, training=TrainingConfig.from_config({**asdict(self.training), **changes}))

    def with_optimizer(self, **changes) -> "Preset":
        """A copy with these optimizer settings (None: unchanged), checked like a preset file's."""
        changes = {k: v for k, v in changes.items() if v is not None}
        if not changes:
            return self
        return replace(self, optimizer=OptimizerConfig.from_config({**self.optimizer.settings(), **changes}))


def describe_architecture(preset: Preset) -> str:
    """One line for a preset's encoding and network (the window's load dialog, the README's preset table)."""
    enc, net = preset.encoding, preset.network
    params = ", ".join(f"{k} {v}" for k, v in enc.to_config().items() if k != "otype")
    encoding = f"{enc.otype} ({params})" if params else enc.otype
    tiles = ""
    if net.is_array:
        options = ", ".join(name for name, on in (("blended", net.blend), ("local uv", net.local_uv)) if on)
        tiles = f"{net.tiles[0]} x {net.tiles[1]} tiles{f' ({options})' if options else ''} of "
    return (f"{encoding} -> {tiles}{net.n_hidden_layers} x {net.n_neurons} {net.activation} -> "
            f"{net.output_activation}, {net.precision}{'' if net.bias else ', no bias'}")


def available_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name_or_path: str | Path) -> Preset:
    """A preset by name (presets/NAME.json) or by path to a JSON file."""
    text = str(name_or_path)
    try:
        path = Path(text)
        if not (text.endswith(".json") or path.exists()):
            path = PRESET_DIR / f"{text}.json"
            if not path.exists():
                raise StudioError(f"unknown preset {shown(text)}; available: {', '.join(available_presets())}")
        if not path.is_file():
            raise StudioError(f"preset file not found: {str(path)[:300]}")
        raw = path.read_bytes()
    except (OSError, ValueError) as err:  # ValueError: a NUL character in the name
        reason = getattr(err, "strerror", None) or str(err)
        raise StudioError(f"cannot read preset {shown(text, 300)}: {reason}") from None
    return preset_from_bytes(raw, path.name)


def preset_from_bytes(data: bytes, filename: str) -> Preset:
    """A preset from the contents of its JSON file ``filename``."""
    return Preset.from_dict(parse_json(data, f"preset {filename}"), Path(filename).stem)


def save_preset(preset: Preset, path: str | Path) -> None:
    from .atomic import atomic_write
    atomic_write(path, (json.dumps(preset.to_dict(), indent=2) + "\n").encode())
