"""The time loop: one ``lax.scan`` that every model runs through."""

from __future__ import annotations

from typing import Callable, Optional, Union

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import PyTree

__all__ = ["simulate", "state_fields"]


def state_fields(state) -> dict:
    """Every field of a state module as a ``{name: value}`` dict (what ``record=True`` keeps)."""
    if isinstance(state, eqx.Module):
        return {f: getattr(state, f) for f in state.__dataclass_fields__ if getattr(state, f) is not None}
    if isinstance(state, dict):
        return dict(state)
    raise TypeError(f"cannot list the fields of a state of type {type(state).__name__}")


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
    record: Union[None, bool, Callable[[PyTree, PyTree], PyTree]] = None,
    checkpoint_every: Optional[int] = None,
    unroll: int = 1,
) -> tuple[PyTree, PyTree, PyTree]:
    r"""Run ``step`` over the leading (time) axis of ``xs``.

    For $t = 0, \dots, T-1$: $(s_{t+1}, y_t) = \text{step}(s_t, x_t)$.

    **Arguments:**

    - ``step``: ``(state, x_t) -> (state, y_t)``, a pure function of one time step.
    - ``state0``: the state before the first step (any PyTree).
    - ``xs``: a PyTree of arrays sharing the leading axis ``T``.
    - ``record``: what to keep from every step: ``None``/``False`` (nothing), ``True`` (the
      whole state) or ``fn(state_after_step, y_t) -> PyTree`` (Diffrax ``SaveAt(fn=...)``
      style). Memory is proportional to what ``fn`` returns.
    - ``checkpoint_every``: if given, the loop runs as an outer scan over chunks of this many
      steps, each chunk under ``jax.checkpoint``: the backward pass stores one state per chunk
      and recomputes the chunk, trading about one extra forward pass for memory
      $O(T/k + k)$ instead of $O(T)$. A remainder of ``T mod k`` steps runs unchunked.
    - ``unroll``: passed to ``lax.scan``.

    **Returns:** ``(ys, final_state, recorded)``, ``ys`` and ``recorded`` with a leading ``T``
    axis (``recorded`` is ``None`` when nothing is recorded).
    """
    n_steps = _n_steps(xs)
    if record is True:
        record_fn = lambda state, y: state  # noqa: E731
    elif record is None or record is False:
        record_fn = None
    elif callable(record):
        record_fn = record
    else:
        raise TypeError(f"`record` must be None, a bool or a function (state, y) -> PyTree, got {record!r}")

    def body(state, x):
        state, y = step(state, x)
        return state, (y, None if record_fn is None else record_fn(state, y))

    if checkpoint_every is None or checkpoint_every >= n_steps:
        final, (ys, rec) = lax.scan(body, state0, xs, unroll=unroll)
        return ys, final, rec

    k = int(checkpoint_every)
    if k < 1:
        raise ValueError(f"`checkpoint_every` must be a positive number of steps, got {checkpoint_every!r}")
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
