"""Argument checks shared by every constructor: clear errors naming the argument.

Checks run on concrete values only. Inside ``jit``/``vmap`` a parameter may be a tracer; its
value is unknown there, so it is passed through unchecked (it was checked when the model was
first built from concrete numbers).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np


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
