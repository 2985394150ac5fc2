"""Test configuration: set once here, never inside a test."""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

# float32 is what users run; tests that need more precision say so in their tolerances.
jax.config.update("jax_enable_x64", False)

REPO = Path(__file__).resolve().parents[1]
REF = REPO.parent / "shared" / "ref"


@pytest.fixture
def key():
    return jax.random.key(1234)


@pytest.fixture
def ref_dir():
    """``../shared/ref`` beside the repository; tests using it skip where it is absent."""
    if not REF.is_dir():
        pytest.skip(f"reference data not found at {REF}")
    return REF
