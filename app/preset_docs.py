"""The README's preset reference, written from the declarations: every section's keys (``setting`` fields),
every registered otype with its documentation, and the bundled presets read from their files. The README
holds the generated text between markers; a test fails when it is stale.

    python -m app.preset_docs           # prints the reference
    python -m app.preset_docs --write   # replaces it in README.md
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .activations import ACTIVATIONS, activation_name
from .encodings import ENCODINGS
from .losses import LOSSES, LossConfig
from .network import NETWORK_OTYPES, Layout, NetworkConfig
from .optimizers import OPTIMIZERS, OptimizerConfig
from .preset import Preset, TrainingConfig, available_presets, describe_architecture, load_preset
from .registry import settings_of

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- preset reference: written by `python -m app.preset_docs --write` from the declarations -->"
END = "<!-- end of preset reference -->"


def _cell(text: str) -> str:
    """Text for a table cell: a '|' would end the cell; one sentence without its full stop."""
    return text.replace("|", "\\|").removesuffix(".")


def _value(v) -> str:
    if v is None:
        return "its defaults"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int) and v > 99_999:  # 2^20, 2^32 − 1, 10^9 read better than their digits
        for base in (2, 10):
            k = round(math.log(v + 1, base))
            if base ** k == v:
                return f"{base}^{k}"
            if base ** k == v + 1:
                return f"{base}^{k} − 1"
        return f"{v:,}"
    if isinstance(v, float):
        text = repr(v)
        return text.replace("e-0", "e-").replace("e+0", "e+") if "e" in text else text.removesuffix(".0")
    if isinstance(v, str):
        return f"`{v}`"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return str(v)


def _range(s) -> str:
    if s.kind is dict:
        return "a section"
    if s.choices:
        return ", ".join(f"`{c}`" for c in s.choices())
    if s.parse is activation_name:
        return "an activation (below)"
    if s.lo is not None or s.hi is not None:
        return f"{_value(s.lo)} – {_value(s.hi)}"
    return ""


def _rows(section: str, cls, otypes: list[str] | None, otype_default: str | None, otype_range: str,
          otype_classes: dict[str, type] | None = None) -> list[str]:
    """Rows of one section: its otype, then each key once per distinct declaration (with the otypes it serves)."""
    rows = []
    if otype_default is not None:
        rows.append(f"| `{section}` | `otype` | `{otype_default}` | {otype_range} | | which {section} (otypes below) |")
    seen: dict[tuple, list[str]] = {}
    order = []
    for otype in (otypes or [None]):
        owner = otype_classes[otype] if otype_classes else cls
        for s in settings_of(owner, None if otype_classes else otype):
            key = (s.name, repr(s.default), s.lo, s.hi, s.doc)
            if key not in seen:
                seen[key], _ = [], order.append((key, s))
            if otype:
                seen[key].append(otype)
    for key, s in order:
        users = seen[key]
        serves = "" if not otypes or len(users) == len(otypes) else ", ".join(f"`{o}`" for o in users)
        first = f"`{section}`" if not rows else ""
        rows.append(f"| {first} | `{s.name}` | {_value(s.default)} | {_range(s)} | {serves} | {_cell(s.doc)} |")
    return rows


def keys_table() -> str:
    encodings = ENCODINGS.names_in_order()
    classes = {name: ENCODINGS.lookup(name)[1] for name in encodings}
    trainable = [n for n, c in classes.items() if c().parameter_count]
    rows = ["| section | key | default | range | for | meaning |", "|---|---|---|---|---|---|",
            '| `description` | | `""` | text | | what the preset reproduces |']
    rows += _rows("encoding", None, encodings, "frequency", "see below", classes)
    rows.append(f"| | `optimizer` | the main one | an `optimizer` section | {', '.join(f'`{n}`' for n in trainable)} "
                "| the encoding's own optimizer (e.g. Adam with ε = 1e-15 as Instant NGP uses for grids) |")
    rows += _rows("network", NetworkConfig, list(NETWORK_OTYPES), NETWORK_OTYPES[0],
                  ", ".join(f"`{n}`" for n in (*NETWORK_OTYPES, "FullyFusedMLP")))
    rows += _rows("loss", LossConfig, None, LossConfig().otype, "see below")
    rows += _rows("optimizer", OptimizerConfig, OPTIMIZERS.names_in_order(), OptimizerConfig().otype, "see below")
    rows += _rows("training", TrainingConfig, None, None, "")
    return "\n".join(rows)


def otypes_table() -> str:
    rows = ["| section | otype | also accepted | what it computes |", "|---|---|---|---|"]
    for section, registry in (("encoding", ENCODINGS), ("loss", LOSSES), ("optimizer", OPTIMIZERS)):
        for name in registry.names_in_order():
            aliases = ", ".join(f"`{a}`" for a in registry.aliases(name))
            rows.append(f"| `{section}` | `{name}` | {aliases} | {_cell(registry.doc(name))} |")
    rows.append(f"| `activation` | {', '.join(f'`{a}`' for a in ACTIVATIONS)} | | hidden and output activations |")
    return "\n".join(rows)


def _summary(preset: Preset) -> tuple[str, str, int]:
    enc, net, opt, tr = preset.encoding, preset.network, preset.optimizer, preset.training
    architecture = f"{describe_architecture(preset)}; {enc.output_dims} network inputs"
    training = f"{opt.otype} {_value(opt.learning_rate)}, {preset.loss.otype}, batch {tr.batch_size}, {tr.steps} steps"
    if opt.otype == "muon":
        training += f" (matrices; biases: adamw {_value(opt.elementwise.learning_rate)})"
    if tr.sampling != "uniform":
        training += f"; {tr.sampling} sampling"
    if preset.encoding_optimizer:
        training += f"; encoding: {preset.encoding_optimizer.otype} {_value(preset.encoding_optimizer.learning_rate)}"
    if net.half:
        training += "; dynamic loss scale" if tr.dynamic_loss_scale else f"; loss scale {_value(tr.loss_scale)}"
    params = Layout.of(enc.output_dims, net).parameter_count + enc.parameter_count
    return architecture, training, params


def presets_table() -> str:
    rows = ["| preset | encoding → network | training | parameters |", "|---|---|---|---|"]
    notes = []
    for name in available_presets():
        preset = load_preset(name)
        arch, training, params = _summary(preset)
        rows.append(f"| `{name}` | {arch} | {training} | {params:,} |")
        notes.append(f"- `{name}`: {preset.description}")
    return "\n".join(rows) + "\n\n" + "\n".join(notes)


def reference() -> str:
    return "\n\n".join([BEGIN, keys_table(), otypes_table(), "Bundled presets (`presets/*.json`):", presets_table(), END])


def updated_readme(text: str) -> str:
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + reference() + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help=f"replace the reference in {README.name}")
    args = parser.parse_args(argv)
    if not args.write:
        print(reference())
        return 0
    from .atomic import atomic_write
    atomic_write(README, updated_readme(README.read_text(encoding="utf-8")).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
