"""Benchmark: training throughput and quality of the Slang trainer next to PyTorch on the CPU, same run.

    python -m app.bench [--preset NAME[,NAME...]|all] [--size 256] [--batch 16384] [--steps 100] [--no-torch]
                        [--rounds 5] [--mlp auto|portable|coopvec] [--window SECONDS]

Both train the same network (encoding, widths, activations, Adam, loss) on the same texture for the same
number of samples, in alternating rounds (this machine's speed may drift; both see the drift alike, and the
ratios are the median of the rounds' with their range); PyTorch runs in float32 on the CPU (its float16 CPU
path is not a fair reference) and implements the identity, frequency and hash-grid encodings (other presets
get no PyTorch row). Prints samples/s, PSNR after the fixed sample count, inference pixels/s, and the
ratios; then the host time to record one training step (CPU microseconds of the recording thread, the device
idle) and the steps/s at batch 64, where fixed per-step costs dominate. ``--window`` also runs the real
window (under xvfb-run when there is no display) for SECONDS at the first preset and the window's batch, and
compares its training rate with the headless loop's at the same batch, measured just before and after it
(their mean), with the cores each of the window's threads used (llvmpipe-N: the window's own GL drawing on
a software device; "python": the Vulkan device's workers; "ui": the frame loop). Timings
never decide a test; this is a script for people.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import replace

import numpy as np

from pathlib import Path

from .device import create_device
from .encodings import HASH_PRIMES
from .errors import StudioError
from .preset import load_preset
from .texture import load_image
from .trainer import Trainer


class SlangRun:
    """The Slang trainer, trained on in rounds (train(steps) -> seconds; the kernels compile in the warm-up)."""

    def __init__(self, image, preset, mlp_path=None, warmup=3):
        self.image = image
        self.trainer = Trainer(create_device(), image, preset, mlp_path=mlp_path)
        self.trainer.train(warmup)
        self.trainer.render()  # compiles the inference and view kernels
        self.trainer.reset()
        self.name = (f"slang {self.trainer.mlp_path} ({self.trainer.info.adapter.split(' (')[0]}, "
                     f"{preset.network.precision})")

    def train(self, steps) -> float:
        t0 = time.perf_counter()
        self.trainer.train(steps, steps_per_submit=8)
        return time.perf_counter() - t0

    def infer(self) -> float:
        """Pixels/s of one inference of the texture (recorded, run and waited for; without the views)."""
        device = self.trainer.device
        t0 = time.perf_counter()
        encoder = device.create_command_encoder()
        self.trainer.views.append_prediction(encoder, self.trainer)
        device.submit_command_buffer(encoder.finish())
        device.wait_for_idle()
        return self.image.shape[0] * self.image.shape[1] / (time.perf_counter() - t0)

    def psnr(self) -> float:
        return self.trainer.psnr()


def host_cost(trainer, steps=256, repeats=5) -> float:
    """CPU microseconds of the recording thread to record one training step (the device is idle meanwhile;
    the thread's own time, as a software device's worker threads can still be winding down): the median
    of ``repeats`` recordings of ``steps`` steps (the first recording of a process also pays for
    allocations, and a busy machine inflates single figures)."""
    device = trainer.device
    costs = []
    for _ in range(repeats):
        device.wait_for_idle()
        enc = device.create_command_encoder()
        t0 = time.thread_time()
        trainer.append_steps(enc, steps)
        cb = enc.finish()
        costs.append((time.thread_time() - t0) / steps * 1e6)
        device.submit_command_buffer(cb)
    device.wait_for_idle()
    return float(np.median(costs))


def headless_rate(image, preset, seconds, mlp_path=None, batch=None) -> dict:
    """Steps/s and samples/s of the headless loop (as ``train`` runs it: chunks of up to 64 steps) over about
    ``seconds`` of wall time, after a warm-up."""
    if batch:
        preset = preset.with_training(batch_size=batch)
    trainer = Trainer(create_device(), image, preset, mlp_path=mlp_path)
    trainer.train(20)
    t0, s0 = time.perf_counter(), trainer.step
    while time.perf_counter() - t0 < seconds:
        trainer.train(64)
    elapsed = time.perf_counter() - t0
    return {"steps_per_s": (trainer.step - s0) / elapsed, "samples_per_s": (trainer.step - s0) * trainer.batch / elapsed}


def window_rate(preset_name: str, batch: int, seconds: float, mlp_path=None) -> dict:
    """The real window's training rate (app/ui/measure.py in a subprocess, under xvfb-run without a display)."""
    import json
    import shutil
    import subprocess
    import sys
    cmd = [sys.executable, "-m", "app.ui.measure", "--seconds", str(seconds), "--preset", preset_name,
           "--batch", str(batch)] + (["--mlp", mlp_path] if mlp_path else [])
    if not os.environ.get("DISPLAY"):
        if not shutil.which("xvfb-run"):
            return {"error": "no display and no xvfb-run"}
        cmd = ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24"] + cmd
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]) if lines else {"error": (out.stderr.strip().splitlines() or ["no output"])[-1]}


