r"""Devices, meshes and sharding: the one module of spikax that uses ``jax.sharding``.

Everything spikax runs on many samples at once (a batch, a parameter sweep, an ensemble of drawn
chips, a training batch) is a ``jax.vmap`` over a leading axis of independent samples. This
module splits that axis over devices: each device runs the unbatched model's ``vmap`` over its
own share, and nothing is exchanged while the samples run.

- :func:`vmap` is ``jax.vmap`` over devices: ``sx.distributed.vmap(f)(xs)`` gives what
  ``jax.vmap(f)(xs)`` gives, with ``xs``'s leading axis split over every device (no
  communication at all). Parameter sweeps are the same call with the parameters mapped.
- :func:`ensemble` evaluates a function of a chip's key for N keys, streamed through the devices
  in chunks sized to the memory available, with a progress bar: N drawn chips need no more
  memory than one chunk.
- ``spikax.train.fit(..., devices=...)`` trains data-parallel: every device computes the loss
  and gradient of its share of the batch, and one all-reduce (``psum``) of the gradients per step
  combines them; the optimiser then updates the (replicated) parameters identically everywhere.

Results do not depend on the number of devices: every sample (and chip) is computed by the same
per-sample program from the same key, so outputs agree to float rounding (sums over the batch
are taken in another order) and random draws agree exactly.

**CPU cores.** XLA shows a CPU as one device, and one device runs each step of a time loop on
one core (independent fusions of a step may share a second). :func:`cpu_devices` (or the CLI's
``--devices``, or ``SPIKAX_CPU_DEVICES`` in the environment) exposes one XLA host device per
core, so that the batch is split across the cores; it must run before JAX computes anything.

**Several processes and hosts.** :func:`initialize` starts ``jax.distributed`` (the coordinator
address, process count and id come from the arguments, or from SLURM / Open MPI / Kubernetes
when run under them); afterwards every device of every process is one mesh, and :func:`vmap`,
:func:`ensemble` and ``fit`` use it unchanged. Each process runs the same script and holds the
same inputs; each computes only its own devices' share.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, Optional, Union

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray, PyTree

__all__ = [
    "BATCH_AXIS",
    "batch_mesh",
    "chip_keys",
    "data_parallel",
    "cpu_devices",
    "default_cpu_devices",
    "ensemble",
    "ensemble_chunk_size",
    "gather",
    "host_device_flag",
    "initialize",
    "replicate",
    "shard_batch",
    "value_and_grad",
    "vmap",
]

#: Name of the mesh axis that batches are split along.
BATCH_AXIS = "batch"

#: Environment variable read at ``import spikax``: the number of CPU devices to expose
#: (``all`` for one per core), as :func:`cpu_devices` would.
ENV_CPU_DEVICES = "SPIKAX_CPU_DEVICES"

Devices = Union[None, int, Sequence[jax.Device], Mesh]


# --------------------------------------------------------------------------- devices


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    return int(value)


def default_cpu_devices() -> int:
    """The number of CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _backend_started() -> bool:
    from jax._src import xla_bridge

    return xla_bridge.backends_are_initialized()


def cpu_devices(n: Optional[int] = None) -> int:
    """Expose ``n`` XLA CPU (host) devices, default one per core; returns ``n``.

    A CPU is one JAX device unless told otherwise before JAX starts: call this first, before
    anything computes or creates an array (importing ``spikax.devices.dynapse`` creates its
    default surrogate, so call it before that import), or set ``SPIKAX_CPU_DEVICES=n`` (or
    ``all``) in the environment, which ``import spikax`` applies. Calling it again with the count
    JAX already has is allowed.

    The devices share the machine's memory; each runs its share of a batch on its own thread.
    On a machine with GPUs this changes nothing about them.
    """
    n = default_cpu_devices() if n is None else _positive_int("n", n)
    if _backend_started():
        have = len(jax.devices("cpu"))
        if have == n:
            return n
        raise RuntimeError(
            f"cannot expose {n} CPU devices: JAX has started with {have} already (something computed or "
            "created an array first, e.g. `import spikax.devices.dynapse`). Call "
            "spikax.distributed.cpu_devices() before that, set SPIKAX_CPU_DEVICES="
            f"{n} in the environment, or pass --devices {n} to the CLI"
        )
    jax.config.update("jax_num_cpu_devices", n)
    return n


