"""The experiment log (app/runlog.py) and `app.py runs ...`, each in a temporary NTS_HOME.

Most tests record runs of a stand-in trainer (no GPU: the log only reads a trainer's counters,
parameters and prediction); the CLI tests at the end train real networks (tiny, a few steps).
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import ROOT, TEXTURES

from app import runlog
from app.cli import main
from app.errors import StudioError
from app.footprint import bits_per_pixel, storage_bits
from app.preset import load_preset
from app.runlog import MAX_POINTS, Recorder, RunLog, downsample, open_log
from app.formats import open_network
from app.network_file import parameter_count


class FakeTrainer:
    """What a Recorder reads of a Trainer, without a device."""

    def __init__(self, size=(8, 6), preset="rtxns-simple-training", value=0.5):
        self.preset = load_preset(preset)
        self.loss, self.optimizer = self.preset.loss, self.preset.optimizer
        self.batch, self.transform, self.seed = self.preset.training.batch_size, "none", 7
        self.image_size = size
        self.info = SimpleNamespace(adapter="stand-in device")
        self.mlp_path = "portable"
        self.parameter_count = parameter_count(self.preset)
        self.params = np.linspace(-1, 1, self.parameter_count, dtype=np.float32)
        self.value = value
        self.step = self.samples_seen = 0
        self.train_seconds = 0.0

    def train(self, n):
        self.step += n
        self.samples_seen += n * self.batch
        self.train_seconds += 0.01 * n

    def parameters(self):
        return self.params.copy()

    def prediction(self, size=None):
        w, h = size or self.image_size
        return np.full((h, w, 3), self.value, np.float32)


def record(log, steps=10, status="finished", texture=None, **kw):
    """One finished run of a FakeTrainer; returns its id."""
    tr = FakeTrainer(**kw)
    rec = Recorder(log, "cli", notify=pytest.fail)
    rec.start(tr, texture)
    for _ in range(steps):
        tr.train(1)
        rec.add("loss", tr.step, tr.train_seconds, 1.0 / tr.step)
        rec.update()
    return rec.finish(status, psnr=20.0 + tr.step)


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "nts-home"
    monkeypatch.setenv("NTS_HOME", str(folder))
    return folder


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("NTS_HOME", str(tmp_path / "x"))
    assert runlog.home_folder() == tmp_path / "x"
    monkeypatch.delenv("NTS_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    if sys.platform.startswith("linux"):
        assert runlog.home_folder() == tmp_path / "data" / "neural-texture-studio"


def test_run_is_recorded_with_figures_weights_and_thumbnail(home):
    log = RunLog()
    run_id = record(log, steps=10, size=(300, 150))
    run = log.get(run_id)
    preset = load_preset("rtxns-simple-training")
    assert run["status"] == "finished" and run["source"] == "cli" and run["steps"] == 10
    assert run["parameters"] == parameter_count(preset)
    assert run["bits_per_pixel"] == pytest.approx(storage_bits(preset) / (300 * 150))
    assert run["bytes"] == storage_bits(preset) // 8
    assert run["psnr"] == pytest.approx(30.0) and run["loss"] == pytest.approx(0.1)
    assert run["samples_per_s"] == pytest.approx(preset.training.batch_size / 0.01)
    assert (run["texture_width"], run["texture_height"]) == (300, 150) and run["seed"] == 7
    assert log.preset(run_id).to_dict() == preset.with_training(seed=7).to_dict()
    weights = open_network(log.weights_path(run_id))
    np.testing.assert_array_equal(weights.parameters, np.linspace(-1, 1, run["parameters"], dtype=np.float32))
    assert weights.texture_size == (300, 150) and weights.stats["run"] == run_id
    thumb = log.thumbnail(run_id)
    assert thumb.shape == (128, 256, 3) and np.allclose(thumb, 128 / 255)
    series = log.series(run_id)
    assert [p[0] for p in series["loss"]] == list(range(1, 11)) and series["psnr"][-1][2] == 30.0
    # A generated texture (no file) is identified by its pixels.
    import hashlib
    pixels = np.random.default_rng(0).random((6, 8, 3), dtype=np.float32)
    rec = Recorder(log, "window", notify=pytest.fail)
    rec.start(FakeTrainer(), None, image=pixels)
    generated = log.get(rec.run_id)
    assert generated["texture"] == "" and generated["texture_sha256"] == hashlib.sha256(pixels.tobytes()).hexdigest()
    # Bits per pixel: float16 MLP weights count 16 bits, a trainable encoding's 32 bits.
    half = load_preset("rtxns-simple-training")
    assert half.network.half and bits_per_pixel(half, (10, 10)) == parameter_count(half) * 16 / 100
    grid = load_preset("tcnn-hash")
    mlp = parameter_count(grid) - grid.encoding.parameter_count
    assert grid.encoding.parameter_count > 0
    assert storage_bits(grid) == mlp * (16 if grid.network.half else 32) + grid.encoding.parameter_count * 32


def test_downsampling_bounds_every_series_and_keeps_first_and_last(home):
    points = [[i, i / 10, float(i)] for i in range(10_001)]
    kept = downsample(points)
    assert len(kept) == MAX_POINTS and kept[0] == points[0] and kept[-1] == points[-1]
    assert kept == downsample(points)  # deterministic
    assert downsample(points[:5]) == points[:5]
    log = RunLog()
    tr = FakeTrainer()
    rec = Recorder(log, "cli", notify=pytest.fail)
    rec.start(tr, None)
    for _ in range(50_000):
        tr.train(1)
        rec.add("loss", tr.step, tr.train_seconds, 1.0)
    rec.update(force=True)
    stored = log.series(rec.run_id)["loss"]
    assert len(stored) <= MAX_POINTS and stored[0][0] == 1 and stored[-1][0] == 50_000
    assert len(rec.points["loss"]) <= 4 * MAX_POINTS  # memory is bounded too


def test_list_show_csv_export_delete_through_the_cli(home, capsys, tmp_path):
    log = RunLog()
    texture = tmp_path / "tex.png"
    from app.texture import save_image
    save_image(texture, np.zeros((4, 4, 3)))
    a = record(log, texture=texture)
    b = record(log, steps=3, size=(16, 16), value=0.25)
    log.set_note(a, "first try")
    code, out, _ = cli(capsys, "runs", "list", "--json")
    runs = json.loads(out)
    assert code == 0 and [r["id"] for r in runs] == [b, a]
    for key in ("id", "status", "source", "texture", "preset", "steps", "seconds", "samples_per_s", "psnr",
                "parameters", "bits_per_pixel", "started"):
        assert key in runs[0], key
    assert runs[1]["texture"] == str(texture.resolve()) and runs[1]["note"] == "first try"
    assert runs[0]["steps"] == 3 and runs[0]["psnr"] == pytest.approx(23.0) and runs[0]["status"] == "finished"
    time.strptime(runs[0]["started"], "%Y-%m-%dT%H:%M:%SZ")
    # filter by texture: by path, and by contents under another name
    code, out, _ = cli(capsys, "runs", "list", "--texture", str(texture), "--json")
    assert [r["id"] for r in json.loads(out)] == [a]
    copy = tmp_path / "copy.png"
    copy.write_bytes(texture.read_bytes())
    assert [r["id"] for r in json.loads(cli(capsys, "runs", "list", "--texture", str(copy), "--json")[1])] == [a]
    code, out, _ = cli(capsys, "runs", "list")
    assert code == 0 and "tex.png" in out and "2 run(s); the log takes" in out and " MB in " in out
    code, out, _ = cli(capsys, "runs", "show", str(a), "--json")
    shown = json.loads(out)
    assert shown["id"] == a and shown["preset_config"]["network"]["precision"] == "float16"
    assert len(shown["series"]["loss"]) == 10 and shown["weights"].endswith("weights.ntsw")
    assert cli(capsys, "runs", "show", str(a))[0] == 0
    out_csv = tmp_path / "runs.csv"
    assert cli(capsys, "runs", "csv", "--out", str(out_csv))[0] == 0
    import csv
    rows = list(csv.DictReader(out_csv.open()))
    assert [int(r["id"]) for r in rows] == [b, a] and rows[1]["note"] == "first try"
    exported = tmp_path / "a.ntsw"
    assert cli(capsys, "runs", "export", str(a), "--out", str(exported))[0] == 0
    assert exported.read_bytes() == log.weights_path(a).read_bytes()
    picture = tmp_path / "compare.png"
    assert cli(capsys, "runs", "compare", str(a), str(b), "--out", str(picture))[0] == 0
    import imageio.v3 as iio
    image = iio.imread(picture)
    assert image.shape[1] >= 800  # both thumbnails (0.5 and 0.25 grey), scaled to their panels, then the curves
    assert tuple(image[80, 30, :3]) == (128, 128, 128) and tuple(image[80, 300, :3]) == (64, 64, 64)
    # delete removes the row, its series and its artifacts folder
    folder = log.run_folder(a)
    assert folder.is_dir()
    assert cli(capsys, "runs", "delete", str(a))[0] == 0
    assert not folder.exists() and [r["id"] for r in log.runs()] == [b]
    assert log.db.execute("SELECT COUNT(*) FROM series WHERE run = ?", (a,)).fetchone()[0] == 0


@pytest.mark.parametrize("argv, message", [
    (["runs", "show", "abc"], "run id 'abc' is not a number"),
    (["runs", "show", "999"], "no run 999"),
    (["runs", "show", "0"], "must be a positive number"),
    (["runs", "delete", "999"], "no run 999"),
    (["runs", "export", "999", "--out", "x.ntsw"], "no run 999"),
    (["runs", "compare", "1", "999", "--out", "x.png"], "no run 999"),
    (["runs", "compare", "1", "1", "--out", "/no/such/folder/x.png"], "its folder does not exist"),
    (["runs", "list", "--texture", "/no/such.png"], "no such file"),
    (["infer", "--run", "999", "--out", "x.png"], "no run 999"),
    (["infer", "--run", "x", "--out", "x.png"], "is not a number"),
])
def test_bad_ids_and_paths_are_one_line_errors(home, capsys, argv, message):
    record(RunLog())
    code, out, err = cli(capsys, *argv)
    assert code == 2 and err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_run_without_weights_cannot_be_exported(home, capsys):
    log = RunLog()
    tr = FakeTrainer()
    tr.params[3] = np.nan  # a diverged network: no weights file, the run says diverged
    rec = Recorder(log, "cli", notify=pytest.fail)
    rec.start(tr, None)
    tr.train(5)
    run_id = rec.finish("diverged")
    assert log.get(run_id)["status"] == "diverged"
    code, _, err = cli(capsys, "runs", "export", str(run_id), "--out", "x.ntsw")
    assert code == 2 and "has no saved weights" in err


WRITER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_runlog import FakeTrainer
from app.runlog import Recorder, RunLog
log = RunLog()
for k in range({runs}):
    tr = FakeTrainer()
    rec = Recorder(log, "cli", notify=lambda m: sys.exit("log failed: " + m), interval=0.0)
    rec.start(tr, None)
    for _ in range(20):
        tr.train(1)
        rec.add("loss", tr.step, tr.train_seconds, {tag})
        rec.update()
    rec.finish("finished")
"""


