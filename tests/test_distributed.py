"""Sharding a batch over devices changes nothing but where it runs (1 vs 2 host devices)."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import spikax as sx
from conftest import REPO

SCRIPT = """
import jax, jax.numpy as jnp, numpy as np, equinox as eqx
import spikax as sx
from spikax import distributed
assert len(jax.devices()) == 2, jax.devices()
xs = (jax.random.uniform(jax.random.key(0), (4, 120, 3)) < 0.1).astype(jnp.float32)
net = sx.Sequential(sx.Linear.create(3, 2, key=jax.random.key(1)), sx.LIF.create(2, v_threshold=0.05))
run = eqx.filter_jit(lambda m, x: jax.vmap(lambda s: m(s)[0])(x))
sharded = distributed.shard_batch(xs)
assert len(sharded.sharding.device_set) == 2
out = run(net, sharded)
np.save("{out}", np.asarray(out))
"""


def test_host_device_flag_and_errors():
    assert sx.distributed.host_device_flag(4) == "--xla_force_host_platform_device_count=4"
    with pytest.raises(ValueError, match="`n_devices`"):
        sx.distributed.host_device_flag(0)
    mesh = sx.distributed.batch_mesh()
    with pytest.raises(ValueError, match="divisible"):
        sx.distributed.shard_batch(np.ones(()), mesh)  # no batch axis at all


def test_a_sharded_batch_gives_the_same_spikes_on_two_devices(tmp_path):
    import equinox as eqx
    import jax.numpy as jnp

    out = tmp_path / "two.npy"
    env = dict(os.environ, XLA_FLAGS=sx.distributed.host_device_flag(2), JAX_PLATFORMS="cpu")
    subprocess.run([sys.executable, "-c", SCRIPT.format(out=out)], check=True, cwd=REPO, env=env)
    xs = (jax.random.uniform(jax.random.key(0), (4, 120, 3)) < 0.1).astype(jnp.float32)
    net = sx.Sequential(sx.Linear.create(3, 2, key=jax.random.key(1)), sx.LIF.create(2, v_threshold=0.05))
    one = eqx.filter_jit(lambda m, x: jax.vmap(lambda s: m(s)[0])(x))(net, xs)
    two = np.load(out)
    assert float(np.sum(two)) > 0
    np.testing.assert_array_equal(two, np.asarray(one))