def _apply_environment() -> None:
    """``SPIKAX_CPU_DEVICES`` (a count or ``all``), applied by ``import spikax``."""
    value = os.environ.get(ENV_CPU_DEVICES, "").strip().lower()
    if not value:
        return
    try:
        n = None if value == "all" else int(value)
        if n is not None and n < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"{ENV_CPU_DEVICES} must be a positive integer or 'all', got {value!r}") from None
    n = default_cpu_devices() if n is None else n
    if _backend_started() and len(jax.devices("cpu")) != n:
        raise RuntimeError(
            f"{ENV_CPU_DEVICES}={value} asks for {n} CPU devices, but JAX had started with "
            f"{len(jax.devices('cpu'))} before spikax was imported: import spikax before anything computes"
        )
    cpu_devices(n)


def host_device_flag(n_devices: int) -> str:
    """The ``XLA_FLAGS`` entry that gives ``n_devices`` CPU devices (the environment route,
    for programs that do not import spikax first)."""
    n_devices = _positive_int("n_devices", n_devices)
    return f"--xla_force_host_platform_device_count={n_devices}"


def initialize(
    coordinator_address: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    *,
    local_device_ids: Optional[Sequence[int]] = None,
    cpu_collectives: str = "gloo",
    **kwargs: Any,
) -> None:
    """Join several processes (on one host or many) into one set of devices (``jax.distributed``).

    Call it at the start of the script, in every process, before anything computes. Without
    arguments JAX reads the cluster's environment (SLURM, Open MPI, Kubernetes); otherwise pass
    the coordinator's ``"host:port"``, the number of processes and this process's id
    (``0 .. num_processes - 1``). CPU devices exchange data through ``cpu_collectives``
    (``"gloo"``, over TCP; ``"mpi"`` needs an MPI library). After it, ``jax.devices()`` lists
    every process's devices and :func:`vmap`, :func:`ensemble` and ``fit`` run across all of them.
    """
    if cpu_collectives not in ("gloo", "mpi"):
        raise ValueError(f"`cpu_collectives` must be 'gloo' or 'mpi', got {cpu_collectives!r}")
    if num_processes is not None:
        num_processes = _positive_int("num_processes", num_processes)
    if process_id is not None and (
        isinstance(process_id, bool)
        or not isinstance(process_id, (int, np.integer))
        or process_id < 0
        or (num_processes is not None and process_id >= num_processes)
    ):
        raise ValueError(f"`process_id` must be an integer in [0, num_processes), got {process_id!r}")
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        local_device_ids=local_device_ids,
        **kwargs,
    )


# --------------------------------------------------------------------------- meshes and placement


def batch_mesh(devices: Devices = None) -> Mesh:
    """A one-axis mesh (axis :data:`BATCH_AXIS`) over ``devices``.

    ``devices``: ``None`` for every device (of every process, after :func:`initialize`), an
    integer for the first that many, a sequence of devices, or a :class:`jax.sharding.Mesh`
    with a :data:`BATCH_AXIS` axis (returned as it is).
    """
    if isinstance(devices, Mesh):
        if devices.axis_names != (BATCH_AXIS,):
            raise ValueError(
                f"`devices` must be a one-axis mesh named {BATCH_AXIS!r} (spikax.distributed.batch_mesh), "
                f"got axes {devices.axis_names}"
            )
        return devices
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if devices < 1:
            raise ValueError(f"`devices` must be at least 1, got {devices}")
        if devices > len(available):
            raise ValueError(
                f"`devices` = {devices} is more than the {len(available)} available "
                f"({available[0].platform}); on a CPU, expose more with spikax.distributed.cpu_devices(n) "
                "before JAX starts (or SPIKAX_CPU_DEVICES / the CLI's --devices)"
            )
        chosen = available[: int(devices)]
        missing = sorted({d.process_index for d in available} - {d.process_index for d in chosen})
        if missing:
            raise ValueError(
                f"`devices` = {devices} leaves process(es) {missing} of {jax.process_count()} without a device: with "
                "several processes give a count that covers every process (or a list of devices)"
            )
    elif isinstance(devices, Sequence) and not isinstance(devices, (str, bytes)):
        chosen = list(devices)
        if not chosen:
            raise ValueError("`devices` must name at least one device")
        if not all(isinstance(d, jax.Device) for d in chosen):
            raise TypeError(f"`devices` must be JAX devices (jax.devices()), got {chosen!r}")
    else:
        raise TypeError(
            f"`devices` must be None, a device count, a list of devices or a Mesh, got {type(devices).__name__}"
        )
    return Mesh(np.asarray(chosen), (BATCH_AXIS,))