def test_two_processes_writing_at_once_lose_nothing(home):
    runs = 15
    procs = [subprocess.Popen([sys.executable, "-c", WRITER.format(tests=str(ROOT / "tests"), runs=runs, tag=tag)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True) for tag in (1.0, 2.0)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    log = RunLog()
    all_runs = log.runs()
    assert len(all_runs) == 2 * runs and all(r["status"] == "finished" and r["steps"] == 20 for r in all_runs)
    tags = sorted(log.series(r["id"])["loss"][-1][2] for r in all_runs)
    assert tags == [1.0] * runs + [2.0] * runs
    assert all(len(log.series(r["id"])["loss"]) == 20 for r in all_runs)


OWNER = """
import sys, time
sys.path.insert(0, {tests!r})
from test_runlog import FakeTrainer
from app.runlog import Recorder, RunLog
tr = FakeTrainer()
rec = Recorder(RunLog(), "cli", notify=print)
rec.start(tr, None)
for _ in range(7):
    tr.train(1)
    rec.add("loss", tr.step, tr.train_seconds, 0.25)
rec.update(force=True)
print(rec.run_id, flush=True)
time.sleep(600)
"""


def test_killed_owner_leaves_an_interrupted_run_with_its_last_saved_point(home):
    proc = subprocess.Popen([sys.executable, "-c", OWNER.format(tests=str(ROOT / "tests"))], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        run_id = int(proc.stdout.readline())
        assert RunLog().get(run_id)["status"] == "running"  # its owner is alive
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    log = RunLog()
    run = log.get(run_id)
    assert run["status"] == "interrupted" and run["steps"] == 7 and run["ended"] is not None
    assert [p[0] for p in log.series(run_id)["loss"]] == list(range(1, 8))
    # this process's own running run is not someone else's dead one
    rec = Recorder(log, "window", notify=pytest.fail)
    rec.start(FakeTrainer(), None)
    assert RunLog().get(rec.run_id)["status"] == "running"


@pytest.mark.parametrize("damage", ["garbage", "torn pages"])
def test_damaged_database_is_moved_aside_and_replaced(home, capsys, damage):
    log = RunLog()
    record(log)
    log.close()
    db = home / runlog.DB_NAME
    if damage == "garbage":
        db.write_bytes(b"this is not a database\n" * 100)
    else:  # keep SQLite's header, wreck the pages after it
        data = bytearray(db.read_bytes())
        data[100:] = bytes(len(data) - 100)
        for i in range(4096, len(data), 7):
            data[i] = 0xA5
        db.write_bytes(bytes(data))
    code, out, err = cli(capsys, "runs", "list", "--json")
    assert code == 0 and json.loads(out) == []
    notes = err.strip().splitlines()
    assert len(notes) == 1 and notes[0].startswith("note: the experiment log was damaged") and "moved it to" in notes[0]
    aside = [p for p in home.iterdir() if p.name.startswith(runlog.DB_NAME + ".damaged-")]
    assert len(aside) == 1 and str(aside[0]) in notes[0]
    record(RunLog())
    assert len(RunLog().runs()) == 1


def test_unwritable_home_gives_one_message_and_no_log(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("NTS_HOME", str(blocker / "home"))
    messages = []
    assert open_log(messages.append) is None
    assert len(messages) == 1 and "runs are not recorded" in messages[0]
    code, _, err = cli(capsys, "runs", "list")
    assert code == 2 and err.startswith("error: cannot keep the experiment log") and err.count("\n") == 1


def test_newer_schema_is_refused_not_replaced(home):
    RunLog().close()
    db = sqlite3.connect(home / runlog.DB_NAME)
    db.execute(f"PRAGMA user_version = {runlog.SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StudioError, match="written by a newer version"):
        RunLog()
    assert (home / runlog.DB_NAME).exists()


def test_migrations_keep_the_runs_of_an_older_schema(home):
    """A log written before SSIM and FLIP were recorded (schema 1) keeps its runs; they have no SSIM/FLIP."""
    home.mkdir()
    db = sqlite3.connect(home / runlog.DB_NAME)
    db.executescript(runlog.MIGRATIONS[0])
    db.execute("INSERT INTO runs (status, source, started, updated, texture, texture_sha256, texture_width, "
               "texture_height, transform, preset, encoding, preset_json, seed, device, mlp_path, app_version, "
               "parameters, bytes, bits_per_pixel, owner_pid, owner_host, psnr) VALUES ('finished', 'cli', 0, 0, "
               "'', '', 8, 8, 'none', 'p', 'frequency', '{}', 1, 'd', 'portable', 'v', 10, 40, 5.0, 1, 'h', 21.5)")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    run = RunLog().get(1)
    assert run["psnr"] == 21.5 and run["ssim"] is None and run["flip"] is None


def test_migrations_upgrade_an_empty_database(home):
    home.mkdir()
    sqlite3.connect(home / runlog.DB_NAME).close()  # version 0
    log = RunLog()
    assert log.db.execute("PRAGMA user_version").fetchone()[0] == runlog.SCHEMA_VERSION
    assert log.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.disk_usage() > 0


# ---- the real CLI, training on the device ----

def train(env, *extra):
    cmd = [sys.executable, "app.py", "train", "--texture", str(TEXTURES / "chelsea.png"), "--size", "32x32",
           "--batch", "256", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def env(home):
    return {**os.environ, "LP_NUM_THREADS": os.environ.get("LP_NUM_THREADS", "1")}


def test_train_records_a_run_that_infer_renders(env, home, tmp_path, capsys):
    preview = tmp_path / "preview.png"
    done = train(env, "--steps", "20", "--preview", str(preview))
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("psnr=") and last.endswith(" run=1"), last
    run = RunLog().get(1)
    psnr = float(last.split()[0].split("=")[1])
    assert run["status"] == "finished" and run["source"] == "cli" and run["steps"] == 20
    assert run["psnr"] == pytest.approx(psnr, abs=0.006) and run["texture_width"] == 32
    printed = dict(word.split("=") for word in last.split())
    assert run["ssim"] == pytest.approx(float(printed["ssim"]), abs=5e-5)
    assert run["flip"] == pytest.approx(float(printed["flip"]), abs=5e-5)
    series = RunLog().series(1)
    assert [p[0] for p in series["loss"]] == list(range(1, 21)) and series["psnr"][-1][0] == 20
    rendered = tmp_path / "rendered.png"
    done = subprocess.run([sys.executable, "app.py", "infer", "--run", "1", "--out", str(rendered)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import imageio.v3 as iio
    np.testing.assert_array_equal(iio.imread(rendered), iio.imread(preview))
    np.testing.assert_array_equal(iio.imread(RunLog().run_folder(1) / "thumbnail.png"), iio.imread(preview))


def test_train_without_a_log(env, tmp_path):
    done = train(env, "--steps", "2", "--no-record")
    assert done.returncode == 0, done.stderr
    assert " run=" not in done.stdout and not (tmp_path / "nts-home").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    env = {**env, "NTS_HOME": str(blocker / "home")}
    done = train(env, "--steps", "2")
    assert done.returncode == 0, done.stderr
    assert " run=" not in done.stdout and done.stdout.startswith("psnr=")
    notes = [line for line in done.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "runs are not recorded" in notes[0]


@pytest.mark.parametrize("preset", ["tinn-array", "tinn-array-blend"])
def test_network_arrays_round_trip_through_the_log(home, preset):
    """The log stores a run's preset and weights; a network array comes back as the same array."""
    log = RunLog()
    run_id = record(log, steps=3, preset=preset)
    expected = load_preset(preset).with_training(seed=7)
    assert log.preset(run_id) == expected and log.preset(run_id).network.is_array
    assert log.get(run_id)["parameters"] == parameter_count(expected)
    weights = open_network(log.weights_path(run_id))
    assert weights.preset.network == expected.network
    np.testing.assert_array_equal(weights.parameters, np.linspace(-1, 1, parameter_count(expected), dtype=np.float32))
