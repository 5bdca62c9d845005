"""SIGKILL at random points of repeated saves leaves the previous file intact: the target is always a
complete file of one of the versions saved (app/atomic.py writes a temp file, then renames it)."""
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from app.formats import open_network
from app.preset import load_preset
from conftest import ROOT

# Saves alternate between two versions as fast as they can; "ready" once the loop runs.
SAVER = r"""
import sys
from dataclasses import replace
import numpy as np
sys.path.insert(0, {root!r})
from app.preset import load_preset, save_preset
from app.network_file import WeightsFile, parameter_count
from app.weights_io import save_weights
kind, path = sys.argv[1], sys.argv[2]
base = load_preset("tcnn-hash")  # a hash grid: a weights file of a few MB, so kills land inside writes
versions = []
for seed in (1, 2):
    preset = base.with_training(seed=seed)
    versions.append((preset, np.full(parameter_count(preset), seed, np.float32)))
print("ready", flush=True)
i = 0
while True:
    preset, params = versions[i % 2]
    if kind == "weights":
        save_weights(path, WeightsFile(preset, params, (8, 8)))
    else:
        save_preset(preset, path)
    i += 1
"""


@pytest.mark.parametrize("kind", ["weights", "preset"])
def test_sigkill_during_saves_leaves_a_whole_file(tmp_path, kind):
    path = tmp_path / ("w.ntsw" if kind == "weights" else "p.json")
    script = tmp_path / "saver.py"
    script.write_text(SAVER.format(root=str(ROOT)))
    rng = random.Random(13)
    seeds_seen = set()
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, str(script), kind, str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        if not path.exists():
            assert attempt == 0  # killed before its first save finished
            continue
        if kind == "weights":
            weights = open_network(path)  # a damaged file would raise StudioError
            seed = weights.preset.training.seed
            np.testing.assert_array_equal(weights.parameters, np.full(weights.parameters.size, seed, np.float32))
        else:
            seed = load_preset(path).training.seed
        seeds_seen.add(seed)
    assert seeds_seen <= {1, 2} and seeds_seen
    # each save removes the temp files of the writers killed before it; at most the last one's is left
    assert len(list(tmp_path.glob(".*.tmp"))) <= 1


def test_a_save_removes_temp_files_of_killed_writers(tmp_path):
    from app.atomic import atomic_write
    path = tmp_path / "w.ntsw"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=60)
    stale = tmp_path / f".w.ntsw.{dead.pid}.abc123.tmp"
    running = tmp_path / f".w.ntsw.{os.getppid()}.def456.tmp"  # a writer that is still running
    other = tmp_path / f".x.ntsw.{dead.pid}.ghi789.tmp"         # another file's temp
    for f in (stale, running, other):
        f.write_bytes(b"partial")
    atomic_write(path, b"whole")
    assert path.read_bytes() == b"whole"
    assert not stale.exists() and running.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, running.name, other.name])