def _place(a, sharding: NamedSharding):
    if isinstance(a, jax.Array) and a.sharding == sharding:
        return a
    if sharding.is_fully_addressable or (isinstance(a, jax.Array) and not a.is_fully_addressable):
        # One process, or an array already spread over several processes: JAX moves it.
        return jax.device_put(a, sharding)
    if jax.dtypes.issubdtype(getattr(a, "dtype", None), jax.dtypes.prng_key):
        impl = jax.random.key_impl(a)
        return jax.random.wrap_key_data(_place(jax.random.key_data(a), sharding), impl=impl)
    # Several processes: every process holds the whole (identical) array and gives each of
    # its own devices the part it owns.
    host = np.asarray(a)
    return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])


def _check_divides(tree: PyTree, n: int, what: str = "every array") -> int:
    sizes = {np.shape(a)[0] if np.ndim(a) else None for a in jax.tree.leaves(tree)}
    if None in sizes:
        raise ValueError(f"{what} must have a leading batch axis to split over the devices, got a scalar")
    if len(sizes) > 1:
        raise ValueError(f"{what} must have the same leading (batch) size, got sizes {sorted(sizes)}")
    size = sizes.pop() if sizes else 0
    if size % n:
        raise ValueError(
            f"the batch of {size} does not divide over {n} devices: use a batch that is a multiple of {n}, "
            f"or fewer devices (devices={math.gcd(size, n)} divides it)"
        )
    return size


def shard_batch(tree: PyTree, mesh: Optional[Mesh] = None) -> PyTree:
    """Place every array of ``tree`` on ``mesh``, split along its leading (batch) axis.

    The leading axis must divide evenly by the number of devices (an error says so otherwise).
    """
    mesh = batch_mesh() if mesh is None else mesh
    _check_divides(tree, mesh.size)
    sharding = NamedSharding(mesh, PartitionSpec(BATCH_AXIS))
    return jax.tree.map(lambda a: _place(a, sharding), tree)


def replicate(tree: PyTree, mesh: Optional[Mesh] = None) -> PyTree:
    """A copy of every array of ``tree`` on every device of ``mesh`` (other leaves unchanged)."""
    import equinox as eqx

    mesh = batch_mesh() if mesh is None else mesh
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda a: _place(a, sharding) if eqx.is_array(a) else a, tree)


def gather(tree: PyTree) -> PyTree:
    """Every array of ``tree`` as a NumPy array holding all of it, in every process."""

    def one(a):
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            from jax.experimental import multihost_utils

            return np.asarray(multihost_utils.process_allgather(a, tiled=True))
        return np.asarray(a)

    return jax.tree.map(one, tree)


# --------------------------------------------------------------------------- vmap over devices


def _in_axes(in_axes, n_args: int) -> tuple:
    axes = (in_axes,) * n_args if not isinstance(in_axes, (tuple, list)) else tuple(in_axes)
    if len(axes) != n_args:
        raise ValueError(f"`in_axes` has {len(axes)} entries for {n_args} arguments")
    for a in axes:
        if a not in (0, None):
            raise ValueError(
                f"`in_axes` entries must be 0 (split this argument's leading axis) or None (the same for every "
                f"sample), got {a!r}"
            )
    if all(a is None for a in axes):
        raise ValueError("`in_axes` maps no argument: at least one must be 0")
    return axes