def _torch_encoder(torch, enc):
    """The preset's encoding in PyTorch (frequency, identity, hash grid), or None."""
    if enc.otype == "identity":
        return lambda uv: uv, []
    if enc.otype == "frequency":
        scales = torch.tensor([math.pi * 2.0 ** k for k in range(enc.n_frequencies)])

        def frequency(uv):
            phase = uv[:, :, None] * scales  # (B, 2, F)
            return torch.stack([phase.sin(), phase.cos()], -1).reshape(uv.shape[0], -1)
        return frequency, []
    if enc.otype == "hash_grid":
        f = enc.n_features_per_level
        table = torch.nn.Parameter(torch.from_numpy(enc.initial_parameters(0).reshape(-1, f)))
        levels = enc.levels()

        def hash_grid(uv):
            out = []
            for lv in levels:
                pos = uv * lv["scale"] + 0.5
                cell = pos.floor()
                w = pos - cell
                p = cell.long()
                feats = 0
                for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
                    x, y = p[:, 0] + dx, p[:, 1] + dy
                    if lv["dense"]:
                        idx = x + y * lv["resolution"]
                    else:
                        idx = (x * HASH_PRIMES[0] ^ ((y * HASH_PRIMES[1]) & 0xFFFFFFFF)) & 0xFFFFFFFF
                    idx = lv["offset"] + idx % lv["size"]
                    wx = w[:, 0] if dx else 1 - w[:, 0]
                    wy = w[:, 1] if dy else 1 - w[:, 1]
                    feats = feats + (wx * wy)[:, None] * table[idx]
                out.append(feats)
            return torch.cat(out, 1)
        return hash_grid, [table]
    return None


