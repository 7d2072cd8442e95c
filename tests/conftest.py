"""Shared pytest fixtures."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def realdata_dir():
    """Folder of real images, ``../shared/realdata`` next to the repository; skip when absent."""
    path = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
    if not path.is_dir():
        pytest.skip(f"real data folder not found: {path}")
    return path


@pytest.fixture(scope="session")
def sample_dir():
    """The bundled sample images (``sample_data/``)."""
    return Path(__file__).resolve().parents[1] / "sample_data"
