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
