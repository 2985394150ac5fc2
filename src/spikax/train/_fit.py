r"""The fit loop: mini-batches, a compiled step, evaluation, metrics, early stopping, resume.

One epoch: the training set is shuffled by a permutation drawn from ``fold_in(key, epoch)``,
cut into ``len(data) // batch_size`` full batches (a partial last batch is dropped, so one
program is compiled), and each batch takes one optimiser step on the mean of the objective
over its samples (``jax.vmap`` of the unbatched model; batch ``b`` of epoch ``e`` draws its
keys from ``fold_in(split(fold_in(key, e), 3)[1], b)``). Everything random is a function of ``key``, the
epoch and the batch index, so a run resumed from a checkpoint continues bit for bit.

Which leaves train is a filter spec (:func:`default_filter` unless given): ``eqx.partition``
splits the model into the trained arrays and the rest, and the optimiser sees only the former.
A model may hold reparameterised leaves (:mod:`spikax.train._reparam`); the objective always
receives :func:`~spikax.train.unwrap`\ ped (physical) parameters.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PRNGKeyArray, PyTree

from ._reparam import is_reparam, unwrap

__all__ = ["EarlyStopping", "FitResult", "Run", "default_filter", "evaluate", "fit", "load_run", "save_run"]

def default_filter(model: PyTree) -> PyTree:
    """The per-model default of what trains: a PyTree of bools shaped like ``model``.

    Trained: the ``weight`` and ``bias`` of :class:`spikax.Linear` and
    :class:`~spikax.devices.dynapse.DynapseLinear`, ``Recurrent.w_rec``, the time-constant
    pre-activation ``w`` of :class:`spikax.PLIF` (it exists to be trained), and every array
    inside a reparameterisation wrapper (wrapping a parameter is how one asks for it to train,
    e.g. DYNAP-SE2 bias currents through :func:`spikax.train.chip_trainable`). Fixed: neuron
    parameters (time constants, thresholds, bias currents), surrogate shapes, everything else.
    """
    from ..devices.dynapse import DynapseLinear
    from ..layers import Linear, Recurrent
    from ..neurons._lifnode import PLIFParams

    def node(x):
        if is_reparam(x) or isinstance(x, (Linear, DynapseLinear)):
            return jax.tree.map(eqx.is_inexact_array, x)
        if isinstance(x, Recurrent):
            frozen = jax.tree.map(lambda _: False, x)
            trained = (default_filter(x.cell), jax.tree.map(eqx.is_inexact_array, x.w_rec))
            return eqx.tree_at(lambda r: (r.cell, r.w_rec), frozen, trained)
        if isinstance(x, PLIFParams):
            return eqx.tree_at(lambda p: p.w, jax.tree.map(lambda _: False, x), eqx.is_inexact_array(x.w))
        return False

    return jax.tree.map(
        node, model, is_leaf=lambda x: is_reparam(x) or isinstance(x, (Linear, DynapseLinear, Recurrent, PLIFParams))
    )


class EarlyStopping(eqx.Module):
    """Stop when ``monitor`` (a metric of the evaluation data, e.g. ``"eval_loss"``) has not
    improved by more than ``min_delta`` for ``patience`` epochs; ``mode`` ``"min"`` or ``"max"``
    (default: max for accuracies, min otherwise). With ``restore_best`` the result is the model
    of the best epoch."""

    patience: int = 5
    monitor: str = "eval_loss"
    mode: Optional[str] = None
    min_delta: float = 0.0
    restore_best: bool = True

    def __check_init__(self):
        if not (isinstance(self.patience, int) and self.patience >= 1):
            raise ValueError(f"EarlyStopping `patience` must be an integer >= 1 epochs, got {self.patience!r}")
        if self.mode not in (None, "min", "max"):
            raise ValueError(f"EarlyStopping `mode` must be 'min' or 'max', got {self.mode!r}")

    def sign(self) -> float:
        mode = self.mode or ("max" if "accuracy" in self.monitor else "min")
        return 1.0 if mode == "max" else -1.0


class Run(eqx.Module):
    """Everything a training run needs to continue: what a run checkpoint holds.

    ``model`` (trainable form, reparameterisations included), ``opt_state``, the run's ``key``,
    the number of finished ``epoch``\\ s, ``history`` (one metrics dict per epoch), for early
    stopping the best model so far with its score and epoch, and whether it ``stopped`` early
    (a resumed run that stopped early stays stopped).
    """

    # Plain annotations (Any): a template for loading holds ``...`` in the counters.
    model: Any
    opt_state: Any
    key: Any
    epoch: Any
    history: Any
    best_model: Any
    best_score: Any
    best_epoch: Any
    stopped: Any


class FitResult(eqx.Module):
    """What :func:`fit` returns: the trained ``model`` (trainable form; :func:`unwrap` gives the
    physical one), the per-epoch ``history`` and the final :class:`Run`."""

    model: PyTree
    history: list
    run: Run

    @property
    def physical(self) -> PyTree:
        """The trained model with every reparameterisation resolved (what to save or deploy)."""
        return unwrap(self.model)


def save_run(path: Union[str, Path], run: Run, *, metadata: Optional[dict] = None) -> Path:
    """Write a training run (model, optimiser state, key, epoch, metrics) to ``path``, atomically
    (:func:`spikax.train.save`; an interrupted write leaves any earlier file as it was)."""
    from ._checkpoint import save

    if not isinstance(run, Run):
        raise TypeError(f"`run` must be a spikax.train.Run, got {type(run).__name__}")
    return save(path, run, kind="run", metadata=metadata)


def load_run(path: Union[str, Path], *, like: Optional[Run] = None) -> tuple[Run, dict]:
    """Read a run written by :func:`save_run`: ``(run, metadata)``. With ``like`` (a run of the
    same model and optimiser), a file of another model or optimiser is refused, naming the first
    difference."""
    from ._checkpoint import load

    return load(path, kind="run", like=like)


# --------------------------------------------------------------------------- data


def _n_samples(data, name: str) -> int:
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise TypeError(f"`{name}` must be a pair (inputs, labels), got {type(data).__name__}")
    xs, ys = data
    leaves = jax.tree.leaves(xs)
    if not leaves:
        raise ValueError(f"`{name}` inputs hold no arrays")
    ns = {np.shape(a)[0] if np.ndim(a) else None for a in leaves} | {np.shape(ys)[0] if np.ndim(ys) else None}
    if len(ns) != 1 or None in ns:
        raise ValueError(
            f"`{name}` inputs and labels must share the leading sample axis, got sizes {sorted(map(str, ns))}"
        )
    from ..distributed import gather

    for a in leaves:
        if isinstance(a, jax.Array) and not a.is_fully_addressable:
            continue  # spread over several processes already: each checks nothing it cannot see
        arr = np.asarray(a)
        if np.issubdtype(arr.dtype, np.inexact) and not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or inf")
    labels = gather(ys)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min(initial=0) < 0:
        raise ValueError(
            f"`{name}` labels must be a 1-D array of class indices >= 0 (integers), got {labels.dtype} of shape "
            f"{labels.shape}" + (f" with minimum {labels.min()}" if labels.size and labels.ndim == 1 else "")
        )
    return ns.pop()


def _config_text(obj) -> str:
    """A description of ``obj`` that is the same in every process: its tree structure and static
    values (function addresses removed) and a hash of every array in it."""
    import hashlib
    import re

    leaves, treedef = jax.tree.flatten(obj)
    digest = hashlib.sha256()
    texts = []
    for leaf in leaves:
        if eqx.is_array(leaf) or isinstance(leaf, np.ndarray):
            a = np.asarray(leaf)
            digest.update(str((a.dtype, a.shape)).encode() + a.tobytes())
        else:
            texts.append(getattr(leaf, "__qualname__", None) or repr(leaf))
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", f"{treedef} {texts}")
    return f"{text} arrays={digest.hexdigest()[:16]}"


def _device(data):
    return jax.tree.map(jnp.asarray, data)


def _resident(data, mesh):
    """Where a data set lives during a run: on the device itself when the mesh is one local
    device (each batch is then gathered there, nothing moves from the host), otherwise on the
    host, once (each batch is cut there and each device receives only its share: host devices
    share one memory, and a copy per device would multiply it)."""
    from ..distributed import gather, replicate

    if mesh.size == 1 and mesh.devices.flat[0].process_index == jax.process_index():
        return replicate(_device(data), mesh)
    return gather(data)


def _batch(data, idx, mesh):
    """Samples ``idx`` of ``data``, split over the mesh along the batch axis."""
    from ..distributed import shard_batch

    return shard_batch(_take(data, np.asarray(idx)), mesh)


def _take(data, idx):
    return jax.tree.map(lambda a: a[idx], data)


# --------------------------------------------------------------------------- steps


def _batch_objective(objective, per_sample: bool = False):
    """One device's share of the batch mean of the objective, one perturbation draw (e.g. one
    chip) per batch.

    Returns ``sum_i w_i loss_i / total`` over the samples given (and the same for each metric);
    summed over the devices (``psum``) it is the weighted mean over the whole batch. ``perturb``
    is an argument of the compiled programs, not a constant in them: a
    :class:`spikax.train.ChipMismatch` holds its percentage as an array, so evaluating at
    another percentage reuses the program.
    """

    def run(diff, static, xs, ys, k_perturb, keys, p_keys, weights, total, perturb):
        model = unwrap(eqx.combine(diff, static))
        if perturb is not None and not per_sample:
            model = perturb(model, key=k_perturb)

        def one(x, y, k, kp):
            m = perturb(model, key=kp) if perturb is not None and per_sample else model
            return objective(m, x, y, key=k)

        losses, metrics = jax.vmap(one)(xs, ys, keys, p_keys)
        share = lambda v: jnp.sum(v * weights) / total
        return share(losses), jax.tree.map(share, metrics)

    return run


def _batch_inputs(xs, ys, k_perturb, k_samples, weights, n_keys=None):
    """The batch's samples and per-sample keys.

    The keys are ``split(k_samples, n_keys)`` (default: the batch size), repeated cyclically
    over padding up to the batch's length: a batch padded to a multiple of the device count
    draws the same keys for its real samples as the unpadded one.
    """
    n = ys.shape[0]
    n_keys = n if n_keys is None else n_keys
    repeat = jnp.arange(n) % n_keys
    keys = jax.random.split(k_samples, n_keys)[repeat]
    p_keys = jax.random.split(k_perturb, n_keys)[repeat]
    return (xs, ys, keys, p_keys, weights)


def _make_train_step(objective, optimiser, per_sample: bool = False, mesh=None):
    from ..distributed import data_parallel

    batch = _batch_objective(objective, per_sample)

    def local(replicated, samples):
        diff, static, k_perturb, perturb, total = replicated
        xs, ys, keys, p_keys, weights = samples
        # Each device differentiates its share; the psum of data_parallel is the gradients'
        # one all-reduce per step.
        (loss, metrics), grads = jax.value_and_grad(batch, has_aux=True)(
            diff, static, xs, ys, k_perturb, keys, p_keys, weights, total, perturb
        )
        return loss, metrics, grads

    parallel = data_parallel(local, mesh)

    @eqx.filter_jit
    def step(diff, static, opt_state, xs, ys, k_perturb, k_samples, perturb):
        weights = jnp.ones(ys.shape, jnp.float32)
        samples = _batch_inputs(xs, ys, k_perturb, k_samples, weights)
        loss, metrics, grads = parallel((diff, static, k_perturb, perturb, jnp.sum(weights)), samples)
        updates, opt_state = optimiser.update(grads, opt_state, diff)
        # The objective's own metrics, and always the loss the step minimised.
        return eqx.apply_updates(diff, updates), opt_state, {**metrics, "loss": loss}

    return step


#: Evaluation programs by objective and mesh (the objective kept alive, so its id stays its
#: own): a model evaluated again with the same objective reuses the compiled program.
_EVAL_STEPS: dict = {}


def _make_eval_step(objective, mesh):
    cached = _EVAL_STEPS.get((id(objective), mesh))
    if cached is not None and cached[0] is objective:
        return cached[1]
    step = _new_eval_step(objective, mesh)
    if len(_EVAL_STEPS) >= 8:
        _EVAL_STEPS.pop(next(iter(_EVAL_STEPS)))
    _EVAL_STEPS[(id(objective), mesh)] = (objective, step)
    return step


def _new_eval_step(objective, mesh):
    from ..distributed import data_parallel

    batch = _batch_objective(objective)

    def local(replicated, samples):
        diff, static, k_perturb, perturb, total = replicated
        xs, ys, keys, p_keys, weights = samples
        return batch(diff, static, xs, ys, k_perturb, keys, p_keys, weights, total, perturb)

    parallel = data_parallel(local, mesh)

    @eqx.filter_jit
    def step(diff, static, xs, ys, weights, k_perturb, k_samples, perturb, n_keys):
        samples = _batch_inputs(xs, ys, k_perturb, k_samples, weights, n_keys)
        loss, metrics = parallel((diff, static, k_perturb, perturb, jnp.sum(weights)), samples)
        return {**metrics, "loss": loss}

    return step


def evaluate(
    model: PyTree,
    data: tuple,
    *,
    objective: Callable,
    batch_size: int = 128,
    key: Optional[PRNGKeyArray],
    perturb: Optional[Callable] = None,
    devices=None,
    _step=None,
) -> dict:
    """Mean metrics of ``objective`` over every sample of ``data`` ``(inputs, labels)``.

    Runs in batches of ``batch_size`` samples (the last one padded, its padding weighted 0, so
    one program serves any data size), each padded the same way to a multiple of the device
    count and split over ``devices`` (as for :func:`spikax.distributed.batch_mesh`; default:
    every device): the same batches, keys and result on any device count.
    ``perturb(model, key=key)`` (e.g. :class:`spikax.train.ChipMismatch`) is drawn once from
    ``key`` for the whole data set: one chip evaluated on every sample.
    """
    from ..distributed import batch_mesh, replicate

    n = _n_samples(data, "data")
    _check_positive_int("batch_size", batch_size)
    if key is None:
        raise ValueError("`key` is required: it decides every random draw of the evaluation (jax.random.key(seed))")
    mesh = batch_mesh(devices)
    d = mesh.size
    data = _resident(data, mesh)
    diff, static = replicate(eqx.partition(model, eqx.is_array), mesh)
    perturb = replicate(perturb, mesh)
    step = _make_eval_step(objective, mesh) if _step is None else _step
    n_keys = min(batch_size, n)
    # Batches of n_keys samples (as on one device), each padded to a multiple of the device
    # count with repeated samples weighted 0: the same batches, keys and result on any count.
    bs = -(-n_keys // d) * d
    k_perturb, k_eval = jax.random.split(key)
    sums, count = None, 0
    for start in range(0, n, n_keys):
        real = min(n_keys, n - start)
        idx = (start + np.arange(bs)) % n
        weights = (np.arange(bs) < real).astype(np.float32)
        # The perturbation key is the same for every batch: one chip for the whole set.
        args = replicate((jnp.asarray(weights), k_perturb, jax.random.fold_in(k_eval, start)), mesh)
        m = step(diff, static, *_batch(data, idx, mesh), *args, perturb, n_keys)
        m = {k: float(v) * real for k, v in m.items()}
        sums = m if sums is None else {k: sums[k] + m[k] for k in sums}
        count += real
    return {k: v / count for k, v in sums.items()}


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- the loop


def _progress(total: int, enabled: bool, initial: int = 0):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="batch", dynamic_ncols=True, file=sys.stderr)


def _write_lines(path: Path, history: list) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(h) + "\n" for h in history))
    os.replace(tmp, path)


def fit(
    model: PyTree,
    train_data: tuple,
    *,
    objective: Callable,
    optimiser,
    epochs: int,
    batch_size: int,
    key: Optional[PRNGKeyArray],
    eval_data: Optional[tuple] = None,
    filter_spec: Optional[PyTree] = None,
    perturb: Optional[Callable] = None,
    early_stopping: Optional[EarlyStopping] = None,
    metrics_path: Optional[Union[str, Path]] = None,
    checkpoint_path: Optional[Union[str, Path]] = None,
    resume: bool = False,
    progress: bool = True,
    eval_batch_size: int = 128,
    on_epoch: Optional[Callable[[dict], Any]] = None,
    config: Optional[dict] = None,
    perturb_each: str = "batch",
    devices=None,
) -> FitResult:
    """Train ``model`` on ``train_data`` with an optax ``optimiser``.

    **Arguments:**

    - ``model``: a spikax model (unbatched), possibly holding reparameterised leaves.
    - ``train_data``, ``eval_data``: ``(inputs, labels)``, inputs a ``(N, T, ...)`` array (or
      PyTree of them), labels ``(N,)`` integers.
    - ``objective``: ``objective(model, x, label, key=key) -> (loss, metrics)`` for one
      sample, e.g. :class:`spikax.train.Classification`.
    - ``optimiser``: an ``optax.GradientTransformation``, e.g. ``optax.adam(1e-3)``.
    - ``epochs``, ``batch_size``: passes over the data and samples per step.
    - ``key``: decides shuffling, noise, perturbations, all of it.
    - ``filter_spec``: which leaves train (a PyTree of bools); :func:`default_filter` by default.
    - ``perturb``: ``perturb(model, *, key) -> model`` applied to the physical model once per batch,
      e.g. :class:`spikax.train.ChipMismatch` for a freshly drawn chip each batch;
      ``perturb_each="sample"`` draws one per sample instead (a chip per sample: the gradient
      averages over ``batch_size`` chips, at the cost of per-sample parameters in the step).
    - ``early_stopping``: an :class:`EarlyStopping` (needs ``eval_data``).
    - ``metrics_path``: a JSON-lines file, one line of metrics per epoch (rewritten on resume to
      match the checkpoint).
    - ``checkpoint_path``: a run checkpoint (:func:`spikax.train.save_run`) written after every
      epoch; with ``resume=True`` an existing one is continued (an error if it belongs to another
      model or another configuration; it is never overwritten before it has been read).
    - ``progress``: a tqdm bar with epoch, loss and accuracy.
    - ``on_epoch``: called with each epoch's metrics dict.
    - ``devices``: the devices to train on, data-parallel (as for
      :func:`spikax.distributed.batch_mesh`; default: every device, e.g. one per core after
      :func:`spikax.distributed.cpu_devices`). Each device computes the loss and gradient of
      ``batch_size / devices`` samples and one all-reduce per step sums them, so the step (and
      the whole run, to float rounding) is the same on any device count; ``batch_size`` must
      divide by it. Checkpoints, metrics files and the bar are written by process 0 only.

    Each epoch's metrics: ``epoch``, ``train_<metric>`` (means over the epoch's batches),
    ``eval_<metric>``, ``time_s`` (the epoch, evaluation included), ``train_time_s`` (its
    training part), ``step_time_s`` (inside the compiled steps, waiting for their results) and
    ``step_share`` = step / train time (the rest is Python, shuffling and the progress bar).

    The process keeps freed memory for reuse from the first call on (glibc's ``mallopt``;
    DynapSim epochs 1.15-1.25x faster, at the price of keeping the peak memory): set
    ``SPIKAX_RETAIN_MEMORY=0`` before the call to leave the allocator alone.
    """
    import optax  # noqa: F401  (the optimiser is optax's; fail here, not inside jit)

    epochs = _check_positive_int("epochs", epochs) if epochs != 0 else 0
    batch_size = _check_positive_int("batch_size", batch_size)
    n = _n_samples(train_data, "train_data")
    if batch_size > n:
        raise ValueError(f"`batch_size` ({batch_size}) is larger than the training set ({n} samples)")
    if eval_data is not None:
        _n_samples(eval_data, "eval_data")
    if early_stopping is not None and eval_data is None and not early_stopping.monitor.startswith("train_"):
        raise ValueError("`early_stopping` monitors evaluation metrics: pass `eval_data` (or monitor a train_ metric)")
    if key is None:
        raise ValueError("`key` is required: it decides shuffling and every random draw (jax.random.key(seed))")
    from ..distributed import batch_mesh, replicate

    mesh = batch_mesh(devices)
    if batch_size % mesh.size:
        raise ValueError(
            f"`batch_size` ({batch_size}) must divide over the {mesh.size} devices the step is split over: use a "
            f"multiple of {mesh.size}, or pass devices= a count that divides it"
        )
    writer = jax.process_index() == 0
    spec = default_filter(model) if filter_spec is None else filter_spec
    diff, static = eqx.partition(model, spec)
    if not jax.tree.leaves(diff):
        raise ValueError("nothing to train: the filter spec selects no array of the model")

    # What a resumed run must share with the run that wrote the checkpoint. The optimiser's
    # hyperparameters live in closures and cannot be compared: callers pass them in `config`.
    run_config = {
        "batch_size": batch_size, "n_train": n, "key": np.asarray(jax.random.key_data(key)).tolist(),
        "objective": _config_text(objective), "perturb": _config_text(perturb), "filter": _config_text(spec),
        "perturb_each": perturb_each,
        **({} if config is None else {"user": config}),
    }
    try:
        json.dumps(run_config)
    except TypeError:
        raise ValueError(
            f"`config` must be JSON-serialisable (numbers, strings, lists, dicts), got {config!r}"
        ) from None
    config = run_config
    run = Run(
        model=model, opt_state=optimiser.init(diff), key=key, epoch=0, history=[],
        best_model=model, best_score=-math.inf, best_epoch=0, stopped=False,
    )
    checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
    if not resume and checkpoint_path is not None and checkpoint_path.exists():
        raise ValueError(
            f"`checkpoint_path` {checkpoint_path} holds a run already: pass resume=True to continue it, or remove it "
            "to start again (it is left as it is)"
        )
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        # The model, optimiser state and key must match; the counters and history are the file's
        # (``...`` matches anything).
        like = Run(model=run.model, opt_state=run.opt_state, key=run.key, epoch=..., history=...,
                   best_model=run.model, best_score=..., best_epoch=..., stopped=...)
        run, meta = load_run(checkpoint_path, like=like)
        saved = meta.get("config") or {}
        differ = [k for k in sorted(set(saved) | set(config)) if saved.get(k) != config.get(k)]
        if differ:
            name = differ[0]
            raise ValueError(
                f"the checkpoint {checkpoint_path} was written by another run: its `{name}` was "
                f"{saved.get(name)!r}, this run's is {config.get(name)!r} (resume with the same data, batch size, "
                "key, objective, perturbation and filter; the checkpoint is left as it is)"
            )
    metrics_path = None if metrics_path is None else Path(metrics_path)
    if metrics_path is not None and writer:
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        _write_lines(metrics_path, run.history)

    from .._validate import check_choice
    from ._memory import retain_freed_memory

    check_choice("perturb_each", perturb_each, ("batch", "sample"))
    # Training frees and reallocates large buffers every step: keep them (see _memory; off with
    # SPIKAX_RETAIN_MEMORY=0).
    retain_freed_memory()
    train_step = _make_train_step(objective, optimiser, perturb_each == "sample", mesh)
    eval_step = _make_eval_step(objective, mesh)
    # The parameters and optimiser state are on every device; each step's batch is cut from the
    # data set where it lives (_resident) and each device receives its share.
    data = _resident(train_data, mesh)
    eval_dev = None if eval_data is None else _resident(eval_data, mesh)
    n_batches = n // batch_size
    bar = _progress(max(epochs - run.epoch, 0) * n_batches, progress and writer)
    diff, static = replicate(eqx.partition(run.model, spec), mesh)
    opt_state = replicate(run.opt_state, mesh)
    perturb = replicate(perturb, mesh)
    try:
        for epoch in range(run.epoch, epochs if not run.stopped else run.epoch):
            t0 = time.perf_counter()
            k_order, k_batches, k_eval = jax.random.split(jax.random.fold_in(run.key, epoch), 3)
            order = np.asarray(jax.random.permutation(k_order, n))
            sums, t_step = {}, 0.0
            for b in range(n_batches):
                idx = order[b * batch_size : (b + 1) * batch_size]
                k_batch = jax.random.fold_in(k_batches, b)
                ts = time.perf_counter()
                k_perturb, k_samples = replicate(tuple(jax.random.split(k_batch)), mesh)
                diff, opt_state, m = train_step(diff, static, opt_state, *_batch(data, idx, mesh), k_perturb,
                                                k_samples, perturb)
                m = jax.block_until_ready(m)
                t_step += time.perf_counter() - ts
                for name, v in m.items():
                    sums[name] = sums.get(name, 0.0) + float(v)
                if not math.isfinite(float(m["loss"])):
                    raise ValueError(
                        f"the training loss is {float(m['loss'])} in epoch {epoch + 1}, batch {b + 1}: labels outside "
                        "the model's classes, a diverging learning rate or a non-finite parameter (the run is "
                        "stopped; its last checkpoint is the previous epoch's)"
                    )
                if bar is not None:
                    bar.set_description(f"epoch {epoch + 1}/{epochs}", refresh=False)
                    bar.set_postfix(loss=f"{sums['loss'] / (b + 1):.3f}",
                                    acc=f"{sums.get('accuracy', float('nan')) / (b + 1):.3f}", refresh=False)
                    bar.update(1)
            record = {"epoch": epoch + 1, **{f"train_{k}": v / n_batches for k, v in sums.items()}}
            current = eqx.combine(diff, static)
            t_train = time.perf_counter() - t0
            if eval_dev is not None:
                ev = evaluate(current, eval_dev, objective=objective, batch_size=eval_batch_size,
                              key=k_eval, devices=mesh, _step=eval_step)
                record.update({f"eval_{k}": v for k, v in ev.items()})
            record["time_s"] = time.perf_counter() - t0
            record["train_time_s"] = t_train
            record["step_time_s"] = t_step
            record["step_share"] = t_step / t_train
            best_model, best_score, best_epoch = run.best_model, run.best_score, run.best_epoch
            patience_out = False
            if early_stopping is not None:
                if early_stopping.monitor not in record:
                    raise ValueError(
                        f"`early_stopping.monitor` = {early_stopping.monitor!r} is not a metric; "
                        f"available: {sorted(record)}"
                    )
                score = early_stopping.sign() * record[early_stopping.monitor]
                if score > best_score + early_stopping.min_delta:
                    best_model, best_score, best_epoch = current, score, epoch + 1
                patience_out = epoch + 1 - best_epoch >= early_stopping.patience
            run = Run(
                model=current, opt_state=opt_state, key=run.key, epoch=epoch + 1, history=run.history + [record],
                best_model=best_model, best_score=float(best_score), best_epoch=best_epoch,
                stopped=patience_out,
            )
            if checkpoint_path is not None and writer:
                save_run(checkpoint_path, run, metadata={"config": config})
            if metrics_path is not None and writer:
                with metrics_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
            if bar is not None:
                acc = record.get("eval_accuracy", record.get("train_accuracy", float("nan")))
                bar.set_postfix(loss=f"{record['train_loss']:.3f}", acc=f"{acc:.3f}")
            if on_epoch is not None:
                on_epoch(record)
            if patience_out:
                break
    finally:
        if bar is not None:
            bar.close()
    if mesh.size > 1 and all(dev.process_index == jax.process_index() for dev in mesh.devices.flat):
        # Trained on several local devices: hand the result back on the default device, as a
        # model built here would be (a copy on every device would make every later call run
        # on all of them). With several processes it stays one replicated global array.
        run = _on_default_device(run)
    model_out = run.model
    if early_stopping is not None and early_stopping.restore_best and run.best_epoch > 0:
        model_out = run.best_model
    return FitResult(model=model_out, history=run.history, run=run)


def _on_default_device(tree):
    device = jax.devices()[0]
    return jax.tree.map(lambda a: jax.device_put(a, device) if isinstance(a, jax.Array) else a, tree)
