"""One network against network arrays of about the same parameter count (README, "Network arrays").

    .venv/bin/python scripts/compare_arrays.py [--steps N] [--size WxH] [--repeats R]

Trains each configuration of the tinn-array preset's family (frequency encoding with 2 frequencies,
2 hidden ReLU layers, Sigmoid output, SGD 1.0 on L2, batch 16,384) on chelsea.png and prints PSNR at
the texture's size after N steps, samples per second of wall time and per second of this process's CPU
time (lavapipe's threads included, so the figure barely moves with other load on the machine). With
--repeats, configurations alternate (A, B, C, ..., A, B, C, ...) and the medians are printed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (label, tiles or None for one MLP, blend, hidden width): widths chosen for ~11k parameters each
CONFIGS = [("one MLP", None, False, 98), ("4x4 array", (4, 4), False, 20), ("4x4 array, blend", (4, 4), True, 20),
           ("8x8 array", (8, 8), False, 8), ("8x8 array, blend", (8, 8), True, 8)]


def main() -> int:
    from app.device import create_device
    from app.preset import load_preset
    from app.texture import load_image, parse_size
    from app.trainer import Trainer

    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--size", default="256x256")
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args()
    image = load_image(ROOT / "textures/chelsea.png", parse_size(args.size))
    device = create_device()
    base = load_preset("tinn-array")
    results = {label: [] for label, *_ in CONFIGS}
    trainers = {}
    for label, tiles, blend, width in CONFIGS:
        net = replace(base.network, n_neurons=width, **({"tiles": tiles, "blend": blend} if tiles else {"otype": "MLP"}))
        trainers[label] = Trainer(device, image, replace(base, network=net))
        trainers[label].warm_up()
    for _ in range(args.repeats):
        for label, *_ in CONFIGS:
            tr = trainers[label]
            tr.reset()
            wall, cpu = time.perf_counter(), time.process_time()
            tr.train(args.steps)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            samples = args.steps * tr.batch
            results[label].append((tr.psnr(), samples / wall, samples / cpu))
    print(f"chelsea.png {args.size}, {args.steps} steps x {base.training.batch_size} samples, "
          f"{device.info.adapter_name}, medians of {args.repeats}")
    print("| network | parameters | PSNR (dB) | samples/s (wall) | samples per CPU-second |")
    print("|---|---|---|---|---|")
    for label, *_ in CONFIGS:
        tr, runs = trainers[label], results[label]
        net = tr.network
        shape = f"{net.n_hidden_layers} x {net.n_neurons}"
        name = f"{label}: {net.tiles[0] * net.tiles[1]} x ({shape})" if net.is_array else f"{label} ({shape})"
        psnr, wall, cpu = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {name} | {tr.parameter_count:,} | {psnr:.2f} | {wall:,.0f} | {cpu:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
