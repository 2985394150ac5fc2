r"""Spike encoders and conversions between rasters and event lists.

A **raster** is ``(T, N)``: event counts per step and channel (0/1 for binary trains). An
**event list** is two 1-D arrays of equal length: ``times`` in seconds and ``channels`` (int).
The event of step $k$ has time $k\,dt$ (the start of its bin), so a round trip
raster → events → raster is exact for integer counts.
"""

from __future__ import annotations

import math
import os
from typing import NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from ._types import ParamLike
from ._validate import as_param, check_count, check_dt, is_concrete

__all__ = [
    "Events",
    "events_to_frames",
    "events_to_raster",
    "read_nmnist",
    "n_steps_for", "poisson", "raster_to_events", "rate", "regular", "sigma_delta"]


def n_steps_for(duration: float, dt: float) -> int:
    """Number of steps of ``dt`` in ``duration`` (both in s); they must divide to an integer."""
    dt = check_dt(dt)
    if not (isinstance(duration, (int, float)) and duration > 0 and math.isfinite(duration)):
        raise ValueError(f"`duration` must be a positive number of seconds, got {duration!r}")
    n = duration / dt
    if abs(n - round(n)) > 1e-6 * max(1.0, n):
        raise ValueError(f"`duration` = {duration} s is not a whole number of steps of dt = {dt} s")
    return int(round(n))


def _rates(rate, n_channels, name="rate"):
    r = as_param(name, rate, nonnegative=True)
    if r.ndim > 1:
        raise ValueError(f"`{name}` must be a scalar or one value per channel (N,), got shape {r.shape}")
    if n_channels is None:
        if r.ndim == 0:
            raise ValueError(f"give `n_channels` when `{name}` is a scalar")
        return r
    if not isinstance(n_channels, int) or n_channels < 1:
        raise ValueError(f"`n_channels` must be a positive integer, got {n_channels!r}")
    if r.ndim == 1 and r.shape[0] != n_channels:
        raise ValueError(f"`{name}` has {r.shape[0]} values but `n_channels` is {n_channels}")
    return jnp.broadcast_to(r, (n_channels,))


def poisson(
    rate: ParamLike,
    *,
    duration: float,
    dt: float = 1e-3,
    n_channels: Optional[int] = None,
    counts: bool = False,
    key: Optional[PRNGKeyArray],
) -> Float[Array, "T N"]:
    r"""Independent Poisson spike trains.

    - ``counts=False`` (default): a binary raster, each bin spiking with probability
      $p = \lambda\,dt$ (the usual Bernoulli approximation; mean rate exactly $\lambda$;
      requires $\lambda\,dt \le 1$).
    - ``counts=True``: event counts $\sim \mathrm{Poisson}(\lambda\,dt)$ per bin (an exact
      Poisson process binned at ``dt``).

    **Arguments:** ``rate`` $\lambda$ in Hz, scalar or ``(N,)``; ``duration`` and ``dt`` in s;
    ``n_channels`` $N$ (needed when ``rate`` is a scalar); ``key``.

    **Returns:** ``(T, N)`` float32, ``T = duration/dt``.
    """
    if key is None:
        raise ValueError("`key` is required (jax.random.key(seed))")
    dt = check_dt(dt)
    n_steps = n_steps_for(duration, dt)
    lam = _rates(rate, n_channels) * dt
    shape = (n_steps, lam.shape[0])
    if counts:
        return jax.random.poisson(key, lam, shape).astype(jnp.float32)
    if is_concrete(lam) and float(jnp.max(lam)) > 1.0:
        raise ValueError(
            f"`rate` * dt = {float(jnp.max(lam)):.3g} > 1: a binary train cannot carry it; "
            "use counts=True or a smaller dt"
        )
    return (jax.random.uniform(key, shape) < lam[None, :]).astype(jnp.float32)


def regular(
    rate: ParamLike, *, duration: float, dt: float = 1e-3, n_channels: Optional[int] = None, phase: ParamLike = 0.0
) -> Float[Array, "T N"]:
    r"""Deterministic, regularly spaced spikes at ``rate`` Hz (a rate code without noise).

    Channel $n$ has $\lfloor \lambda_n (k+1) dt + \phi_n \rfloor - \lfloor \lambda_n k\,dt + \phi_n\rfloor$
    events in step $k$: exactly $\lambda\,\cdot$ duration events in total (up to the phase), and
    several per step when $\lambda\,dt > 1$. ``phase`` $\phi \in [0, 1)$ shifts the trains
    (in cycles); with $\phi = 0$ the first event ends the first full period.
    """
    dt = check_dt(dt)
    n_steps = n_steps_for(duration, dt)
    lam = np.asarray(_rates(rate, n_channels), np.float64)
    phi = np.broadcast_to(np.asarray(as_param("phase", phase, nonnegative=True), np.float64), lam.shape)
    if np.any(phi >= 1):
        raise ValueError(f"`phase` must lie in [0, 1) (cycles), got a maximum of {phi.max():.4g}")
    k = np.arange(n_steps + 1, dtype=np.float64)[:, None]
    # In float64 on the host; the small epsilon keeps k*dt*rate that should be an integer
    # (e.g. 20 Hz for 50 ms) from rounding just below it and losing its event.
    cycles = np.floor(lam * k * dt + phi + 1e-9)
    return jnp.asarray(np.diff(cycles, axis=0), jnp.float32)


