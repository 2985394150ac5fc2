"""Test configuration: set once here, never inside a test.

The suite is strict on purpose: JAX raises on implicit rank promotion, and every annotated
signature and field of spikax is checked at run time by jaxtyping with beartype (array types,
dtypes and named shapes), so a shape mistake fails a test instead of broadcasting silently.
"""

import os
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

# The suite compiles hundreds of small programs and runs each a few times: its time is XLA's
# compile time. LLVM's optimisation level 0 makes the whole suite ~17 % faster (test_dynapse and
# test_train: 149 s -> 123 s of CPU) with the same results to float rounding, which is all the
# tolerances assume (IEEE semantics do not depend on it: XLA's CPU code is never fast-math).
# Set before JAX's backend starts; SPIKAX_TEST_OPTIMISED=1, or your own level, keeps yours.
_flags = os.environ.get("XLA_FLAGS", "")
if os.environ.get("SPIKAX_TEST_OPTIMISED", "0") != "1" and "xla_backend_optimization_level" not in _flags:
    os.environ["XLA_FLAGS"] = f"{_flags} --xla_backend_optimization_level=0".strip()

import jax  # noqa: E402
import pytest  # noqa: E402
from jaxtyping import install_import_hook  # noqa: E402

# float32 is what users run; tests that need more precision say so in their tolerances.
jax.config.update("jax_enable_x64", False)
jax.config.update("jax_numpy_rank_promotion", "raise")

if os.environ.get("SPIKAX_TYPECHECK", "1") != "0":  # on unless asked off (to time the checks)
    with install_import_hook("spikax", "typecheck.typecheck"):
        import spikax  # noqa: E402, F401
        import spikax.devices.dynapse  # noqa: E402, F401
        import spikax.plot  # noqa: E402, F401
        import spikax.train  # noqa: E402, F401
        import spikax.distributed  # noqa: E402, F401
        import spikax.interop.nir  # noqa: E402, F401

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
