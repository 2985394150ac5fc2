"""Argument checks shared by every constructor: clear errors naming the argument.

Checks of values run on concrete values (:func:`check_finite` names the argument and the first
bad index). Inside ``jit``/``vmap``/``grad`` a value is a tracer and unknown at trace time;
there a model checks its final state and its parameters at run time with ``eqx.error_if``
(:func:`check_final_state`), once per call, after the time loop. Every failure ends there (a
non-finite input or parameter, or an unstable step: NaN is absorbing in every state, and the
spike of a NaN membrane is NaN too, so it also shows in the output from the step it entered),
and these are the smallest arrays that hold it: reductions over ``(n,)``. Checking the input
instead cost 15-40 % of a forward call, checking the ``(T, n)`` output 8-10 % of the LIF
benchmark's forward+backward, and attaching the check to the parameters ~10 % of a DynapSim
call. :func:`set_runtime_checks` turns the run-time check off (``SPIKAX_RUNTIME_CHECKS=0`` in
the environment does the same at import); the NaN then still shows in the output.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

_RUNTIME_CHECKS = os.environ.get("SPIKAX_RUNTIME_CHECKS", "1").strip().lower() not in ("0", "false", "no", "off")


def set_runtime_checks(enabled: bool) -> bool:
    """Turn the run-time finiteness checks inside ``jit`` on or off; returns the previous setting.

    With checks on (the default), a model or layer called under ``jax.jit`` (or ``vmap``,
    ``grad``) raises at run time when its state became NaN or inf (from a non-finite input
    or parameter, or an unstable step), instead of handing NaN on silently. The check is one
    reduction over the final state per call, after the time loop; turn it off when that matters
    (it is read when a function is traced, so re-trace after changing it). With it off the
    NaN still shows in the output. Checks of concrete values (eager calls, construction)
    always run: they cost nothing inside compiled code.
    """
    global _RUNTIME_CHECKS
    previous, _RUNTIME_CHECKS = _RUNTIME_CHECKS, bool(enabled)
    return previous


def _first_bad(a: np.ndarray) -> str:
    idx = np.argwhere(~np.isfinite(a))
    where = "" if a.ndim == 0 else f" at index {tuple(int(i) for i in idx[0])}"
    return f"{int(idx.shape[0])} non-finite value(s), the first {float(a[tuple(idx[0])])}{where}"


def check_finite(name: str, tree) -> None:
    """``tree`` (an array or a PyTree of arrays) must hold only finite numbers, where concrete.

    A concrete leaf with NaN or inf is a ``ValueError`` naming ``name`` (with the leaf's path),
    the count and the first bad index. Traced leaves are left to :func:`check_final_state`.
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact) and is_concrete(leaf):
            a = np.asarray(leaf)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"`{name}{jax.tree_util.keystr(path)}` must be finite, got {_first_bad(a)}")


def check_final_state(what: str, state, ys=None, params=None):
    """A model's final ``state`` (a PyTree), checked to be finite; returns it.

    NaN is absorbing in every model's state (a NaN membrane stays NaN through its reset, and
    the spike it emits is NaN too), so a non-finite input, parameter or unstable step anywhere
    in the run leaves the final state non-finite. Checking it is one reduction over ``(n,)``
    per call: unlike a check of the ``(T, n)`` output, it costs nothing measurable and keeps no
    buffer for the backward pass. Concrete (an eager call whose inputs and parameters were
    finite): a ``ValueError`` saying the dynamics became unstable. Traced: an ``eqx.error_if``
    raising when the compiled code runs, unless :func:`set_runtime_checks` turned it off.

    With ``ys`` (the run's output, any PyTree) given, returns ``(state, ys)`` with the check
    attached to both, so that it stays in the program when only one of them is used (an unused
    check is dead code). ``params``: traced parameters are checked in the same reduction (a NaN
    threshold silences its neurons without making the state NaN).
    """
    out = state if ys is None else (state, ys)
    leaves = [leaf for leaf in jax.tree.leaves(state) if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]
    if not leaves:
        return out
    if all(is_concrete(leaf) for leaf in leaves):
        for leaf in leaves:
            a = np.asarray(leaf)
            if not np.all(np.isfinite(a)):
                raise ValueError(
                    f"{what} ended in a non-finite state from finite inputs and parameters ({_first_bad(a)}): "
                    "an unstable step; reduce dt"
                )
        return out
    if not _RUNTIME_CHECKS:
        return out
    checked = leaves + [leaf for leaf in jax.tree.leaves(params) if _inexact(leaf) and not is_concrete(leaf)]
    bad = jnp.logical_not(jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in checked])))
    # The error is raised from a scalar zero that is then added to every float leaf: adding it
    # fuses into whatever reads the arrays, while an error_if on the (T, n) output itself made
    # the backward pass keep an extra copy of it (+15 MiB, ~8 % in the LIF benchmark).
    zero = eqx.error_if(
        jnp.zeros((), leaves[0].dtype), bad,
        f"{what}: the state or the parameters became NaN or inf (a non-finite input or parameter, or an "
        "unstable step) "
        "(spikax.set_runtime_checks(False) turns this check off)",
    )
    return jax.tree.map(lambda a: a + zero.astype(a.dtype) if jnp.issubdtype(a.dtype, jnp.inexact) else a, out)