def sigma_delta(rates: ParamLike, *, dt: float = 1e-3) -> Float[Array, "T N"]:
    r"""Deterministic spikes that follow time-varying rates ``(T, N)`` in Hz (sigma-delta code).

    Each channel accumulates $a_k = a_{k-1} + \lambda_k\,dt$ and sends
    $\lfloor a_k \rfloor - \lfloor a_{k-1}\rfloor$ events in step $k$ ($a_0 = 0$): over any
    window the count is the integral of the rate to within one spike, without Poisson noise
    (:func:`regular` for constant rates is the special case). Several events per step when
    $\lambda\,dt > 1$.
    """
    dt = check_dt(dt)
    lam = np.asarray(as_param("rates", rates, nonnegative=True), np.float64)
    if lam.ndim != 2:
        raise ValueError(f"`rates` must be (T, N) in Hz, got shape {lam.shape}")
    acc = np.cumsum(lam * dt, axis=0)
    # float64 on the host; the epsilon keeps an accumulator that should be an integer from
    # rounding just below it.
    counts = np.diff(np.floor(acc + 1e-9), axis=0, prepend=0.0)
    return jnp.asarray(counts, jnp.float32)


def rate(
    probability: ParamLike, *, n_steps: int, key: Optional[PRNGKeyArray]
) -> Float[Array, "T ..."]:
    r"""Rate code of static values: each step, channel $i$ spikes with probability $p_i \in [0, 1]$.

    The snnTorch ``spikegen.rate`` convention: ``probability`` of any shape (e.g. pixel
    intensities scaled to [0, 1]); returns ``(n_steps, *probability.shape)``.
    """
    if key is None:
        raise ValueError("`key` is required (jax.random.key(seed))")
    p = as_param("probability", probability, nonnegative=True)
    if is_concrete(p) and float(jnp.max(p)) > 1.0:
        raise ValueError(f"`probability` must lie in [0, 1], got a maximum of {float(jnp.max(p)):.4g}")
    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"`n_steps` must be a positive integer, got {n_steps!r}")
    return (jax.random.uniform(key, (n_steps,) + p.shape) < p[None]).astype(jnp.float32)