class TorchRun:
    """The same network and training loop in PyTorch on the CPU, trained on in rounds like SlangRun."""

    def __init__(self, torch, image, preset, encoder, acts):
        """``encoder``, ``acts``: _torch_encoder's and _torch_activations' (torch_run checks them)."""
        net_cfg, enc = preset.network, preset.encoding
        self.torch, self.image = torch, image
        encode, encoding_params = encoder
        torch.manual_seed(preset.training.seed)
        dims = [enc.output_dims] + [net_cfg.n_neurons] * net_cfg.n_hidden_layers + [3]
        layers = []
        for i in range(len(dims) - 1):
            layers.append(torch.nn.Linear(dims[i], dims[i + 1], bias=net_cfg.bias))
            layers.append(acts[net_cfg.output_activation if i == len(dims) - 2 else net_cfg.activation]())
        self.model, self.encode = torch.nn.Sequential(*layers), encode
        opt_cfg = preset.optimizer
        self.opt = torch.optim.Adam(list(self.model.parameters()) + encoding_params, lr=opt_cfg.learning_rate,
                                    betas=(opt_cfg.beta1, opt_cfg.beta2), eps=opt_cfg.epsilon,
                                    weight_decay=opt_cfg.l2_reg)
        self.target = torch.from_numpy(image)
        self.batch = preset.training.batch_size
        self.relative = preset.loss.otype == "relative_l2"
        h, w = image.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w]
        self.grid = torch.from_numpy(np.stack([(xs.ravel() + 0.5) / w, (ys.ravel() + 0.5) / h], 1).astype(np.float32))
        self.name = f"pytorch {torch.__version__} cpu ({torch.get_num_threads()} threads, float32)"
        self._step(3)
        self._predict()

    def _step(self, steps):
        h, w = self.image.shape[:2]
        for _ in range(steps):
            uv = self.torch.rand(self.batch, 2)
            x = (uv[:, 0] * w).long().clamp(max=w - 1)
            y = (uv[:, 1] * h).long().clamp(max=h - 1)
            pred = self.model(self.encode(uv))
            err = (pred - self.target[y, x]) ** 2
            loss = (err / (pred.detach() ** 2 + 0.01) if self.relative else err).mean()
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()

    def train(self, steps) -> float:
        t0 = time.perf_counter()
        self._step(steps)
        return time.perf_counter() - t0

    def _predict(self) -> np.ndarray:
        with self.torch.no_grad():
            h, w = self.image.shape[:2]
            return self.model(self.encode(self.grid)).clamp(0, 1).numpy().reshape(h, w, 3)

    def infer(self) -> float:
        t0 = time.perf_counter()
        self._predict()
        return self.grid.shape[0] / (time.perf_counter() - t0)

    def psnr(self) -> float:
        return 10 * math.log10(1 / float(((self._predict() - self.image) ** 2).mean()))


