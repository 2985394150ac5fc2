"""The time loop: one ``lax.scan`` that every model runs through, and the one record builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import PyTree

from ._adjoint import AbstractAdjoint, DirectAdjoint

__all__ = ["record_function", "simulate", "state_fields"]


def state_fields(state) -> dict:
    """Every field of a state module as a ``{name: value}`` dict (what ``record=True`` keeps).

    Fields that are ``None`` (an absent optional variable) are left out.
    """
    if isinstance(state, eqx.Module):
        return {f: getattr(state, f) for f in state.__dataclass_fields__ if getattr(state, f) is not None}
    if isinstance(state, dict):
        return dict(state)
    raise TypeError(f"cannot list the fields of a state of type {type(state).__name__}")


def record_function(
    record, observe: Optional[Callable[[Any, Any], dict]] = None
) -> Optional[Callable[[Any, Any], PyTree]]:
    """Turn a ``record=`` argument into ``fn(state, y) -> PyTree`` (or ``None``: nothing kept).

    - ``False`` / ``None``: nothing.
    - ``True``: a state module's fields by name (:func:`state_fields`), plus what
      ``observe(state, y)`` derives (e.g. a voltage computed from a current); a state that is
      not a module or a dict is kept whole.
    - a function ``fn(state, y)``: what it returns (Diffrax ``SaveAt(fn=...)`` style).
    """
    if record is True:
        def keep_all(state, y):
            if not isinstance(state, (eqx.Module, dict)):
                return state
            fields = state_fields(state)
            return fields if observe is None else {**fields, **observe(state, y)}

        return keep_all
    if record is False or record is None:
        return None
    if callable(record):
        return record
    raise TypeError(f"`record` must be True, False or a function (state, output) -> PyTree, got {record!r}")


def _n_steps(xs) -> int:
    leaves = jax.tree.leaves(xs)
    if not leaves:
        raise ValueError("`xs` has no arrays: simulate needs a (T, ...) input to know T")
    lengths = {jnp.shape(leaf)[0] if jnp.ndim(leaf) else None for leaf in leaves}
    if len(lengths) != 1 or None in lengths:
        raise ValueError(
            "every array in `xs` must share the leading time axis T, got leading sizes "
            f"{sorted(str(n) for n in lengths)}"
        )
    return lengths.pop()


def simulate(
    step: Callable[[PyTree, PyTree], tuple[PyTree, PyTree]],
    state0: PyTree,
    xs: PyTree,
    *,
    record=None,
    adjoint: Optional[AbstractAdjoint] = None,
    checkpoint_every: Optional[int] = None,
    unroll: int = 1,
) -> tuple[PyTree, PyTree, PyTree]:
    r"""Run ``step`` over the leading (time) axis of ``xs``.

    For $t = 0, \dots, T-1$: $(s_{t+1}, y_t) = \text{step}(s_t, x_t)$.

    **Arguments:**

    - ``step``: ``(state, x_t) -> (state, y_t)``, a pure function of one time step.
    - ``state0``: the state before the first step (any PyTree).
    - ``xs``: a PyTree of arrays sharing the leading axis ``T``.
    - ``record``: what to keep from every step: ``None``/``False`` (nothing), ``True`` (a state
      module's fields as a dict, leaving out ``None`` fields; any other state whole) or
      ``fn(state_after_step, y_t) -> PyTree`` (see :func:`record_function`).
      Memory is proportional to what is kept.
    - ``adjoint``: how reverse mode gets each step's intermediates (:mod:`spikax._adjoint`);
      :class:`spikax.DirectAdjoint` by default.
    - ``checkpoint_every``: if given (here or as the adjoint's ``checkpoint_every``, which
      is how a model call reaches it), the loop runs as an outer scan over chunks of this many
      steps, each chunk under ``jax.checkpoint``: the backward pass stores one state per chunk
      and recomputes the chunk, trading about one extra forward pass for memory
      $O(T/k + k)$ instead of $O(T)$. A remainder of ``T mod k`` steps runs unchunked.
    - ``unroll``: passed to ``lax.scan``.

    **Returns:** ``(ys, final_state, recorded)``, ``ys`` and ``recorded`` with a leading ``T``
    axis (``recorded`` is ``None`` when nothing is recorded).
    """
    n_steps = _n_steps(xs)
    record_fn = record_function(record)
    adjoint = DirectAdjoint() if adjoint is None else adjoint
    if not isinstance(adjoint, AbstractAdjoint):
        raise TypeError(
            "`adjoint` must be a spikax adjoint (DirectAdjoint(), RecomputeAdjoint(), ReplayAdjoint()), "
            f"got {adjoint!r}"
        )
    wrapped = adjoint.wrap(step)
    if checkpoint_every is None:
        checkpoint_every = adjoint.checkpoint_every

    def body(state, x):
        state, y = wrapped(state, x)
        return state, (y, None if record_fn is None else record_fn(state, y))

    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or int(checkpoint_every) < 1):
        raise ValueError(f"`checkpoint_every` must be a positive number of steps, got {checkpoint_every!r}")
    if checkpoint_every is None or checkpoint_every >= n_steps:
        final, (ys, rec) = lax.scan(body, state0, xs, unroll=unroll)
        return ys, final, rec

    k = int(checkpoint_every)
    n_chunks, head = n_steps // k, (n_steps // k) * k

    @jax.checkpoint
    def chunk(state, x_chunk):
        return lax.scan(body, state, x_chunk, unroll=unroll)

    chunks = jax.tree.map(lambda a: a[:head].reshape(n_chunks, k, *a.shape[1:]), xs)
    final, out = lax.scan(chunk, state0, chunks)
    out = jax.tree.map(lambda a: a.reshape(head, *a.shape[2:]), out)
    if head < n_steps:
        tail = jax.tree.map(lambda a: a[head:], xs)
        final, out_tail = lax.scan(body, final, tail, unroll=unroll)
        out = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, out_tail)
    ys, rec = out
    return ys, final, rec
