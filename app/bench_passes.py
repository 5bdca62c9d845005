"""A/B of a shader variant, pass by pass, in one process: the training passes of two Trainers whose kernels
differ only in one define, timed alternately for a number of rounds.

    python -m app.bench_passes --define NAME=A,B [--preset NAME] [--batch 16384] [--rounds 12] [--steps 4]

On a machine whose speed drifts (the 2-core VMs this project is developed on drift by a quarter within
minutes) runs in separate processes compare the drift, not the variants; alternating the passes of both
variants in one process makes the rounds agree (in separate processes minutes apart one weight-gradient
variant looked 25% faster, then no faster; in one process the change that was kept had every one of 16
rounds 6-22% faster). The shaders must read NAME (for example ``#ifndef NAME`` ``#define NAME 0``
``#endif``); timings decide no test.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from . import kernels
from .device import create_device
from .errors import StudioError
from .preset import load_preset
from .texture import load_image
from .trainer import Trainer


def variant_trainers(device, image, preset, name: str, values: list[str]) -> list[Trainer]:
    """One Trainer per value of the define ``name`` (compiled and warmed up: a few steps)."""
    trainers = []
    try:
        for value in values:
            kernels.EXTRA_DEFINES[name] = value
            trainer = Trainer(device, image, preset, mlp_path="portable")
            trainer.train(3)
            trainers.append(trainer)
    finally:
        kernels.EXTRA_DEFINES.pop(name, None)
    return trainers


def pass_names(trainer: Trainer) -> list[str]:
    passes = trainer.step_passes()
    return [p.spec.kernel.program.layout.entry_points[0].name for p in passes.gradient + passes.update]


def time_passes(trainers: list[Trainer], rounds: int, steps: int) -> np.ndarray:
    """[trainer, pass, round, (wall ms, CPU ms)] per dispatch: each round records ``steps`` dispatches of one
    pass of one trainer into a command buffer and times its submission, the trainers alternating."""
    device = trainers[0].device
    count = len(pass_names(trainers[0]))
    out = np.zeros((len(trainers), count, rounds, 2))
    for r in range(rounds):
        for i in range(count):
            for t, trainer in enumerate(trainers):
                passes = trainer.step_passes()
                bound = (passes.gradient + passes.update)[i]
                encoder = device.create_command_encoder()
                compute = encoder.begin_compute_pass()
                for s in range(steps):  # the parity of the step the trainer would run next, and on
                    compute.bind_pipeline(bound.pipeline, bound.objects[(trainer.step + 1 + s) & 1])
                    compute.dispatch(bound.threads)
                compute.end()
                buffer = encoder.finish()
                wall, cpu = time.perf_counter(), time.process_time()
                device.submit_command_buffer(buffer)
                device.wait_for_idle()
                out[t, i, r] = ((time.perf_counter() - wall) * 1e3 / steps, (time.process_time() - cpu) * 1e3 / steps)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--define", required=True, metavar="NAME=A,B", help="the define and its two values")
    p.add_argument("--preset", default="rtxns-simple-training")
    p.add_argument("--texture", default=None, help="default: textures/chelsea.png")
    p.add_argument("--batch", type=int, default=16384)
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--steps", type=int, default=4, help="dispatches of a pass per timed submission")
    args = p.parse_args(argv)
    name, _, values = args.define.partition("=")
    values = values.split(",")
    if not name or len(values) != 2 or not all(values):
        p.error(f"--define takes NAME=A,B (two values), not {args.define!r}")
    if args.rounds < 1 or args.steps < 1:
        p.error("--rounds and --steps must be at least 1")
    from .device import SHADER_DIR
    try:
        image = load_image(args.texture or str(SHADER_DIR.parent / "textures" / "chelsea.png"), (256, 256))
        preset = load_preset(args.preset).with_training(batch_size=args.batch)
        trainers = variant_trainers(create_device(), image, preset, name, values)
    except StudioError as err:
        print(f"error: {err}")
        return 2
    times = time_passes(trainers, args.rounds, args.steps)
    print(f"{args.preset}, batch {args.batch}: {args.rounds} rounds of {args.steps} dispatches per pass and variant; "
          f"medians, ms per dispatch (wall / CPU); ratio: {name}={values[1]} over {name}={values[0]}, CPU, "
          "median of the rounds' (range)")
    for i, pass_name in enumerate(pass_names(trainers[0])):
        a, b = np.median(times[0, i], 0), np.median(times[1, i], 0)
        ratio = times[1, i, :, 1] / times[0, i, :, 1]
        print(f"{pass_name:24s} {values[0]:>8s}: {a[0]:8.2f} / {a[1]:8.2f}   {values[1]:>8s}: {b[0]:8.2f} / {b[1]:8.2f}"
              f"   ratio {np.median(ratio):.3f} ({ratio.min():.3f}-{ratio.max():.3f})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
