"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw new examples on every run, so a rare failing case can turn up on any
# run; CI (.ci/run sets HYPOTHESIS_PROFILE=ci) draws the same examples every time, so that a
# landing is decided by the code, not by the draw. Run a failure found locally again with its
# printed example, and keep it as an ``@example``.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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
