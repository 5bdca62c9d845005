"""The experiment log in the real window (Xvfb, imgui-bundle's test engine): train two networks, compare
them, restore the first, load weights only, note, delete. The log is a temporary NTS_HOME (conftest)."""
import os

import numpy as np
import pytest

from test_gui import artifacts, next_render, run_window, small_texture, wait_until  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs a display: run under xvfb-run -a")


def focus(ctx, window: str) -> None:
    from imgui_bundle import hello_imgui
    hello_imgui.get_runner_params().docking_params.focus_dockable_window(window)
    ctx.yield_(3)


def ctrl_click(ctx, ref: str) -> None:
    from imgui_bundle import imgui
    ctx.key_down(imgui.Key.mod_ctrl)
    ctx.item_click(ref)
    ctx.key_up(imgui.Key.mod_ctrl)


def test_runs_compare_restore(small_texture, tmp_path, artifacts):  # noqa: F811
    from imgui_bundle import imgui
    from imgui_bundle.immapp import testing
    from app.runlog import RunLog
    from app.ui.main import create_state
    from app.ui.panel_runs import compare_curves

    state = create_state(texture=small_texture, preset_dir=tmp_path)
    # steps: far away, so that network 2 is still running (its run "stopped", not "finished") when run 1
    # is restored however fast the window trains
    state.preset = state.preset.with_training(batch_size=512, steps=1_000_000)
    log = state.runs.log
    seen = {}

    def test(ctx):
        # Network 1 trains: run 1, live in the log.
        wait_until(ctx, lambda: state.trainer is not None and state.trainer.step >= 150, "network 1", 240)
        assert state.runs.current_id == 1 and log.get(1)["status"] == "running"
        # Network 2 (narrower) replaces it: run 1 ends with its weights and curves, run 2 starts.
        ctx.item_input_value("**/hidden width", 32)
        wait_until(ctx, lambda: state.trainer.network.n_neurons == 32 and state.trainer.step >= 150
                   and state.runs.current_id == 2, "network 2", 240)
        run1 = log.get(1)
        assert run1["status"] == "stopped" and run1["steps"] >= 150 and run1["source"] == "window"
        assert log.weights_path(1).is_file() and log.thumbnail(1).shape == (64, 64, 3)
        series1 = log.series(1)["loss"]
        assert len(series1) > 5 and series1[-1][2] < 0.7 * series1[0][2]

        # The Runs table: both runs, the live one first; sorting by a column.
        focus(ctx, "Runs")
        wait_until(ctx, lambda: [r["id"] for r in state.runs.rows][:2] == [2, 1], "the table")
        ctx.item_click("**/PSNR")
        ctx.yield_(2)
        assert state.runs.sort[0] == 7

        # Select both and compare: predictions in the Compare window, curves overlaid in Metrics.
        ctx.item_click("**/###run1")
        ctrl_click(ctx, "**/###run2")
        assert state.runs.selected == [1, 2]
        ctx.item_click("**/Compare #1 and #2")
        comparison = state.runs.comparison
        assert comparison is not None and comparison.ids == (1, None)
        focus(ctx, "Compare")
        next_render(ctx, state, "a render of network 2")
        ctx.yield_(2)
        view = comparison.view
        np.testing.assert_array_equal(view.a, log.thumbnail(1))
        np.testing.assert_array_equal(view.b, state.images.arrays["prediction"])
        loss_curves = compare_curves(state, "loss")
        assert [c[0].split(":")[0] for c in loss_curves] == ["A"] and loss_curves[0][2] == series1
        ctx.item_click("**/difference##compare")
        ctx.yield_(2)
        assert view.mode == "difference" and view.difference().max() > 0.01
        ctx.item_click("**/split##compare")
        ctx.yield_(2)
        ctx.item_drag_with_delta("**/##compare_divider", imgui.ImVec2(-40, 0))
        assert view.split < 0.45, view.split
        ctx.mouse_move("**/##compare_split")
        ctx.yield_(2)
        assert state.view.hover is not None
        ctx.mouse_wheel_y(2.0)
        ctx.yield_(2)
        assert state.view.zoom > 1.5  # zoom is the Views' (shared)
        state.view.zoom, state.view.center = 1.0, (0.5, 0.5)
        view.split = 0.5
        ctx.yield_(3)
        testing.capture(ctx, str(artifacts / "gui-compare.png"))

        # Restore run 1: its 64-wide network comes back with its weights and training continues (run 3).
        focus(ctx, "Runs")
        ctx.item_click("**/###run1")
        ctx.item_click("**/Restore")
        wait_until(ctx, lambda: state.trainer.network.n_neurons == 64 and state.runs.current_id == 3,
                   "the restored network", 240)
        assert log.get(2)["status"] == "stopped" and log.get(3)["restored_from"] == 1
        wait_until(ctx, lambda: len(state.history.loss.values) >= 3, "losses of the restored network")
        restored_first = state.history.loss.values[0]
        assert restored_first < 0.5 * series1[0][2], (restored_first, series1[0][2], series1[-1][2])
        seen["losses"] = (series1[0][2], series1[-1][2], restored_first)

        # Load weights only: the paused network shows run 1's prediction exactly (its thumbnail, 8-bit).
        ctx.item_click("**/###run1")
        ctx.item_click("**/Load weights only")
        wait_until(ctx, lambda: state.message is not None and "loaded weights.ntsw" in state.message.text,
                   "the weights of run 1")
        assert not state.training
        next_render(ctx, state, "run 1's weights")
        shown = np.round(np.clip(state.images.arrays["prediction"], 0, 1) * 255) / 255
        np.testing.assert_allclose(shown, log.thumbnail(1), atol=1e-6)

        # A note, then deleting run 2 removes it and its files.
        ctx.item_click("**/note")
        ctx.key_chars_replace_enter("the 64-wide one")
        ctx.yield_(2)
        assert log.get(1)["note"] == "the 64-wide one"
        folder = log.run_folder(2)
        assert folder.is_dir()
        ctx.item_click("**/###run2")
        ctx.item_click("**/Delete")
        ctx.yield_(2)
        assert not folder.exists() and 2 not in [r["id"] for r in log.runs()], (state.message, state.runs.selected)

    run_window(state, test)
    runs = {r["id"]: r for r in RunLog().runs()}
    print(f"\nruns: {[(i, r['status'], r['steps']) for i, r in sorted(runs.items())]}; losses (run 1 first, "
          f"last, restored first): {seen['losses']}; screenshot {artifacts / 'gui-compare.png'}")
    assert all(r["status"] != "running" for r in runs.values())  # closing the window ended the last run
    assert (artifacts / "gui-compare.png").stat().st_size > 10_000
