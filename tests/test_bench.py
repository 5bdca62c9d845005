"""The bench's round-robin (app/bench.compare): implementations alternate round by round and train the
requested number of steps in all; its CLI refuses a round count it cannot run. No timing is checked."""
import pytest

from app import bench


class FakeRun:
    def __init__(self, name, log, seconds_per_step):
        self.name, self.log, self.seconds_per_step = name, log, seconds_per_step

    def train(self, steps):
        self.log.append((self.name, steps))
        return steps * self.seconds_per_step

    def infer(self):
        self.log.append((self.name, "infer"))
        return 100.0

    def psnr(self):
        return 20.0


def test_rounds_alternate_and_add_up_to_the_steps():
    log = []
    rows = bench.compare([FakeRun("a", log, 0.5), FakeRun("b", log, 0.25)], steps=10, rounds=3)
    assert log[:6] == [("a", 4), ("b", 4), ("a", 3), ("b", 3), ("a", 3), ("b", 3)]
    assert log[6:] == [("a", "infer"), ("b", "infer")] * 3
    assert [r["steps_per_s"] for r in rows] == [2.0, 4.0]
    assert len(rows[0]["round_steps_per_s"]) == 3
    assert bench._ratio_range([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == "1.00x (0.50-1.50)"


def test_a_round_count_it_cannot_run_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--steps", "4", "--rounds", "5"])
    assert exit_.value.code == 2
    assert "--rounds must be between 1 and --steps (4), not 5" in capsys.readouterr().err


def test_pass_by_pass_variants_live_in_one_process(device, small_image):
    """bench_passes builds one Trainer per value of a define (their kernels apart, the hook emptied after)
    and times every pass of each, alternating. No timing is checked."""
    from app import kernels
    from app import bench_passes
    from app.encodings import IdentityEncoding
    from app.network import NetworkConfig
    from app.preset import Preset, TrainingConfig
    preset = Preset(encoding=IdentityEncoding(), network=NetworkConfig(16, 1, "relu", "none"),
                    training=TrainingConfig(batch_size=256))
    a, b = bench_passes.variant_trainers(device, small_image, preset, "NTS_BENCH_PROBE", ["0", "1"])
    assert kernels.EXTRA_DEFINES == {}
    assert a.mlp.kernels.train is not b.mlp.kernels.train
    names = bench_passes.pass_names(a)
    assert names == ["train_forward_backward", "weight_gradients", "optimizer_step"]
    times = bench_passes.time_passes([a, b], rounds=2, steps=1)
    assert times.shape == (2, 3, 2, 2) and (times[:, :, :, 0] > 0).all()


def test_pass_by_pass_needs_a_define_and_two_values(capsys):
    from app import bench_passes
    with pytest.raises(SystemExit) as exit_:
        bench_passes.main(["--define", "NTS_X=1"])
    assert exit_.value.code == 2
    assert "--define takes NAME=A,B (two values)" in capsys.readouterr().err
