"""Measures the real window while it trains: training samples/s, frame rate and the device-time share,
over a fixed span after a warm-up (the pacing adapts in the first seconds). Prints one JSON line; used by
``python -m app.bench --window`` to compare the window's training rate with the headless loop's.

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m app.ui.measure --seconds 30 [--batch 1024]
"""
from __future__ import annotations

import argparse
import json
import time


def thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of each of this process's threads, by thread id: (name, user + system), from /proc
    (Linux; elsewhere empty). Tells the UI's thread apart from the driver's worker threads."""
    import os
    from pathlib import Path
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = {}
    for task in Path("/proc/self/task").glob("*"):
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / ticks)
    return out


def cpu_by_thread(before: dict, after: dict, seconds: float) -> dict[str, float]:
    """Cores used over ``seconds`` by each thread name (threads of one name summed; the main thread is "ui")."""
    import os
    shares: dict[str, float] = {}
    for tid, (name, cpu) in after.items():
        key = "ui" if tid == os.getpid() else name
        shares[key] = shares.get(key, 0.0) + (cpu - before.get(tid, (name, 0.0))[1]) / seconds
    return {k: round(v, 2) for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.01}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="measured span")
    parser.add_argument("--warmup", type=float, default=10.0, help="training time before the span starts")
    parser.add_argument("--preset", default="rtxns-simple-training")
    parser.add_argument("--batch", type=int, help="batch size (default: the preset's)")
    parser.add_argument("--texture", help="image to train on (default: the bundled chelsea.png)")
    parser.add_argument("--mlp", choices=["auto", "portable", "coopvec"], help="MLP implementation")
    args = parser.parse_args(argv)

    from imgui_bundle import hello_imgui, immapp

    from .main import add_ons, create_state, gui, make_runner_params

    state = create_state(texture=args.texture, preset=args.preset, mlp_path=args.mlp)
    if args.batch:
        state.preset = state.preset.with_training(batch_size=args.batch)
    params = make_runner_params(state)
    marks: dict = {}

    def show_gui() -> None:
        gui(state)
        tr, now = state.trainer, time.monotonic()
        if tr is None or tr.step == 0:
            return
        if "start" not in marks:
            marks["start"] = now
        elif "begin" not in marks and now - marks["start"] >= args.warmup:
            marks["begin"] = (now, tr.samples_seen, state.frames)
            marks["threads"] = thread_cpu()
        elif "begin" in marks and now - marks["begin"][0] >= args.seconds:
            t0, s0, f0 = marks["begin"]
            marks["result"] = {
                "samples_per_s": (tr.samples_seen - s0) / (now - t0), "fps": (state.frames - f0) / (now - t0),
                "batch": tr.batch, "steps_per_frame": state.pacing.steps, "adapter": tr.info.adapter,
                "mlp_path": tr.mlp_path, "share_training": state.share.training,
                "share_render": state.share.render, "share_idle": state.share.idle,
                "cores_by_thread": cpu_by_thread(marks["threads"], thread_cpu(), now - t0)}
            hello_imgui.get_runner_params().app_shall_exit = True

    params.callbacks.show_gui = show_gui
    immapp.run(params, add_ons())
    if "result" not in marks:
        print(json.dumps({"error": "the window closed before the measurement finished"}))
        return 1
    print(json.dumps(marks["result"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
