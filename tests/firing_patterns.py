"""Classify a spike train under a step current into the firing patterns of Naud et al. (2008).

The rules restate the verbal definitions of the paper's Fig. 4 in numbers (times in ms):

- *transient spiking*: spikes at the onset only (none in the last three quarters of the run);
- in the steady state (intervals that start after 200 ms) the inter-spike intervals (ISIs) either repeat with a period
  of one (tonic firing), repeat with a longer period (*bursting*: regular bursting, or *delayed
  regular bursting* when the first spike comes late), or do not repeat (*irregular spiking*);
- a tonic steady state is reached in one of four ways: with a burst at the onset (an ISI that
  jumps more than threefold: *initial burst*), with ISIs that lengthen more than twofold
  (*adaptation*), with ISIs that shorten after a late first spike (*delayed accelerating*), or
  with ISIs that barely change (*tonic spiking*).
"""

from __future__ import annotations

import numpy as np

DELAYED_MS = 40.0


def steady_period(isi: np.ndarray, tol: float = 0.05, max_period: int = 6):
    """The smallest k such that the ISIs repeat with period k within ``tol``, else None."""
    for k in range(1, max_period + 1):
        if len(isi) < 2 * k + 1:
            return None
        if np.all(np.abs(isi[k:] - isi[:-k]) <= tol * isi[:-k]):
            return k
    return None


def classify(spike_ms: np.ndarray, t_end_ms: float) -> str:
    t = np.asarray(spike_ms, float)
    if t.size == 0:
        return "silent"
    if t[-1] < 0.25 * t_end_ms:
        return "transient spiking"
    isi = np.diff(t)
    steady = isi[t[:-1] > 200.0]
    period = steady_period(steady)
    if period is None:
        return "irregular spiking"
    if period > 1:
        return "delayed regular bursting" if t[0] > DELAYED_MS else "regular bursting"
    jumps = isi[1:] / isi[:-1]
    if np.any(jumps > 3.0):
        return "initial burst"
    if isi[-1] > 2.0 * isi[0]:
        return "adaptation"
    if isi[-1] < 0.8 * isi[0] and t[0] > DELAYED_MS / 2:
        return "delayed accelerating"
    return "tonic spiking"
