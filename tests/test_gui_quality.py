"""The Quality vs size panel in the real window (Xvfb, imgui test engine): codec curves for the texture,
SSIM/FLIP of the network, a codec's decoded image beside the prediction, the smallest-network search."""
import numpy as np
import pytest

from test_gui import pytestmark, run_window, small_texture, wait_until  # noqa: F401  (fixture and display check)


def test_quality_panel(small_texture, tmp_path):
    from app.quality import psnr, ssim
    from app.ui.main import create_state
    from app.ui.panel_quality import panel, reference

    state = create_state(texture=small_texture, preset_dir=tmp_path)
    state.preset = state.preset.with_training(batch_size=512)
    seen = {}

    def test(ctx):
        wait_until(ctx, lambda: state.trainer is not None and state.images.serial > 0, "the first network", 240)
        ctx.window_focus("//Quality vs size")
        q = panel(state)
        key, ref = reference(state)
        wait_until(ctx, lambda: key in q.codec_rows, "the codec curves", 240)
        rows = q.codec_rows[key]
        assert {r.codec for r in rows} == {"jpeg", "webp", "bc1", "bc7", "astc"}
        assert next(r for r in rows if r.codec == "bc7").bits_per_pixel == 8.0  # 64x64: whole blocks

        # SSIM and FLIP of the full-resolution prediction, as numpy computes them from the same images.
        wait_until(ctx, lambda: q.metrics is not None and q.prediction is not None, "the network's metrics", 240)
        m = q.metrics
        assert q.prediction.shape == ref.shape
        assert 0 < m.quality.flip < 1 and 0 < m.quality.ssim <= 1
        seen["metrics"] = (m.quality.psnr, psnr(ref, q.prediction), m.quality.ssim, ssim(ref, q.prediction))

        # A codec's decoded image beside the prediction (the shared compare view).
        bc7 = next(r for r in rows if r.codec == "bc7")
        ctx.set_ref("//Quality vs size")
        ctx.item_click("show beside the prediction")
        ctx.item_click(f"//$FOCUSED/bc7 4x4: {bc7.bits_per_pixel:.2f} bpp, {bc7.psnr:.2f} dB")
        wait_until(ctx, lambda: q.compare.b is not None, "the decoded BC7 image", 120)
        assert psnr(ref, q.compare.b) == pytest.approx(bc7.psnr, abs=1e-6)
        assert q.compare.a.shape == ref.shape and q.compare.labels[1] == "BC7 4x4"

        # The search, cancelled; then a reachable target with one candidate, and the window switches to it.
        # A million steps per attempt: the search cannot end before the click on Cancel (16 steps did, once in CI).
        ctx.item_input_value("**/steps per attempt", 1_000_000)
        ctx.item_input_value("**/max candidates (0: all)", 2)
        ctx.item_input_value("**/target PSNR (dB)", 99.0)
        ctx.item_click("**/Find smallest network for PSNR")
        wait_until(ctx, lambda: q.search is not None and q.search.running, "the search to start")
        ctx.item_click("**/Cancel search")
        wait_until(ctx, lambda: not q.search.running, "the cancelled search", 240)
        assert q.search.result.cancelled and q.search.error is None
        ctx.item_input_value("**/steps per attempt", 16)
        ctx.item_input_value("**/max candidates (0: all)", 1)
        ctx.item_input_value("**/target PSNR (dB)", 3.0)
        ctx.item_click("**/Find smallest network for PSNR")
        wait_until(ctx, lambda: q.search.result is not None and not q.search.running, "the search", 300)
        result = q.search.result
        assert result.reached and result.best.quality.psnr >= 3.0 and q.search.error is None
        # Each attempt is a run of the experiment log: the cancelled one stopped, the reached one with its metrics.
        from app.runlog import RunLog
        log = RunLog()  # this thread's own connection
        attempts = [r for r in log.runs() if r["source"] == "window" and r["preset"] == result.best.preset.name
                    and r["status"] in ("stopped", "finished") and r["id"] != state.runs.current_id]
        log.close()
        assert any(r["status"] == "stopped" for r in attempts), attempts
        done = [r for r in attempts if r["status"] == "finished" and r["steps"] == 16]
        assert done and done[-1]["ssim"] == pytest.approx(result.best.quality.ssim), attempts
        ctx.item_click("**/Use this network")
        wait_until(ctx, lambda: state.trainer.network == result.best.preset.network and not state.training,
                   "the smallest network in the window", 240)
        np.testing.assert_array_equal(state.trainer.parameters(), result.best.parameters)

    run_window(state, test)
    psnr_panel, psnr_numpy, ssim_panel, ssim_numpy = seen["metrics"]
    assert psnr_panel == pytest.approx(psnr_numpy) and ssim_panel == pytest.approx(ssim_numpy)
