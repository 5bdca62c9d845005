"""Property-based fuzzing of presets and command-line option values, like tests/test_export_fuzz.py for
network files: whatever the input, only StudioError with a one-line message (or argparse's one-line
usage error, exit status 2) may come out, and what is accepted is a valid preset that round-trips."""
import contextlib
import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.cli import build_parser, train_settings
from app.errors import StudioError
from app.export.common import encoding_from_spec
from app.preset import PRESET_DIR, Preset, available_presets, preset_from_bytes
from app.texture import parse_size
from fuzzing import fuzz_settings, json_mutations, json_values

SEEDS = {name: (PRESET_DIR / f"{name}.json").read_bytes() for name in available_presets()}


def one_line(err: StudioError) -> None:
    message = str(err)
    assert message and "\n" not in message and len(message) < 1200, message


@st.composite
def preset_files(draw) -> bytes:
    seed = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    data = seed
    for _ in range(draw(st.integers(1, 3))):
        try:
            json.loads(data)
            data = draw(json_mutations(data))
        except ValueError:  # already broken: keep damaging the bytes
            data = draw(json_mutations(seed))
    return data


@fuzz_settings(1000)
@given(preset_files())
def test_preset_loader_fuzz(data):
    try:
        preset = preset_from_bytes(data, "fuzz.json")
    except StudioError as err:
        one_line(err)
        return
    assert Preset.from_dict(json.loads(json.dumps(preset.to_dict())), "fuzz") == preset  # accepted means valid


# Values as a user might type them: numbers of every size and form, words, flags, odd text.
option_text = st.one_of(
    st.integers(-2 ** 70, 2 ** 70).map(str),
    st.sampled_from(["0", "-0", "1e309", "-1e309", "nan", "inf", "-inf", "1e-320", "0x10", "1_000", " 5", "",
                     "4" * 4400, "9" * 5000, "64x64", "0x0", "8193x1", "1x99999999999", "x", "-", "--", "-5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)
TRAIN_OPTIONS = ["--steps", "--batch", "--lr", "--seed", "--transform", "--size", "--preset", "--encoding",
                 "--hidden-activation", "--output-activation", "--leaky-relu-alpha"]


def run_train_options(argv: list[str]) -> None:
    """Everything `train` checks before it reads the texture or opens the device."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = build_parser().parse_args(["train", "--texture", "t.png", *argv])
    except SystemExit as stop:
        assert stop.code == 2
        lines = err.getvalue().strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err.getvalue()
        return
    try:
        preset, _ = train_settings(args)
        if args.size:
            parse_size(args.size)
        if args.encoding:
            encoding_from_spec(args.encoding)
    except StudioError as err:
        one_line(err)
        return
    assert Preset.from_dict(preset.to_dict(), preset.name) == preset


@fuzz_settings(1000)
@given(st.lists(st.tuples(st.sampled_from(TRAIN_OPTIONS), option_text), min_size=1, max_size=3))
def test_cli_option_values_fuzz(options):
    run_train_options([part for option, value in options for part in (option, value)])


@fuzz_settings(300)
@given(json_values)
def test_cli_encoding_json_fuzz(value):
    run_train_options(["--encoding", json.dumps({"otype": "frequency", "n_frequencies": value})])
    run_train_options(["--encoding", json.dumps(value)])


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_bundled_presets_are_fuzz_seeds(name):
    assert preset_from_bytes(SEEDS[name], f"{name}.json") == Preset.from_dict(json.loads(SEEDS[name]), name)
