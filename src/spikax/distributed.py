"""Devices and sharding: the one module of spikax that uses ``jax.sharding``.

A batch (or a parameter sweep, or an ensemble of drawn chips) is an array whose leading axis
indexes independent samples; :func:`shard_batch` places it across devices along that axis,
and a ``jax.jit``-compiled ``jax.vmap`` of the model then runs each device's share where it
lies (XLA partitions the computation by the input's sharding). The results are the same as on
one device, to float rounding.

On a CPU machine, XLA shows one host device unless told otherwise before JAX starts:
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (see :func:`host_device_flag`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PyTree

__all__ = ["BATCH_AXIS", "batch_mesh", "host_device_flag", "shard_batch"]

#: Name of the mesh axis that batches are split along.
BATCH_AXIS = "batch"


def host_device_flag(n_devices: int) -> str:
    """The ``XLA_FLAGS`` entry that gives ``n_devices`` CPU devices (set it before importing JAX)."""
    if not isinstance(n_devices, int) or isinstance(n_devices, bool) or n_devices < 1:
        raise ValueError(f"`n_devices` must be a positive integer, got {n_devices!r}")
    return f"--xla_force_host_platform_device_count={n_devices}"


def batch_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
    """A one-axis mesh (axis :data:`BATCH_AXIS`) over ``devices`` (default: every local device)."""
    devices = jax.local_devices() if devices is None else list(devices)
    if not devices:
        raise ValueError("`devices` must name at least one device")
    return Mesh(np.asarray(devices), (BATCH_AXIS,))


def shard_batch(tree: PyTree, mesh: Optional[Mesh] = None) -> PyTree:
    """Place every array of ``tree`` on ``mesh``, split along its leading (batch) axis.

    The leading axis must divide evenly by the number of devices (pad the batch otherwise).
    """
    mesh = batch_mesh() if mesh is None else mesh
    n = mesh.shape[BATCH_AXIS]
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))

    def place(a):
        if np.ndim(a) < 1 or np.shape(a)[0] % n:
            raise ValueError(
                f"every array must have a leading batch axis divisible by the {n} devices, got shape {np.shape(a)}"
            )
        return jax.device_put(a, sharding)

    return jax.tree.map(place, tree)