def _inexact(leaf) -> bool:
    return jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)


def is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def _describe(a: np.ndarray) -> str:
    if a.size == 1:
        return repr(a.reshape(()).item())
    return f"array of shape {a.shape} (min {np.nanmin(a):.4g}, max {np.nanmax(a):.4g})"


def as_param(
    name: str,
    value,
    *,
    shape: Optional[Sequence[int]] = None,
    positive: bool = False,
    nonnegative: bool = False,
    dtype=None,
):
    """``value`` as a float array, checked and broadcast to ``shape``.

    Raises ``ValueError`` naming ``name`` on NaN/inf, sign violations or shapes that do not
    broadcast.
    """
    dtype = dtype or jnp.result_type(float)
    if is_concrete(value):
        a = np.asarray(value)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"`{name}` must be a number or an array of numbers, got {value!r}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError(f"`{name}` must be finite, got {_describe(a)} (contains NaN or inf)")
        if positive and not np.all(a > 0):
            raise ValueError(f"`{name}` must be > 0, got {_describe(a)}")
        if nonnegative and not np.all(a >= 0):
            raise ValueError(f"`{name}` must be >= 0, got {_describe(a)}")
    out = jnp.asarray(value, dtype=dtype)
    if shape is not None:
        shape = tuple(shape)
        try:
            out = jnp.broadcast_to(out, shape)
        except ValueError:
            raise ValueError(
                f"`{name}` must be a scalar or broadcast to shape {shape}, got shape {out.shape}"
            ) from None
    return out


def check_count(name: str, value) -> int:
    """``value`` as a positive Python ``int`` (a size: neurons, synapses)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    return int(value)


def check_max_spikes(value) -> float:
    """``max_spikes_per_dt`` as a Python float >= 1 (events per step: 0 would silence every neuron)."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"`max_spikes_per_dt` must be a number >= 1 (events per step), got {value!r}") from None
    if not f >= 1:  # also catches NaN
        raise ValueError(f"`max_spikes_per_dt` must be >= 1 (events per step), got {value!r}")
    return f


def check_choice(name: str, value, choices: Iterable) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}, got {value!r}")


def check_dt(dt) -> float:
    """``dt`` as a positive Python float (it is static configuration, not a parameter)."""
    try:
        f = float(dt)
    except (TypeError, ValueError):
        raise TypeError(f"`dt` must be a positive number (seconds), got {dt!r}") from None
    if not np.isfinite(f) or f <= 0:
        raise ValueError(f"`dt` must be a positive, finite number of seconds, got {dt!r}")
    return f


def check_time_constant(name: str, tau, dt: float, *, euler: bool) -> None:
    """Compare a (concrete) time constant with the step.

    Forward Euler (``euler=True``) overshoots its fixed point when ``dt > tau`` and diverges
    beyond ``2 tau``: that is an error. An exactly integrated decay stays stable but resolves
    nothing faster than ``dt``: a ``UserWarning``.
    """
    if not is_concrete(tau):
        return
    t = float(np.min(np.asarray(tau)))
    if t >= dt:
        return
    msg = f"`dt` = {dt:g} s is larger than the time constant `{name}` = {t:g} s"
    if euler:
        raise ValueError(msg + ": forward Euler overshoots (and diverges for dt > 2 tau); reduce dt")
    warnings.warn(msg + ": dynamics faster than one step are not resolved", UserWarning, stacklevel=3)


def check_input(name: str, xs, expected_tail: Sequence[int], *, what: str = "") -> None:
    """``xs`` must be ``(T, *expected_tail)`` with ``T >= 1``."""
    shape = tuple(jnp.shape(xs))
    tail = tuple(expected_tail)
    if len(shape) != 1 + len(tail) or shape[1:] != tail:
        hint = f" ({what})" if what else ""
        expected = "(T, " + ", ".join(map(str, tail)) + ")" if tail else "(T,)"
        raise ValueError(
            f"`{name}` must have shape {expected}{hint} for one sample "
            f"(batch with jax.vmap), got shape {shape}"
        )
    if shape[0] < 1:
        raise ValueError(f"`{name}` must have at least one time step, got shape {shape}")
