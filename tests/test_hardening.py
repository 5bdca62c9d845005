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


@pytest.mark.parametrize("option,value,message", [
    ("--seed", "1099511627776", "training.seed = 1099511627776 is out of range [0, 4294967295]"),
    ("--seed", "-1", "training.seed = -1 is out of range"),
    ("--batch", "100000000", "training.batch_size = 100000000 is out of range [64, 1048576]"),
    ("--batch", "63", "training.batch_size = 63 is out of range"),
    ("--steps", "100000000000", "training.steps = 100000000000 is out of range"),
    ("--lr", "nan", "optimizer.learning_rate = nan is out of range"),
    ("--lr", "1e300", "optimizer.learning_rate = 1e+300 is out of range"),
    ("--seed", "1" * 5000, "invalid int value"),
    ("--size", "100000x2", "out of range"),
])
def test_cli_option_limits_are_the_presets(tmp_path, option, value, message):
    out = tmp_path / "w.ntsw"
    refused(run_app("train", "--texture", "textures/coffee.png", option, value, "--out", str(out)), message)
    assert not out.exists()


def test_cli_options_are_checked_by_the_preset():
    """The command line changes a preset through the preset's own checks, so their ranges cannot differ."""
    preset = load_preset("rtxns-simple-training")
    with pytest.raises(StudioError, match="training.batch_size = 2000000 is out of range"):
        preset.with_training(batch_size=2_000_000)
    with pytest.raises(StudioError, match="optimizer.learning_rate = 11.0 is out of range"):
        preset.with_optimizer(learning_rate=11.0)
    assert preset.with_training(seed=5, batch_size=None).training.seed == 5
    assert preset.with_optimizer(learning_rate=0.5).optimizer.learning_rate == 0.5


def limits_like_lavapipe(**changes):
    from app.limits import DeviceLimits
    values = dict(adapter="test device", texture_side=16384, dispatch_groups=65535, texel_elements=1 << 27,
                  storage_bytes=1 << 27, software=True)
    return DeviceLimits(**{**values, **changes})


def test_requests_past_device_limits_name_the_limit_and_the_fix():
    from dataclasses import replace
    from app.encodings import encoding_from_config
    from app.limits import check_request
    preset = load_preset("rtxns-simple-training")   # 140 float4 records per sample
    check_request(limits_like_lavapipe(), preset.with_training(batch_size=958_464), "portable")
    with pytest.raises(StudioError, match=r"batch 1048576 needs 146,800,640 per-sample records .* test device allows "
                                          r"134,217,728 in one buffer: use a batch of at most 958,464"):
        check_request(limits_like_lavapipe(), preset.with_training(batch_size=1 << 20), "portable")
    with pytest.raises(StudioError, match="the texture is 20000x16; test device allows 16384 pixels per side"):
        check_request(limits_like_lavapipe(), preset, "portable", texture=(20000, 16))
    with pytest.raises(StudioError, match="a view is 16x16385"):
        check_request(limits_like_lavapipe(), preset, "portable", views=((16, 16385),))
    with pytest.raises(StudioError, match="render at most 4,194,240 pixels, or use --mlp portable"):
        check_request(limits_like_lavapipe(), preset, "coopvec", views=((4096, 4096),))
    grid = replace(preset, encoding=encoding_from_config({"otype": "hash_grid", "n_levels": 16,
                                                          "n_features_per_level": 8, "log2_hashmap_size": 24}))
    with pytest.raises(StudioError, match=r"hash_grid encoding.s table has [0-9,]+ parameters; test device "
                                          r"allows 33,554,432 in one buffer: lower encoding.log2_hashmap_size"):
        check_request(limits_like_lavapipe(), grid, "portable")
    unknown = limits_like_lavapipe(texel_elements=None, storage_bytes=None)  # only slangpy's limits known
    check_request(unknown, preset.with_training(batch_size=1 << 20), "portable")


def test_device_buffer_limits_are_read(device):
    from app.limits import device_limits
    limits = device_limits(device)
    assert limits.adapter == device.info.adapter_name
    assert limits.texel_elements >= 65536 and limits.storage_bytes >= 1 << 27  # Vulkan's required minimums
    assert limits.texture_side >= 4096 and limits.dispatch_groups >= 65535


def test_cli_batch_past_the_device_limit(device, tmp_path):
    """On lavapipe (and any device with 2^27 texel-buffer elements) batch 2^20 of the rtxns network is too large."""
    from app.limits import device_limits
    out = tmp_path / "w.ntsw"
    r = run_app("train", "--texture", "textures/coffee.png", "--size", "16x16", "--batch", str(1 << 20), "--steps", "1",
                "--out", str(out))
    if device_limits(device).texel_elements < 140 * (1 << 20):
        refused(r, "per-sample records")
        assert not out.exists()
    else:  # a device that holds it trains it
        assert r.returncode == 0, r.stderr[-2000:]


