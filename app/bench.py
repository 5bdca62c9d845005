"""Benchmark: training throughput and quality of the Slang trainer next to PyTorch on the CPU, same run.

    python -m app.bench [--preset rtxns-simple-training] [--size 256] [--batch 16384] [--steps 100]

Both train the same network (encoding, widths, activations, Adam, L2) on the same texture for the same
number of samples; PyTorch runs in float32 on the CPU (its float16 CPU path is not a fair reference).
Prints samples/s, PSNR after the fixed sample count, inference pixels/s, and the ratios. Timings never
decide a test; this is a script for people.
"""
from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import replace

import numpy as np

from .device import create_device
from .preset import load_preset
from .texture import load_image
from .trainer import Trainer


def bench_slang(image, preset, steps, warmup=3):
    device = create_device()
    trainer = Trainer(device, image, preset)
    trainer.train(warmup)  # compiles the kernels
    trainer.reset()
    t0 = time.perf_counter()
    trainer.train(steps, steps_per_submit=8)
    seconds = time.perf_counter() - t0
    psnr = trainer.psnr()
    t0 = time.perf_counter()
    reps = 3
    for _ in range(reps):
        trainer.render()
    infer_rate = reps * image.shape[0] * image.shape[1] / (time.perf_counter() - t0)
    return {"name": f"slang {trainer.mlp_path} ({trainer.info.adapter.split(' (')[0]}, {preset.network.precision})",
            "samples_per_s": steps * trainer.batch / seconds, "psnr": psnr, "infer_px_per_s": infer_rate}


def bench_torch(image, preset, steps):
    try:
        import torch
    except ImportError:
        return None
    net_cfg, enc = preset.network, preset.encoding
    acts = {"relu": torch.nn.ReLU(), "leaky_relu": torch.nn.LeakyReLU(net_cfg.leaky_relu_alpha),
            "sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh(), "none": torch.nn.Identity()}
    torch.manual_seed(preset.training.seed)
    dims = [enc.output_dims] + [net_cfg.n_neurons] * net_cfg.n_hidden_layers + [3]
    layers = []
    for i in range(len(dims) - 1):
        layers.append(torch.nn.Linear(dims[i], dims[i + 1], bias=net_cfg.bias))
        last = i == len(dims) - 2
        layers.append(acts[net_cfg.output_activation if last else net_cfg.activation])
    model = torch.nn.Sequential(*layers)
    opt_cfg = preset.optimizer
    opt = torch.optim.Adam(model.parameters(), lr=opt_cfg.learning_rate, betas=(opt_cfg.beta1, opt_cfg.beta2),
                           eps=opt_cfg.epsilon)
    n_freq = getattr(enc, "n_frequencies", 0)
    scales = torch.tensor([math.pi * 2.0 ** k for k in range(n_freq)])

    def encode(uv):
        if not n_freq:
            return uv
        phase = uv[:, :, None] * scales  # (B, 2, F)
        return torch.stack([phase.sin(), phase.cos()], -1).reshape(uv.shape[0], -1)

    target = torch.from_numpy(image)
    h, w = image.shape[:2]
    batch = preset.training.batch_size

    def step():
        uv = torch.rand(batch, 2)
        x = (uv[:, 0] * w).long().clamp(max=w - 1)
        y = (uv[:, 1] * h).long().clamp(max=h - 1)
        loss = ((model(encode(uv)) - target[y, x]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    ys, xs = np.mgrid[0:h, 0:w]
    grid = torch.from_numpy(np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1).astype(np.float32))
    with torch.no_grad():
        t0 = time.perf_counter()
        pred = model(encode(grid)).clamp(0, 1).numpy().reshape(h, w, 3)
        infer_rate = h * w / (time.perf_counter() - t0)
    mse = float(((pred - image) ** 2).mean())
    return {"name": f"pytorch {torch.__version__} cpu ({torch.get_num_threads()} threads, float32)",
            "samples_per_s": steps * batch / seconds, "psnr": 10 * math.log10(1 / mse), "infer_px_per_s": infer_rate}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="rtxns-simple-training")
    p.add_argument("--texture", default=None, help="default: textures/chelsea.png")
    p.add_argument("--size", type=int, default=256, help="texture resampled to SIZE x SIZE")
    p.add_argument("--batch", type=int, default=16384)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--precision", choices=["preset", "float32", "float16"], default="preset")
    args = p.parse_args(argv)
    from .device import SHADER_DIR
    texture = args.texture or str(SHADER_DIR.parent / "textures" / "chelsea.png")
    image = load_image(texture, (args.size, args.size))
    preset = load_preset(args.preset).with_training(batch_size=args.batch)
    if args.precision != "preset":
        preset = replace(preset, network=replace(preset.network, precision=args.precision))
    samples = args.steps * args.batch
    print(f"preset {preset.name}: {preset.encoding.otype} -> {preset.network.n_hidden_layers} x "
          f"{preset.network.n_neurons} {preset.network.activation} -> 3 {preset.network.output_activation}; "
          f"texture {args.size}x{args.size}; batch {args.batch}; {args.steps} steps = {samples:,} samples; "
          f"host {platform.machine()} with {__import__('os').cpu_count()} CPUs")
    rows = [bench_slang(image, preset, args.steps), bench_torch(image, preset, args.steps)]
    print(f"{'implementation':58s} {'train samples/s':>16s} {'PSNR dB':>8s} {'infer px/s':>12s}")
    for r in rows:
        if r:
            print(f"{r['name']:58s} {r['samples_per_s']:16,.0f} {r['psnr']:8.2f} {r['infer_px_per_s']:12,.0f}")
    if rows[1] is None:
        print("(PyTorch not installed: `pip install torch==2.13.0` into .venv for the reference column)")
    else:
        print(f"ratio slang/pytorch: training {rows[0]['samples_per_s'] / rows[1]['samples_per_s']:.2f}x, "
              f"inference {rows[0]['infer_px_per_s'] / rows[1]['infer_px_per_s']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
