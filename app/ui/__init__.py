"""The desktop window (imgui-bundle) over the headless training core; ``app.ui.main.run_app`` opens it."""