def test_window_without_a_display_says_so(tmp_path):
    import os
    from pathlib import Path
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = run_app(env=env, timeout=120)
    refused(r, "no display to open the window on (DISPLAY is not set)")
    assert "xvfb-run" in r.stderr and "needs no display" in r.stderr
    assert not Path("/tmp/.X11-unix/X4711").exists()
    r = run_app(env=dict(env, DISPLAY=":4711"), timeout=120)
    refused(r, "cannot open display :4711")


def test_weights_header_transform_is_checked():
    import hashlib
    import json
    import struct
    import numpy as np
    from app.network import Layout
    from app.network_file import WeightsFile
    from app.weights_io import MAGIC, decode_weights, encode_weights
    preset = load_preset("rtxns-simple-training")
    params = np.zeros(Layout.of(preset.encoding.output_dims, preset.network).parameter_count, np.float32)
    data = encode_weights(WeightsFile(preset, params, (4, 4), "flip"))
    assert decode_weights(data).transform == "flip"
    head_len = struct.unpack_from("<I", data, 12)[0]
    for bad in ("spin", ["flip"], {"a": 1}):
        header = json.loads(data[16:16 + head_len])
        header["transform"] = bad
        head = json.dumps(header).encode()
        body = MAGIC + struct.pack("<II", 1, len(head)) + head
        body += b"\0" * (-len(body) % 16) + params.tobytes()
        with pytest.raises(StudioError, match="has an unknown transform"):
            decode_weights(body + hashlib.sha256(body).digest(), "w.ntsw")


def test_window_load_of_an_unreadable_file_is_a_message(tmp_path, monkeypatch):
    """An OSError while reading (permissions, I/O) stays inside the window's error guard."""
    from pathlib import Path
    from app.ui.actions import load_weights_from
    from app.ui.state import AppState
    path = tmp_path / "w.ntsw"
    path.write_bytes(b"x")
    state = AppState(preset=load_preset("rtxns-simple-training"))
    read_bytes = Path.read_bytes

    def unreadable(self):
        if self.name == path.name:
            raise PermissionError(13, "Permission denied")
        return read_bytes(self)
    monkeypatch.setattr(Path, "read_bytes", unreadable)
    load_weights_from(state, path)
    assert state.message.error and "cannot read" in state.message.text and "Permission denied" in state.message.text


def test_what_the_long_fuzz_found():
    """A key holding a newline is quoted (one-line message); settings given without their switch survive
    a save (to_dict) and load."""
    import json
    from app.preset import Preset
    with pytest.raises(StudioError) as err:
        Preset.from_dict({"training": {}, "\n": None})
    assert "\n" not in str(err.value) and "'\\n'" in str(err.value)
    preset = Preset.from_dict({"training": {"loss_scale_growth_interval": 1000},
                               "optimizer": {"otype": "adam", "decay_start": 5, "decay_base": 0.5}})
    assert Preset.from_dict(json.loads(json.dumps(preset.to_dict()))) == preset


def _exit_worker() -> None:
    import os
    os._exit(1)


def test_quality_panel_replaces_a_dead_worker():
    """The Quality panel's worker process killed (out of memory, a codec's crash): the job in flight fails,
    and the next job runs in a new worker instead of failing for the rest of the session."""
    from concurrent.futures.process import BrokenProcessPool
    from app.ui.panel_quality import QualityPanel
    q = QualityPanel()
    try:
        with pytest.raises(BrokenProcessPool):
            q.submit(_exit_worker).result(timeout=120)
        assert q.submit(abs, -3).result(timeout=120) == 3
    finally:
        q.close()


def test_failed_quality_metrics_are_not_retried_every_frame():
    """Paused, the final weights are measured at once; after a failed measurement the next waits its
    interval (it rendered the full texture and failed again every frame: 0.7 of a core, found with a broken
    worker)."""
    from concurrent.futures import Future
    from types import SimpleNamespace
    from app.ui.panel_quality import Metrics, QualityPanel, _tick_metrics
    messages = []
    state = SimpleNamespace(trainer=SimpleNamespace(step=5, info=SimpleNamespace(software=True)), build=None,
                            training=False, device_tasks=[], build_request=None,
                            report=lambda text, error=False: messages.append(text))
    q = QualityPanel()
    failed = Future()
    failed.set_exception(RuntimeError("worker died"))
    q.metrics_job = (Metrics(id(state.trainer), 5, 1.0, (8, 8), None), failed)
    for _ in range(3):
        _tick_metrics(state, q)
    assert messages == ["quality metrics: worker died"] and state.device_tasks == []
    q.metrics_failed = False  # e.g. the interval has passed and a measurement succeeded
    _tick_metrics(state, q)
    assert [label for label, _ in state.device_tasks] == ["quality metrics"]
