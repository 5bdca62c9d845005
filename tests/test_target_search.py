"""Target quality: the search returns the smallest network reaching a PSNR, as `infer` renders it.
Candidates are capped (each network shape compiles its shaders: 10-60 s on lavapipe)."""
import numpy as np
import pytest
from PIL import Image

from app.preset import load_preset
from app.footprint import bits_per_pixel, storage_bits
from app.quality import psnr
from app.target_search import candidates, search
from app.texture import load_image
from test_inputs import run_cli


def small_preset():
    return load_preset("tinn-frequency").with_training(batch_size=256)


def test_family_is_sorted_by_size_and_keeps_the_rest_of_the_preset():
    for name in ("rtxns-simple-training", "tcnn-hash"):
        preset = load_preset(name)
        family = candidates(preset)
        bits = [storage_bits(p) for p in family]
        assert bits == sorted(bits) and len(set(bits)) == len(bits) and len(family) >= 10
        for p in family:
            assert (p.loss, p.optimizer, p.training) == (preset.loss, preset.optimizer, preset.training)
            if name == "tcnn-hash":  # grids: levels and table size change, the MLP does not
                assert p.network == preset.network and p.encoding.otype == "hash_grid"
            else:
                assert p.encoding == preset.encoding and p.network.activation == preset.network.activation
        assert storage_bits(preset) in bits  # the preset's own size is a member
    assert len(candidates(load_preset("tinn-frequency"), 2)) == 2


def test_unreachable_target_returns_the_best_attempt_and_cancel_stops(device):
    image = load_image("textures/coffee.png", (16, 16))
    seen = []
    result = search(device, image, small_preset(), 99.0, steps=32, limit=2, progress=seen.append)
    assert not result.reached and not result.cancelled
    assert [a.bits_per_pixel for a in result.attempts] == sorted(a.bits_per_pixel for a in result.attempts)
    assert len(result.attempts) == 2  # bisection over 2 candidates, both below the target
    assert result.best.quality.psnr == max(a.quality.psnr for a in result.attempts)
    assert [p.done for p in seen if p.done is not None] == result.attempts
    assert result.attempts[0].bits_per_pixel == bits_per_pixel(result.attempts[0].preset, (16, 16))
    stopped = search(device, image, small_preset(), 99.0, steps=32, limit=2, cancelled=lambda: True)
    assert stopped.cancelled and stopped.attempts == [] and stopped.best is None


def test_cli_target_psnr_writes_a_network_whose_infer_image_meets_it(tmp_path):
    out, image = tmp_path / "w.ntsw", tmp_path / "i.png"
    target = 14.0  # the smallest candidate reaches about 18 dB in these steps (checked by the assertions below)
    r = run_cli("train", "--texture", "textures/coffee.png", "--size", "16x16", "--preset", "tinn-frequency",
                "--batch", "256", "--steps", "32", "--target-psnr", str(target), "--max-candidates", "3",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("attempt 1: frequency -> ") and lines[0].endswith(": reached")
    fields = dict(kv.split("=") for kv in lines[-1].split())
    assert list(fields)[-2:] == ["target_psnr", "bits_per_pixel"] and float(fields["target_psnr"]) == target
    assert len(lines) == 3  # bisection over 3: the middle one reached, then the smallest did too
    r = run_cli("runs", "list", "--json")  # every attempt is a run of the experiment log
    assert r.returncode == 0, r.stderr
    import json
    runs = json.loads(r.stdout)
    assert len(runs) == 2 and {run["status"] for run in runs} == {"finished"}
    r = run_cli("infer", "--weights", str(out), "--out", str(image))
    assert r.returncode == 0, r.stderr
    reference = load_image("textures/coffee.png", (16, 16))
    rendered = np.asarray(Image.open(image), np.float32) / 255.0
    assert psnr(reference, rendered) >= target
    assert psnr(reference, rendered) == pytest.approx(float(fields["psnr"]), abs=0.05)


def test_cli_target_psnr_refusals(tmp_path):
    for args, message in [(("--target-psnr", "bc5"), "must be a number of dB, bc7 or bc1"),
                          (("--target-psnr", "-3"), "out of range"),
                          (("--target-psnr", "nan"), "out of range"),
                          (("--target-psnr", "30", "--max-candidates", "0"), "at least 1"),
                          (("--max-candidates", "2"), "applies to --target-psnr")]:
        r = run_cli("train", "--texture", "textures/coffee.png", "--size", "8x8", *args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
