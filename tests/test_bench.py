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