def vmap(fn: Callable, in_axes: Union[int, None, Sequence[Optional[int]]] = 0, *, devices: Devices = None) -> Callable:
    """``jax.vmap(fn, in_axes)`` with the mapped axis split over ``devices``, compiled.

    **Arguments:**

    - ``fn``: a function of one sample (unbatched), returning arrays (a PyTree of them).
    - ``in_axes``: per positional argument, ``0`` to map its leading axis (every array in that
      argument) or ``None`` to give every sample the same value (e.g. the model); one value for
      all arguments.
    - ``devices``: as for :func:`batch_mesh` (default: every device).

    Returns a function of the same arguments whose outputs have the mapped axis first, as
    ``jax.vmap``'s. The mapped size must divide by the number of devices. Each device runs
    ``jax.vmap(fn)`` on its consecutive share (``shard_map``), with no communication; the result
    is a ``jax.Array`` split the same way (:func:`gather` makes it one NumPy array). Non-array
    leaves of the arguments (e.g. a model's static fields) are compiled in; calling it again
    with the same structure and shapes reuses the program.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be callable, got {type(fn).__name__}")

    def run(*args):
        axes = _in_axes(in_axes, len(args))
        mesh = batch_mesh(devices)
        _check_divides([a for a, ax in zip(args, axes) if ax == 0], mesh.size, "every mapped argument")
        program, placed = _prepare(fn, axes, args, mesh)
        return program(placed)

    run.__doc__ = f"{getattr(fn, '__name__', 'fn')} mapped over devices (spikax.distributed.vmap)."
    return run


def _static_key(static) -> tuple:
    """The compiled-in leaves, by type and value (1 and 1.0 compile differently); by identity
    where a value cannot be hashed or is not equal to itself (NaN)."""
    out = []
    for leaf in jax.tree.leaves(static):
        try:
            hash(leaf)
            same = bool(leaf == leaf)
        except Exception:
            same = False
        out.append((type(leaf), leaf) if same else (type(leaf), id(leaf)))
    return tuple(out)


#: Compiled programs (function, jitted program) by function id, mapped axes, argument
#: structure and mesh (a few).
_PROGRAMS: dict = {}


def _prepare(fn, axes, args, mesh):
    """The jitted ``shard_map`` of ``jax.vmap(fn)`` for ``args``' structure, and ``args``' arrays
    placed on ``mesh`` (mapped ones split, the rest replicated)."""
    import equinox as eqx

    dynamic, static = eqx.partition(tuple(args), eqx.is_array)
    # ``fn`` by identity (a callable module may hold arrays; kept in the entry so its id stays
    # its own), the rest by structure and compiled-in values.
    # The treedefs by their text as well: static fields are compared with ==, and 2 == 2.0.
    tdyn, tstat = jax.tree.structure(dynamic), jax.tree.structure(static)
    key = (id(fn), axes, mesh, tdyn, tstat, str(tdyn), str(tstat), _static_key(static))
    cached = _PROGRAMS.get(key)
    if cached is None or cached[0] is not fn:
        if len(_PROGRAMS) >= 32:
            _PROGRAMS.pop(next(iter(_PROGRAMS)))
        cached = _PROGRAMS[key] = (fn, _build(fn, axes, static, mesh))
    program = cached[1]
    placed = tuple(_place_tree(d, _sharding(mesh, ax)) for d, ax in zip(dynamic, axes))
    return program, placed


def _place_tree(tree, sharding):
    return jax.tree.map(lambda a: _place(a, sharding), tree)


def _sharding(mesh, axis) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec(BATCH_AXIS) if axis == 0 else PartitionSpec())


def _build(fn, axes, static, mesh):
    import equinox as eqx

    specs = tuple(PartitionSpec(BATCH_AXIS) if ax == 0 else PartitionSpec() for ax in axes)

    def local(dynamic):
        args = eqx.combine(dynamic, static)
        return jax.vmap(fn, in_axes=axes)(*args)

    # The per-sample program knows nothing of devices (its scan carries start unvarying), so the
    # varying-axes check is off: each device runs the plain vmap on its share.
    sharded = jax.shard_map(local, mesh=mesh, in_specs=(specs,), out_specs=PartitionSpec(BATCH_AXIS), check_vma=False)
    return jax.jit(sharded)


# --------------------------------------------------------------------------- data parallelism


def data_parallel(local: Callable, mesh: Mesh) -> Callable:
    """``run(replicated, batch)``: ``local(replicated, batch_share)`` on every device of ``mesh``,
    ``batch`` split along its leading axis, the results summed over the devices (one
    all-reduce, ``psum``) and returned replicated.

    ``local`` must return sums (or shares of a mean) over its samples, e.g. a loss and its
    gradient. The replicated argument may hold non-array leaves (a model's static fields): they
    are compiled in. Call ``run`` inside ``jax.jit``. This is the step of
    ``spikax.train.fit(devices=...)`` and of :func:`value_and_grad`.
    """
    import equinox as eqx

    def run(replicated, batch):
        dynamic, static = eqx.partition(replicated, eqx.is_array)

        def body(dynamic, batch):
            return jax.lax.psum(local(eqx.combine(dynamic, static), batch), BATCH_AXIS)

        return jax.shard_map(
            body, mesh=mesh, in_specs=(PartitionSpec(), PartitionSpec(BATCH_AXIS)), out_specs=PartitionSpec(),
            check_vma=False,
        )(dynamic, batch)

    return run


def value_and_grad(fn: Callable, in_axes: Union[int, None, Sequence[Optional[int]]] = 0, *,
                   devices: Devices = None) -> Callable:
    r"""Data-parallel ``eqx.filter_value_and_grad`` of a batch mean, compiled.

    ``value_and_grad(fn, in_axes)(params, *args)`` returns $L = \frac1B\sum_i fn(params,
    args_i)$ and $\partial L/\partial params$ (for the floating-point arrays of ``params``; a
    model works). ``in_axes`` says, per argument after ``params``, ``0`` for a batch (the samples
    ``B`` on the leading axis of its every array) or ``None`` for a value every sample shares and
    that is not differentiated (e.g. a fixed model); one value for all. Each of ``devices`` (as
    for :func:`batch_mesh`; default every device) differentiates its share and one all-reduce
    sums the shares: the communication of one data-parallel training step. ``B`` must divide by
    the device count.
    """
    import equinox as eqx

    if not callable(fn):
        raise TypeError(f"`fn` must be callable, got {type(fn).__name__}")
    programs: dict = {}

    def run(params, *args):
        if not args:
            raise ValueError("give the batch after `params`: value_and_grad(fn)(params, xs, ...)")
        axes = _in_axes(in_axes, len(args))
        mesh = batch_mesh(devices)
        batch = tuple(a for a, ax in zip(args, axes) if ax == 0)
        shared = tuple(a for a, ax in zip(args, axes) if ax is None)
        size = _check_divides(batch, mesh.size, "every batch argument")
        key = (mesh, size, axes)
        program = programs.get(key)
        if program is None:

            def call(p, shared, sample):
                it_b, it_s = iter(sample), iter(shared)
                return fn(p, *[next(it_b) if ax == 0 else next(it_s) for ax in axes])

            def local(replicated, share):
                params, shared = replicated

                def mean(p):
                    return jax.numpy.sum(jax.vmap(lambda *s: call(p, shared, s))(*share)) / size

                return eqx.filter_value_and_grad(mean)(params)

            program = programs[key] = eqx.filter_jit(lambda r, b: data_parallel(local, mesh)(r, b))
        return program(replicate((params, shared), mesh), shard_batch(batch, mesh))

    return run


# --------------------------------------------------------------------------- ensembles


def _available_memory() -> int:
    """Bytes of memory available to this process now (Linux's MemAvailable, else sysconf)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def chip_keys(key: PRNGKeyArray, index) -> jax.Array:
    """The keys of chips ``index`` (integers) of the ensemble drawn from ``key``: ``fold_in(key, i)``."""
    index = np.asarray(index)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jax.numpy.asarray(index, dtype=np.uint32))


def _program_bytes(executable) -> Optional[int]:
    """Bytes one device's program needs (arguments, outputs and temporaries), from XLA."""
    stats = executable.memory_analysis()
    if stats is None:
        return None
    return int(stats.argument_size_in_bytes + stats.output_size_in_bytes + stats.temp_size_in_bytes)


#: Ahead-of-time compiled chunk programs (program, executable, bytes) by program and input shapes.
_EXECUTABLES: dict = {}


def _device_budget(mesh: Mesh, memory_fraction: float) -> float:
    """Bytes one device of ``mesh`` may use: for CPU devices ``memory_fraction`` of the host's
    free memory over this process's devices in the mesh (they share it); for accelerators that
    fraction of the smallest free device memory (``memory_stats``), else of the host's."""
    local = [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
    free = []
    for d in local:
        if d.platform == "cpu":
            continue
        try:
            stats = d.memory_stats() or {}
            free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        except (KeyError, TypeError, AttributeError, RuntimeError):
            pass
    if free:
        return memory_fraction * min(free)
    return memory_fraction * _available_memory() / max(len(local), 1)


def _agree(value: int) -> int:
    """The smallest of ``value`` over all processes (each must compile the same chunk)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    return int(np.min(multihost_utils.process_allgather(np.int64(value))))


def _plan(fn, n_chips, args, key, mesh, memory_fraction, max_chunk):
    """(chunk size, compiled program for it, its bytes per device).

    The chunk is a multiple of the devices, at most ``max_chunk`` and ``n_chips`` rounded up,
    and the largest whose program XLA says fits in :func:`_device_budget`. The largest is tried
    first; if it does not fit, a second compile at one chip per device gives the program's
    bytes as ``a + b * chips per device``, which sizes the chunk (and halving continues until
    XLA agrees it fits). All processes take the same chunk (the smallest any of them can hold).
    Without XLA memory statistics the largest chunk is taken: pass ``chunk_size`` to bound it.
    """
    d = mesh.size
    axes = (0,) + (None,) * len(args)

    def compile_for(c):
        program, placed = _prepare(fn, axes, (chip_keys(key, np.zeros(c, np.int64)),) + tuple(args), mesh)
        like = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), placed)
        signature = (id(program), tuple((a.shape, a.dtype, a.sharding) for a in jax.tree.leaves(like)))
        cached = _EXECUTABLES.get(signature)
        if cached is None or cached[0] is not program:
            executable = program.lower(like).compile()
            if len(_EXECUTABLES) >= 32:
                _EXECUTABLES.pop(next(iter(_EXECUTABLES)))
            cached = _EXECUTABLES[signature] = (program, executable, _program_bytes(executable))
        return cached[1], cached[2]

    budget = _device_budget(mesh, memory_fraction)
    per_device = max(min(-(-n_chips // d), max_chunk // d), 1)
    executable, used = compile_for(per_device * d)
    fits = used is None or used <= budget
    target = per_device
    if not fits and per_device > 1:
        _, one = compile_for(d)
        slope = max((used - one) / (per_device - 1), 1.0)
        target = int(max(min((budget - (one - slope)) // slope, per_device - 1), 1))
    target = _agree(target)
    # Every process takes part in every _agree, so that none waits for another that stopped.
    while target != per_device:
        executable, used = compile_for(target * d)
        per_device = target
        fits = used is None or used <= budget or per_device == 1
        target = _agree(per_device if fits else max(per_device // 2, 1))
    return per_device * d, executable, used


def ensemble_chunk_size(
    fn: Callable,
    n_chips: int,
    *args,
    key: PRNGKeyArray,
    devices: Devices = None,
    memory_fraction: float = 0.5,
    max_chunk: int = 1024,
) -> int:
    """The number of chips :func:`ensemble` evaluates at once when not told: a multiple of the
    device count whose program fits in ``memory_fraction`` of the memory available now (XLA's
    own count of its arguments, outputs and temporaries), at most ``max_chunk`` (more chips at
    once do not run faster) and at most ``n_chips`` rounded up to the devices."""
    return _plan(fn, n_chips, args, key, batch_mesh(devices), memory_fraction, max_chunk)[0]


def ensemble(
    fn: Callable,
    n_chips: int,
    *args: Any,
    key: Optional[PRNGKeyArray],
    devices: Devices = None,
    chunk_size: Optional[int] = None,
    memory_fraction: float = 0.5,
    progress: bool = True,
    description: str = "chips",
) -> PyTree:
    """``fn(chip_key, *args)`` for ``n_chips`` chips, streamed over ``devices`` in chunks.

    Chip ``i`` gets ``jax.random.fold_in(key, i)`` (:func:`chip_keys`), whatever the device count
    and chunk size: the same ``key`` draws the same chips everywhere, and any one chip can be
    drawn again alone. ``args`` (the network, the
    inputs) are the same for every chip and are passed to each device once per chunk (as
    arguments, not compiled-in constants). ``fn`` should return per-chip summaries (spike
    counts, an accuracy): the results of all chips are kept, as NumPy arrays with the chip axis
    first, while the chip's own simulation lives only as long as its chunk.

    ``chunk_size`` (a multiple of the device count) defaults to :func:`ensemble_chunk_size`:
    what fits in ``memory_fraction`` of the available memory. The last chunk is padded with
    repeated keys and trimmed. ``progress`` shows a tqdm bar in chips (on process 0), labelled
    ``description``.

    Example, 1,000 chips of a DYNAP-SE2 network at 10 % mismatch::

        def rates(k, net, xs):
            chip = eqx.tree_at(lambda m: m.params, net, dx.apply_mismatch(k, net.params, 10.0))
            return jnp.mean(chip(xs)[0], axis=0) / chip.dt

        r = sx.distributed.ensemble(rates, 1000, net, xs, key=jax.random.key(0))  # (1000, n)
    """
    if isinstance(n_chips, bool) or not isinstance(n_chips, (int, np.integer)) or n_chips < 1:
        raise ValueError(f"`n_chips` must be a positive integer (chips to draw), got {n_chips!r}")
    if key is None:
        raise ValueError("`key` is required: it decides which chips are drawn (jax.random.key(seed))")
    if not (0.0 < memory_fraction <= 1.0):
        raise ValueError(f"`memory_fraction` must be in (0, 1], got {memory_fraction!r}")
    mesh = batch_mesh(devices)
    d = mesh.size
    executable = None
    if chunk_size is None:
        chunk_size, executable, _ = _plan(fn, n_chips, args, key, mesh, memory_fraction, 1024)
    else:
        chunk_size = _positive_int("chunk_size", chunk_size)
        if chunk_size % d:
            raise ValueError(f"`chunk_size` ({chunk_size}) must be a multiple of the {d} devices")
    axes = (0,) + (None,) * len(args)
    # The shared arguments go to the devices once, not once per chunk.
    shared = replicate(tuple(args), mesh)

    def run(keys):
        program, placed = _prepare(fn, axes, (keys,) + shared, mesh)
        return (program if executable is None else executable)(placed)
    show = progress and jax.process_index() == 0
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=n_chips,
            unit="chip",
            dynamic_ncols=True,
            file=sys.stderr,
            desc=f"{description} ({chunk_size} per chunk, {d} device{'s' if d > 1 else ''})",
        )
    results = None

    def collect(start, real, out):
        nonlocal results
        host = jax.tree.map(lambda a: a[:real], gather(out))
        if results is None:
            results = jax.tree.map(lambda a: np.empty((n_chips,) + a.shape[1:], a.dtype), host)
        for r, a in zip(jax.tree.leaves(results), jax.tree.leaves(host)):
            r[start : start + real] = a
        if bar is not None:
            bar.update(real)

    pending = None
    try:
        for start in range(0, n_chips, chunk_size):
            idx = np.arange(start, start + chunk_size) % n_chips  # the last chunk repeats chips
            launched = (start, min(chunk_size, n_chips - start), run(chip_keys(key, idx)))
            # While this chunk runs (JAX dispatches asynchronously), bring the previous one home.
            if pending is not None:
                collect(*pending)
            pending = launched
        collect(*pending)
    finally:
        if bar is not None:
            bar.close()
    return results
