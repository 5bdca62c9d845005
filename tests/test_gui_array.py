"""Network arrays in the real window (Xvfb, imgui test engine): the Network panel edits an array's
blending and tiles, shows per-tile PSNR over the loss view, and switches to one MLP keeping the shared settings. (The first networks are the
bundled presets', which other tests compile too.)"""
import numpy as np

from test_gui import pytestmark, run_window, small_texture, wait_until  # noqa: F401  (fixture and display check)


def test_network_panel_edits_arrays(small_texture, tmp_path):
    from app.ui.main import create_state

    state = create_state(texture=small_texture, preset="tinn-array-blend", preset_dir=tmp_path)
    state.preset = state.preset.with_training(batch_size=1024)

    def test(ctx):
        wait_until(ctx, lambda: state.trainer is not None and state.images.serial > 0, "the first network", 240)
        net = state.trainer.network
        assert net.is_array and net.tiles == (8, 8) and net.blend
        assert state.trainer.parameter_count == 64 * state.trainer.layout.tile_parameter_count

        ctx.item_check("**/tile PSNR")  # the heat map over the loss view
        wait_until(ctx, lambda: state.tile_psnr_cache[0] is not None, "the per-tile PSNR")
        (serial, tiles), values = state.tile_psnr_cache
        assert tiles == (8, 8) and values.shape == (8, 8) and np.isfinite(values).all()

        ctx.item_uncheck("**/blend")
        wait_until(ctx, lambda: not state.trainer.network.blend and state.trainer.step >= 5, "the array without "
                   "blending", 240)
        ctx.item_input_value("**/tiles x", 4)
        wait_until(ctx, lambda: state.trainer.network.tiles == (4, 8) and state.trainer.step >= 5, "4 x 8 tiles", 240)
        assert state.trainer.layout.tiles == 32

        ctx.item_click("//Controls/network type")  # a combo: the wildcard search does not find it
        ctx.item_click("//$FOCUSED/MLP")
        wait_until(ctx, lambda: not state.trainer.network.is_array and state.trainer.step >= 5, "one MLP", 240)
        assert state.trainer.network.n_neurons == 8 and state.trainer.layout.tiles == 1

    run_window(state, test)
