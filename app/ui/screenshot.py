"""Captures a screenshot of the real window after it has trained a while (the README's docs/screenshot.png).

    xvfb-run -a -s "-screen 0 1600x1000x24" python -m app.ui.screenshot docs/screenshot.png --seconds 60
    ... python -m app.ui.screenshot docs/compare.png --seconds 45 --compare     # docs/compare.png

Runs are recorded in a temporary experiment log, not the user's.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--seconds", type=float, default=60.0, help="training time before the capture")
    parser.add_argument("--texture", help="image to train on (default: the bundled chelsea.png)")
    parser.add_argument("--window", default="1400x860", help="window size WxH")
    parser.add_argument("--compare", action="store_true", help="then train a network half as wide as long, and "
                        "capture the Compare window (split screen) with both runs' curves in Metrics")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nts-screenshot-") as home:
        os.environ["NTS_HOME"] = home
        return _capture(args)


def _capture(args) -> int:
    from imgui_bundle import hello_imgui, imgui
    from imgui_bundle.immapp import testing
    from PIL import Image

    from .main import add_ons, create_state, make_runner_params

    state = create_state(texture=args.texture)
    out = Path(args.out).resolve()

    def capture(ctx) -> None:
        while state.trainer is None or state.trainer.train_seconds < args.seconds:
            ctx.yield_()
        target = "**/##view_prediction"
        if args.compare:
            from . import actions, panel_runs
            first = state.trainer
            actions.set_architecture(state, network={"n_neurons": first.network.n_neurons // 2})
            while state.trainer is first or state.trainer.train_seconds < args.seconds:
                ctx.yield_()
            panel_runs.compare(state, state.runs.log.runs()[-1]["id"], None)
            state.runs.comparison.view.mode = "split"
            state.runs.comparison.view.split = 0.6  # the cursor goes to the middle: over A, not the divider
            target = "**/##compare_split"
        ctx.mouse_move(target)  # so the pixel readout shows values
        ctx.yield_(3)
        testing.capture(ctx, str(out))

    def allow_long_run() -> None:  # the test engine stops a "test" after 60 s by default
        io = imgui.test_engine.get_io(hello_imgui.get_imgui_test_engine())
        io.config_watchdog_warning = io.config_watchdog_kill_test = 3600.0

    w, h = (int(v) for v in args.window.split("x"))
    params = make_runner_params(state, (w, h))
    params.callbacks.register_tests = allow_long_run
    started = time.monotonic()
    testing.run(test_function=capture, runner_params=params, add_ons_params=add_ons())
    Image.open(out).convert("RGB").save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB) after {time.monotonic() - started:.0f} s; "
          f"step {state.trainer.step}, PSNR {state.history.psnr.last():.2f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
