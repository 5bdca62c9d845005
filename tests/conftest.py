import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEXTURES = ROOT / "textures"


@pytest.fixture(scope="session")
def device():
    from app.device import create_device
    return create_device()


@pytest.fixture(scope="session")
def small_image():
    """A smooth 16x16 test image with structure in every channel."""
    y, x = np.mgrid[0:16, 0:16] / 15.0
    return np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x * y)], 2).astype(np.float32)


@pytest.fixture(autouse=True)
def _private_experiment_log(tmp_path_factory, monkeypatch):
    """Runs recorded by tests (CLI train, the window) go to a temporary log, never the user's."""
    monkeypatch.setenv("NTS_HOME", str(tmp_path_factory.mktemp("nts-home")))
