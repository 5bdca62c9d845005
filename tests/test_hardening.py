"""Defects found by trying main as a new user would (issue 13): each input is refused with one line
`error: ...`, exit status 2, and nothing is written."""
import subprocess
import sys

import pytest

from app.errors import StudioError
from app.preset import load_preset
from conftest import ROOT


def run_app(*args, env=None, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / "app.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def refused(r, message: str) -> None:
    """One line `error: ...` containing ``message``, exit status 2, no traceback."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[-2000:]
    assert message in lines[0], lines[0]


PATHOLOGICAL_PRESETS = {
    "deep": (b"[" * 100_000, "nested too deeply"),
    "deep-object": (b'{"network": ' + b'{"a": ' * 100_000, "nested too deeply"),
    "long-integer": (b'{"training": {"seed": ' + b"7" * 5000 + b"}}", "digits"),
    "binary": (b"\xff\xfe{}", "not UTF-8"),
}


@pytest.mark.parametrize("case", PATHOLOGICAL_PRESETS)
def test_pathological_preset_files_are_refused(tmp_path, case):
    data, message = PATHOLOGICAL_PRESETS[case]
    path = tmp_path / "p.json"
    path.write_bytes(data)
    with pytest.raises(StudioError, match=message) as err:
        load_preset(path)
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_pathological_preset_on_the_command_line(tmp_path):
    preset, out = tmp_path / "p.json", tmp_path / "w.ntsw"
    for data, message in PATHOLOGICAL_PRESETS.values():
        preset.write_bytes(data)
        refused(run_app("train", "--texture", "textures/coffee.png", "--preset", str(preset), "--out", str(out)),
                message)
        assert not out.exists()


def test_long_values_in_presets_are_cut_in_messages(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{"network": {"n_neurons": ' + "9" * 4000 + '}}')
    with pytest.raises(StudioError, match=r"network.n_neurons = 9+\.\.\. is out of range") as err:
        load_preset(path)
    assert len(str(err.value)) < 200