def raster_to_events(raster: ParamLike, *, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Event list of a ``(T, N)`` raster of counts: ``(times in s, channel indices)``.

    A bin with count $c$ gives $c$ events at its start time; events are sorted by time, then
    channel. Counts must be non-negative integers (so the conversion is lossless).
    """
    dt = check_dt(dt)
    r = np.asarray(raster)
    if r.ndim != 2:
        raise ValueError(f"`raster` must be 2-D (T, N), got shape {r.shape}")
    if not np.all(np.isfinite(r)) or np.any(r < 0) or np.any(r != np.round(r)):
        raise ValueError("`raster` must hold non-negative integer event counts")
    c = r.astype(np.int64)
    steps, channels = np.nonzero(c)
    reps = c[steps, channels]
    steps, channels = np.repeat(steps, reps), np.repeat(channels, reps)
    return steps * dt, channels.astype(np.int64)


def _numbers(name: str, values) -> np.ndarray:
    a = np.asarray(values)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"`{name}` must be numbers, got an array of {a.dtype} ({values!r:.60})")
    return a.astype(np.float64)


def events_to_raster(
    times: ParamLike,
    channels: ParamLike,
    *,
    dt: float,
    n_steps: Optional[int] = None,
    n_channels: Optional[int] = None,
) -> np.ndarray:
    """``(T, N)`` raster of event counts: event at time $t$ goes to step $\\lfloor t/dt \\rfloor$.

    ``n_steps`` and ``n_channels`` default to the smallest that hold every event. Returns float32.
    """
    dt = check_dt(dt)
    t = _numbers("times", times).reshape(-1)
    ch = _numbers("channels", channels).reshape(-1)
    for name, value in (("n_steps", n_steps), ("n_channels", n_channels)):
        if value is not None:
            check_count(name, value)
    if t.shape != ch.shape:
        raise ValueError(f"`times` and `channels` must have the same length, got {t.size} and {ch.size}")
    if t.size and (not np.all(np.isfinite(t)) or t.min() < 0):
        raise ValueError("`times` must be finite and >= 0 (seconds)")
    if ch.size and (np.any(ch != np.round(ch)) or ch.min() < 0):
        raise ValueError("`channels` must be non-negative integers")
    ch = ch.astype(np.int64)
    # A time k*dt computed in floating point may land a hair below k*dt; the tolerance keeps it
    # in bin k (it is far below any meaningful resolution).
    steps = np.floor(t / dt + 1e-6).astype(np.int64)
    n_steps = int(steps.max() + 1) if n_steps is None and t.size else (n_steps or 0)
    n_channels = int(ch.max() + 1) if n_channels is None and ch.size else (n_channels or 0)
    if t.size and steps.max() >= n_steps:
        raise ValueError(f"an event at t = {t.max():g} s is beyond n_steps = {n_steps} steps of dt = {dt} s")
    if ch.size and ch.max() >= n_channels:
        raise ValueError(f"channel {ch.max()} is out of range for n_channels = {n_channels}")
    raster = np.zeros((n_steps, n_channels), np.float32)
    np.add.at(raster, (steps, ch), 1.0)
    return raster


class Events(NamedTuple):
    """Address events of a dynamic vision sensor, one entry per event, sorted by time."""

    x: np.ndarray
    """Column of the pixel (int64)."""
    y: np.ndarray
    """Row of the pixel (int64)."""
    polarity: np.ndarray
    """0 (OFF, brightness down) or 1 (ON) (int64)."""
    t: np.ndarray
    """Time (s, float64)."""


def read_nmnist(path) -> Events:
    r"""Read one recording in the N-MNIST binary format (Orchard et al. 2015, doi:10.3389/fnins.2015.00437).

    Five bytes per event: x, y, then polarity in bit 7 of the third byte and a 23-bit time in
    µs in its bits 6-0 and the last two bytes (most significant first). An event with
    y = 240 marks a time overflow: every later time gains $2^{13}$ µs, and the marker is dropped.
    The N-MNIST sensor is 34 x 34 pixels. Returns :class:`Events` with times in seconds.
    """
    path = os.fspath(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read N-MNIST file {path!r}: {err}") from None
    if raw.size % 5:
        raise ValueError(
            f"{path!r} is not an N-MNIST event file: its size, {raw.size} bytes, is not a multiple of 5 bytes per event"
        )
    ev = raw.reshape(-1, 5).astype(np.int64)
    overflow = ev[:, 1] == 240
    t_us = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    t_us = t_us + np.cumsum(overflow) * (1 << 13)
    keep = ~overflow
    if np.any(np.diff(t_us[keep]) < 0):
        raise ValueError(f"{path!r} is not an N-MNIST event file: its event times go backwards")
    return Events(x=ev[keep, 0], y=ev[keep, 1], polarity=ev[keep, 2] >> 7, t=t_us[keep] * 1e-6)


def events_to_frames(
    events: Events,
    *,
    dt: float,
    sensor_size: tuple[int, int] = (34, 34),
    start: Optional[float] = None,
    n_steps: Optional[int] = None,
) -> np.ndarray:
    r"""Bin sensor events into frames of event counts, ``(T, 2, height, width)`` indexed ``[t, polarity, y, x]``.

    An event at time $t$ falls in frame $\lfloor (t - t_0)/dt \rfloor$ with $t_0$ = ``start``,
    by default the first event's time (as tonic's ``ToFrame(time_window=dt)``, the convention of
    the NIR paper's N-MNIST task). ``sensor_size`` is ``(width, height)`` in pixels (34 x 34 for
    N-MNIST); ``n_steps`` defaults to the frames up to the last event. Returns float32, the
    input layout of :class:`spikax.layers.Conv2d`.
    """
    dt = check_dt(dt)
    if not isinstance(events, Events):
        raise TypeError(f"`events` must be spikax.encode.Events (from read_nmnist), got {type(events).__name__}")
    width, height = (check_count("sensor_size", v) for v in sensor_size)
    outside = (events.x >= width) | (events.y >= height) | (events.x < 0) | (events.y < 0)
    if np.any(outside):
        i = int(np.argmax(outside))
        raise ValueError(
            f"an event at x = {events.x[i]}, y = {events.y[i]} is outside `sensor_size` = {tuple(sensor_size)} "
            "(width, height)"
        )
    t0 = (float(events.t[0]) if events.t.size else 0.0) if start is None else float(start)
    frame = np.floor((events.t - t0) / dt + 1e-9).astype(np.int64)
    if frame.size and frame.min() < 0:
        raise ValueError(f"`start` = {t0} s is after the first event (t = {events.t.min()} s)")
    total = int(frame.max() + 1) if frame.size else 0
    n = total if n_steps is None else check_count("n_steps", n_steps)
    keep = frame < n
    frames = np.zeros((n, 2, height, width), np.float32)
    np.add.at(frames, (frame[keep], events.polarity[keep], events.y[keep], events.x[keep]), 1.0)
    return frames
