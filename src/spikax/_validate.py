"""Argument checks shared by every constructor: clear errors naming the argument.

Checks of values run on concrete values. Inside ``jit``/``vmap``/``grad`` a value is a tracer
and unknown at trace time; there, only finiteness is checked, at run time, with
``eqx.error_if`` (:func:`check_finite`), once per call and outside the time loop (one pass
over the input and the parameters). :func:`set_runtime_checks` turns those run-time checks
off for speed (``SPIKAX_RUNTIME_CHECKS=0`` in the environment does the same at import).
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

_RUNTIME_CHECKS = os.environ.get("SPIKAX_RUNTIME_CHECKS", "1") != "0"


def set_runtime_checks(enabled: bool) -> bool:
    """Turn the run-time finiteness checks inside ``jit`` on or off; returns the previous setting.

    With checks on (the default), a model or layer called under ``jax.jit`` (or ``vmap``,
    ``grad``) raises at run time when its input or its parameters contain NaN or inf, instead
    of silently producing neurons that never fire again. Each check is one reduction over the
    input and the parameters per call, outside the time loop; turn it off when that matters
    (it is read when a function is traced, so re-trace after changing it). Checks of concrete
    values (eager calls, construction) always run: they cost nothing inside compiled code.
    """
    global _RUNTIME_CHECKS
    previous, _RUNTIME_CHECKS = _RUNTIME_CHECKS, bool(enabled)
    return previous


def _first_bad(a: np.ndarray) -> str:
    idx = np.argwhere(~np.isfinite(a))
    where = "" if a.ndim == 0 else f" at index {tuple(int(i) for i in idx[0])}"
    return f"{int(idx.shape[0])} non-finite value(s), the first {float(a[tuple(idx[0])])}{where}"


def check_finite(name: str, tree):
    """``tree`` (an array or a PyTree of arrays), checked to hold only finite numbers.

    Concrete values: ``ValueError`` naming ``name``, the count and the first bad index. Traced
    values: an ``eqx.error_if`` on the returned tree (raises when the compiled code runs), unless
    :func:`set_runtime_checks` turned it off. Use the returned tree, so the check stays in the
    computation.
    """
    with_path, treedef = jax.tree_util.tree_flatten_with_path(tree)
    leaves = [leaf for _, leaf in with_path]
    traced = []
    for i, (path, leaf) in enumerate(with_path):
        if not jnp.issubdtype(jnp.result_type(leaf), jnp.inexact):
            continue
        if is_concrete(leaf):
            a = np.asarray(leaf)
            if not np.all(np.isfinite(a)):
                raise ValueError(f"`{name}{jax.tree_util.keystr(path)}` must be finite, got {_first_bad(a)}")
        else:
            traced.append(i)
    if traced and _RUNTIME_CHECKS:
        # One check for the whole tree (not one per leaf): a single reduction and a single
        # error branch keep the compiled program, and its compile time, small.
        bad = jnp.logical_not(jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaves[i])) for i in traced])))
        checked = eqx.error_if(
            [leaves[i] for i in traced], bad,
            f"`{name}` contains NaN or inf (spikax.set_runtime_checks(False) turns this check off)",
        )
        for i, leaf in zip(traced, checked):
            leaves[i] = leaf
    out = leaves
    return jax.tree.unflatten(treedef, out)


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
