"""spikax.distributed: results do not depend on how many devices or processes share the work.

The device count of a JAX process is fixed when it starts, so the multi-device runs are fresh
processes (``tests/distributed_worker.py``): one with 4 host devices, and two processes of one
device each joined by ``jax.distributed`` over 127.0.0.1 (gloo collectives) into a mesh of 2,
each compared with the same work on this process's one device: 1 vs 2 vs 4 devices. Every
sample and chip is computed by the same per-sample program everywhere: drawn chips agree
exactly, outputs to float rounding (a batched matrix product may be blocked differently per
device); a trained weight is a sum over the batch taken in another order on each split, so it
agrees to float32 rounding of its terms.
"""

import os
import socket
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx
from conftest import REPO

WORKER = os.path.join(REPO, "tests", "distributed_worker.py")
EXACT = ("chips_Itau_mem", "chips_counts")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env():
    # The same XLA flags as this process (conftest's optimisation level), no device count.
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f)
    env.pop("SPIKAX_CPU_DEVICES", None)
    return env


def _check(got: dict, ref: dict, prefix: str = ""):
    for name in EXACT:
        np.testing.assert_array_equal(got[prefix + name], ref[name], err_msg=f"{prefix}{name}")
    # A batched matrix product may be blocked differently for 8, 4 or 2 samples per device: the
    # readout's membrane (|v| < 0.4 after 20 steps) agrees to float32 rounding.
    np.testing.assert_allclose(got[prefix + "vmap"], ref["vmap"], rtol=0, atol=1e-6)
    # Two Adam epochs of a weight of size ~0.6: a few float32 ulps of the gradient sums.
    np.testing.assert_allclose(got[prefix + "fit_weight"], ref["fit_weight"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(got[prefix + "fit_loss"], ref["fit_loss"], rtol=1e-5)
    # Means of the same 16 draws in another order of summation.
    np.testing.assert_allclose(got[prefix + "eval_keys"], ref["eval_keys"], rtol=1e-6)


def test_one_two_four_devices_and_two_processes_give_the_same_results(tmp_path):
    port = _free_port()
    devices = subprocess.Popen(
        [sys.executable, WORKER, "devices", "4", str(tmp_path / "d4.npz")],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, "process", str(i), str(port), str(tmp_path / "mp.npz")],
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    sys.path.insert(0, os.path.dirname(WORKER))
    try:
        from distributed_worker import work

        ref = work(1)
    finally:
        sys.path.remove(os.path.dirname(WORKER))
    for p in [devices] + procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out[-3000:]
    assert ref["chips_counts"].sum() > 100 and ref["vmap"].std() > 0  # the chips fire, the network responds
    # Different chips: each of the 10 drew its own leak currents.
    assert len(np.unique(ref["chips_Itau_mem"][:, 0])) == 10
    four = dict(np.load(tmp_path / "d4.npz"))
    _check(four, ref, "4/")
    assert int(four["4/fit_devices"]) == 1  # trained on 4 devices, handed back on the default one
    errors = list(four["errors"])
    assert "the batch of 5 does not divide over 4 devices" in errors[0]
    assert "`batch_size` (5) must divide over the 4 devices" in errors[1]
    _check(dict(np.load(tmp_path / "mp.npz")), ref)


def test_an_ensemble_is_the_same_chips_in_any_chunks():
    def draw(k, scale):
        return {"x": scale * jax.random.normal(k, (3,)), "i": jax.random.randint(k, (), 0, 1000)}

    whole = sx.distributed.ensemble(draw, 7, jnp.float32(2.0), key=jax.random.key(1), chunk_size=7, progress=False)
    chunks = sx.distributed.ensemble(draw, 7, jnp.float32(2.0), key=jax.random.key(1), chunk_size=3, progress=False)
    assert whole["x"].shape == (7, 3) and whole["i"].shape == (7,)
    np.testing.assert_array_equal(whole["x"], chunks["x"])
    # Chip i is fold_in(key, i): it can be drawn again alone.
    again = 2.0 * jax.random.normal(jax.random.fold_in(jax.random.key(1), 5), (3,))
    np.testing.assert_array_equal(whole["x"][5], again)
    # The automatic chunk fits the memory and is at most the chip count (rounded to the devices).
    assert 1 <= sx.distributed.ensemble_chunk_size(draw, 7, jnp.float32(2.0), key=jax.random.key(1)) <= 7


def test_vmap_over_devices_equals_jax_vmap_for_batches_and_sweeps():
    net = sx.Sequential(sx.Linear.create(3, 4, key=jax.random.key(0)), sx.LIF.create(4, v_threshold=0.3))
    xs = (jax.random.uniform(jax.random.key(1), (6, 40, 3)) < 0.3).astype(jnp.float32)
    run = sx.distributed.vmap(lambda m, x: m(x)[0], in_axes=(None, 0))
    np.testing.assert_array_equal(run(net, xs), jax.vmap(lambda x: net(x)[0])(xs))
    # A sweep: the time constant mapped, the input shared.
    taus = jnp.array([5e-3, 10e-3, 20e-3, 40e-3])

    def counts(tau, x):
        return jnp.sum(sx.LIF.create(3, tau_mem=tau, v_threshold=0.3)(x)[0])

    swept = sx.distributed.vmap(counts, in_axes=(0, None))(taus, xs[0])
    np.testing.assert_array_equal(swept, jnp.stack([counts(t, xs[0]) for t in taus]))
    assert np.all(np.diff(np.asarray(swept)) > 0)  # slower leak, more spikes


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="`n_devices` must be a positive integer"):
        sx.distributed.host_device_flag(0)
    have = len(jax.devices())
    with pytest.raises(ValueError, match=rf"`devices` = {have + 7} is more than the {have} available"):
        sx.distributed.batch_mesh(have + 7)
    with pytest.raises(ValueError, match="`devices` must be at least 1"):
        sx.distributed.batch_mesh(0)
    with pytest.raises(RuntimeError, match="JAX has started with"):
        sx.distributed.cpu_devices(have + 1)
    assert sx.distributed.cpu_devices(have) == have  # the count it has already is fine
    with pytest.raises(ValueError, match="leading batch axis"):
        sx.distributed.shard_batch(np.ones(()))
    with pytest.raises(ValueError, match="same leading"):
        sx.distributed.vmap(lambda a, b: a + b)(jnp.ones(2), jnp.ones(3))
    with pytest.raises(ValueError, match="`in_axes` entries must be 0"):
        sx.distributed.vmap(lambda a: a, in_axes=1)(jnp.ones((2, 2)))
    for bad in (0, -3):
        with pytest.raises(ValueError, match="`n_chips` must be a positive integer"):
            sx.distributed.ensemble(lambda k: k, bad, key=jax.random.key(0))
    with pytest.raises((ValueError, TypeError), match="n_chips"):  # the tests' type checks catch it first
        sx.distributed.ensemble(lambda k: k, 2.5, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`key` is required"):
        sx.distributed.ensemble(lambda k: k, 3, key=None)
    with pytest.raises(ValueError, match="SPIKAX_CPU_DEVICES must be"):
        r = subprocess.run(
            [sys.executable, "-c", "import spikax"],
            env=dict(_env(), SPIKAX_CPU_DEVICES="many"),
            capture_output=True,
            text=True,
        )
        raise ValueError(r.stderr.strip().splitlines()[-1])


def test_vmap_programs_follow_the_compiled_in_values():
    class Scale(eqx.Module):
        factor: object = eqx.field(static=True)

        def __call__(self, x):
            return x * self.factor

    run = sx.distributed.vmap(lambda m, x: m(x), in_axes=(None, 0))
    x = jnp.ones((2, 3), jnp.int32)
    assert run(Scale(2), x).dtype == jnp.int32
    # 2.0 == 2, but it is another program: the result is a float, as jax.vmap's.
    assert run(Scale(2.0), x).dtype == jax.vmap(Scale(2.0))(x).dtype == jnp.float32
    # A callable model holding arrays is a function like any other.
    net = sx.Linear.create(3, 2, key=jax.random.key(0))
    np.testing.assert_array_equal(sx.distributed.vmap(net)(jnp.ones((2, 5, 3)))[0],
                                  jax.vmap(net)(jnp.ones((2, 5, 3)))[0])


def test_the_chunk_planner_keeps_a_chunk_within_the_memory(monkeypatch):
    from spikax import distributed

    shared = jnp.ones((1000, 1000))  # 4 MB every chip reads

    def fn(k, a):
        return jnp.sum(a * jax.random.normal(k, (1000, 1000)))  # ~16 MB of temporaries per chip

    chunks = []
    for budget in (4e9, 400e6, 30e6):  # half of it may be used
        monkeypatch.setattr(distributed, "_available_memory", lambda b=budget: int(b))
        chunk, _, used = distributed._plan(fn, 64, (shared,), jax.random.key(0), distributed.batch_mesh(1), 0.5, 64)
        assert used <= 0.5 * budget or chunk == 1, (budget, chunk, used)
        chunks.append(chunk)
    # All 64 chips at once; as many as fit in 200 MB (16 MB each); one, the least there is.
    assert chunks[0] == 64 and 6 <= chunks[1] <= 12 and chunks[2] == 1, chunks