def _torch_activations(torch, net_cfg) -> dict:
    return {"relu": torch.nn.ReLU, "leaky_relu": lambda: torch.nn.LeakyReLU(net_cfg.leaky_relu_alpha),
            "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "none": torch.nn.Identity}


def torch_run(image, preset):
    """A TorchRun, or None without torch or for a network (encoding, activation, network array) this reference
    does not implement."""
    if preset.network.is_array:
        return None
    try:
        import torch
    except ImportError:
        return None
    encoder, acts = _torch_encoder(torch, preset.encoding), _torch_activations(torch, preset.network)
    if encoder is None or preset.network.activation not in acts or preset.network.output_activation not in acts:
        return None
    return TorchRun(torch, image, preset, encoder, acts)


def compare(runs, steps: int, rounds: int) -> list[dict]:
    """Trains every run for ``steps`` steps in ``rounds`` alternating rounds (a machine whose speed drifts
    then slows both alike), then renders the texture with each in turn ``rounds`` times. Per run: the median
    training steps/s and inference pixels/s over the rounds, each round's rates, and the PSNR after all steps."""
    sizes = [steps // rounds + (r < steps % rounds) for r in range(rounds)]
    train = [[] for _ in runs]
    infer = [[] for _ in runs]
    for n in sizes:
        for i, run in enumerate(runs):
            train[i].append(n / run.train(n))
    for _ in range(rounds):
        for i, run in enumerate(runs):
            infer[i].append(run.infer())
    return [{"name": run.name, "steps_per_s": float(np.median(train[i])), "round_steps_per_s": train[i],
             "infer_px_per_s": float(np.median(infer[i])), "round_infer_px_per_s": infer[i], "psnr": run.psnr()}
            for i, run in enumerate(runs)]


def _ratio_range(a: list[float], b: list[float]) -> str:
    """The median of the rounds' ratios a/b, and their range."""
    r = np.array(a) / np.array(b)
    return f"{np.median(r):.2f}x ({r.min():.2f}-{r.max():.2f})"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="rtxns-simple-training", help="a preset, several (comma-separated) or 'all'")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--texture", default=None, help="default: textures/chelsea.png")
    p.add_argument("--size", type=int, default=256, help="texture resampled to SIZE x SIZE")
    p.add_argument("--batch", type=int, default=16384)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5,
                   help="alternate the implementations in ROUNDS rounds of STEPS/ROUNDS steps (this many renders)")
    p.add_argument("--precision", choices=["preset", "float32", "float16"], default="preset")
    p.add_argument("--mlp", choices=["auto", "portable", "coopvec"], default=None, help="MLP implementation")
    p.add_argument("--window", type=float, default=0.0, metavar="SECONDS",
                   help="also measure the real window's training rate for SECONDS against the headless loop's")
    args = p.parse_args(argv)
    if not 1 <= args.rounds <= args.steps:
        p.error(f"--rounds must be between 1 and --steps ({args.steps}), not {args.rounds}")
    from .device import SHADER_DIR
    from .preset import available_presets
    texture = args.texture or str(SHADER_DIR.parent / "textures" / "chelsea.png")
    image = load_image(texture, (args.size, args.size))
    names = available_presets() if args.preset == "all" else args.preset.split(",")
    print(f"texture {Path(texture).name} at {args.size}x{args.size}; batch {args.batch}; {args.steps} steps = "
          f"{args.steps * args.batch:,} samples per run, in {args.rounds} alternating rounds (medians; ratios: "
          f"median and range of the rounds'); host {platform.machine()} with {os.cpu_count()} CPUs")
    print(f"{'preset':22s} {'implementation':52s} {'train samples/s':>16s} {'PSNR dB':>8s} {'infer px/s':>12s}")
    extra = []
    for name in names:
        preset = load_preset(name).with_training(batch_size=args.batch)
        if args.precision != "preset":
            preset = replace(preset, network=replace(preset.network, precision=args.precision))
        try:
            slang = SlangRun(image, preset, mlp_path=args.mlp)
        except StudioError as err:  # e.g. a network the requested MLP path cannot run
            print(f"{name:22s} not run: {err}", flush=True)
            continue
        reference = None if args.no_torch else torch_run(image, preset)
        rows = compare([slang] + ([reference] if reference else []), args.steps, args.rounds)
        for r in rows:
            print(f"{name:22s} {r['name']:52s} {r['steps_per_s'] * args.batch:16,.0f} {r['psnr']:8.2f} "
                  f"{r['infer_px_per_s']:12,.0f}", flush=True)
        if reference:
            ours, theirs = rows
            print(f"{name:22s} {'ratio slang / pytorch':52s} "
                  f"{_ratio_range(ours['round_steps_per_s'], theirs['round_steps_per_s']):>16s} "
                  f"{ours['psnr'] - theirs['psnr']:+8.2f} "
                  f"{_ratio_range(ours['round_infer_px_per_s'], theirs['round_infer_px_per_s']):>12s}", flush=True)
        host = host_cost(slang.trainer)
        small = headless_rate(image, preset, 5.0, args.mlp, batch=64)
        extra.append(f"{name:22s} host {host:6.1f} us CPU per recorded step; "
                     f"batch 64: {small['steps_per_s']:6.0f} steps/s")
    print("\n".join(extra), flush=True)
    if args.window:
        preset = load_preset(names[0])
        if args.precision != "preset":
            preset = replace(preset, network=replace(preset.network, precision=args.precision))
        batch = preset.training.batch_size
        # The headless loop before and after the window: these machines' speed drifts within a minute.
        before = headless_rate(image, preset, args.window / 2, args.mlp, batch=batch)["samples_per_s"]
        window = window_rate(names[0], batch, args.window, args.mlp)
        after = headless_rate(image, preset, args.window / 2, args.mlp, batch=batch)["samples_per_s"]
        if "error" in window:
            print(f"window: {window['error']}")
        else:
            cores = ", ".join(f"{k} {v:.2f}" for k, v in window["cores_by_thread"].items())
            print(f"{names[0]} at batch {batch}: window {window['samples_per_s']:,.0f} samples/s at "
                  f"{window['fps']:.1f} fps ({window['steps_per_frame']:.0f} steps/frame; device time: training "
                  f"{window['share_training']:.0%}, views {window['share_render']:.0%}, idle {window['share_idle']:.0%}; "
                  f"cores by thread: {cores}); headless {before:,.0f} before and {after:,.0f} after; window / "
                  f"headless {window['samples_per_s'] / ((before + after) / 2):.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
