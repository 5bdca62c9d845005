"""Ids shared by Python and Slang come from one place: app/shader_ids.py emits them as defines into every
Slang session, and no shader defines one by hand."""
import re

from app.shader_ids import id_tables, shader_defines
from conftest import ROOT

SHADERS = sorted((ROOT / "shaders").rglob("*.slang"))
PREFIXES = "|".join(id_tables())


def test_no_shader_defines_a_shared_id_by_hand():
    by_hand = [f"{path.relative_to(ROOT)}:{n + 1}: {line.strip()}" for path in SHADERS
               for n, line in enumerate(path.read_text().splitlines())
               if re.match(rf"\s*#\s*define\s+({PREFIXES})_", line)]
    assert not by_hand, by_hand


def test_every_id_a_shader_names_is_emitted():
    """A renamed Python entry fails here, not at the next shader compile."""
    defines = shader_defines()
    code = {path.name: re.sub(r"//.*", "", path.read_text()) for path in SHADERS}  # comments may name tables
    named = {(name, token) for name, text in code.items()
             for token in re.findall(rf"\b(?:{PREFIXES})_[A-Z0-9_]+\b", text)}
    assert {(name, token) for name, token in named if token not in defines} == set()
    assert {token for _, token in named} >= {"ACT_LEAKY_RELU", "LOSS_L1", "OPT_SGD", "TRANSFORM_FLIP"}


def test_ids_are_distinct_within_each_family():
    for prefix, table in id_tables().items():
        assert len(set(table.values())) == len(table), prefix
