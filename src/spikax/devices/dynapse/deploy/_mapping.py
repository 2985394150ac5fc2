r"""Neurons onto chips and cores under the DYNAP-SE2's limits; one bias set per core; routing.

The limits (SynSense DYNAP-SE2 documentation; the same constants as Rockpool 3.1,
``rockpool/devices/dynapse/lookup/defaults.py``):

| resource | limit |
|---|---|
| chips per board, cores per chip, neurons per core | 4, 4, 256 (4096 neurons) |
| bias set | one per core, shared by its 256 neurons |
| CAM entries (incoming connections) per neuron | 64, each: tag, dendrite, 4-bit weight mask |
| SRAM entries (destinations) per neuron | 4, each: tag, target chip as x/y hops, 4-bit core mask |
| tags | 11 bits (2048), shared by input channels and neurons |

**Grouping.** :func:`share_biases` puts neurons with similar bias currents on the same core:
a capacity-limited k-means in the logarithm of the 19 neuron biases (the relative error is what
matters for a current), started from contiguous slices of the neurons sorted along the first
principal direction; each core takes the geometric mean of its neurons, which minimises the
summed squared log error. Neurons whose biases are already equal per core (a network trained
with shared biases) map exactly.

**Routing.** Every input channel and every neuron that has targets (or is an output) gets a
tag. A tag need only be unique among the sources that reach the same core (the CAMs of a core
compare the tags of the events it receives), so tags are allocated greedily, each source taking
the smallest tag free at all of its destination cores (and at the host for outputs). A neuron's
SRAM holds one entry per destination chip (its target cores there as a mask) and one for the
host when it is an output. Chip ``c`` sits at board position ``(c, 0)`` and the host (FPGA) at
``(-1, 0)`` unless a board layout is given; hops are the position differences.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import numpy as np

from ._bias import NEURON_BIASES

__all__ = [
    "CAM_ENTRIES",
    "CHIPS",
    "CORES_PER_CHIP",
    "NEURONS_PER_CORE",
    "SRAM_ENTRIES",
    "TAGS",
    "Placement",
    "SharedBiases",
    "assign_cores",
    "route",
    "share_biases",
]

#: Chips per board.
CHIPS = 4
#: Cores per chip (each with one bias set).
CORES_PER_CHIP = 4
#: Neurons per core.
NEURONS_PER_CORE = 256
#: CAM entries per neuron: its incoming connections (tag, dendrite, 4-bit weight mask each).
CAM_ENTRIES = 64
#: SRAM entries per neuron: its destinations (tag, target chip, core mask each).
SRAM_ENTRIES = 4
#: Event tags (11 bits), shared by the input channels and the neurons.
TAGS = 2048
MAX_CORES = CHIPS * CORES_PER_CHIP
DEFAULT_BOARD = {"chip_positions": [[c, 0] for c in range(CHIPS)], "host_position": [-1, 0]}
DENDRITES = ("AMPA", "NMDA", "GABA", "SHUNT")


def _limit_error(lines: list, what: str) -> None:
    if lines:
        shown = lines[:10] + ([f"... and {len(lines) - 10} more"] if len(lines) > 10 else [])
        raise ValueError(f"the network does not fit on DYNAP-SE2 ({what}):\n  " + "\n  ".join(shown))


def assign_cores(n_neurons: int, *, n_cores: Optional[int] = None) -> np.ndarray:
    """Core of each neuron when all share one bias set: cores filled in order (256 per core), or
    with ``n_cores`` the neurons split into that many contiguous, balanced groups."""
    if n_neurons > MAX_CORES * NEURONS_PER_CORE:
        raise ValueError(
            f"the network has {n_neurons} neurons; DYNAP-SE2 has {MAX_CORES * NEURONS_PER_CORE} "
            f"({CHIPS} chips x {CORES_PER_CHIP} cores x {NEURONS_PER_CORE}), "
            f"{n_neurons - MAX_CORES * NEURONS_PER_CORE} too many"
        )
    if n_cores is None:
        return np.arange(n_neurons) // NEURONS_PER_CORE
    _check_n_cores(n_cores, n_neurons)
    return np.arange(n_neurons) * n_cores // n_neurons if n_neurons else np.zeros(0, int)


def _check_n_cores(n_cores, n_neurons) -> None:
    need = -(-n_neurons // NEURONS_PER_CORE)
    if not isinstance(n_cores, (int, np.integer)) or isinstance(n_cores, bool) or not need <= n_cores <= MAX_CORES:
        raise ValueError(
            f"`n_cores` must be an integer from {need} ({n_neurons} neurons, {NEURONS_PER_CORE} per core) to "
            f"{MAX_CORES} ({CHIPS} chips x {CORES_PER_CHIP} cores), got {n_cores!r}"
        )
    if n_cores > n_neurons:
        raise ValueError(f"`n_cores` = {n_cores} is more than the {n_neurons} neurons: a core would be empty")


class SharedBiases(NamedTuple):
    """Neurons grouped into cores that share one bias set (:func:`share_biases`)."""

    cores: np.ndarray
    """``(n,)`` core (global index 0..15, chip = core // 4) of each neuron."""
    values: dict
    """Field name -> ``(max(cores) + 1,)`` each core's shared value (NaN for a core without neurons)."""
    rel_error: np.ndarray
    """``(n,)`` each neuron's largest relative change $|I_{core}/I - 1|$ over its parameters."""
    per_parameter: dict
    """Field name -> the largest relative change of that parameter over the neurons."""


def share_biases(
    params, *, n_cores: Optional[int] = None, cores: Optional[Sequence[int]] = None, iterations: int = 50
) -> SharedBiases:
    """Group neurons into cores that share one bias set, and give each core its values.

    ``params``: :class:`~spikax.devices.dynapse.DynapseParams` (per-neuron). ``cores`` fixes the
    placement (global core indices 0..15, chip = core // 4; only the shared values are
    computed); otherwise the neurons are grouped as the module docstring says into ``n_cores``
    cores (default: as few as fit, 256 neurons per core). When there are fewer distinct bias
    sets than ``n_cores``, the fullest cores are halved until ``n_cores`` are used; neurons that
    all share one bias set are split into ``n_cores`` contiguous, balanced groups. Every
    field, not only the biases, takes its core's geometric mean (capacitances and transistor
    constants are a chip's layout: one value per core too).
    """
    from .._circuit import PARAMETER_NAMES

    table = {name: np.asarray(getattr(params, name), dtype=np.float64) for name in PARAMETER_NAMES}
    n = len(table["Io"])
    logs = {name: np.log(v) for name, v in table.items()}
    if cores is not None:
        cores = np.asarray(cores)
        if cores.shape != (n,) or not np.issubdtype(cores.dtype, np.integer) or np.any(cores < 0):
            raise ValueError(f"`cores` must be ({n},) core indices >= 0, got {cores!r}")
        if np.any(cores >= MAX_CORES):
            raise ValueError(
                f"`cores` must be global core indices 0..{MAX_CORES - 1} (chip = core // {CORES_PER_CHIP}), "
                f"got {int(cores.max())}"
            )
        counts = np.bincount(cores)
        full = np.flatnonzero(counts > NEURONS_PER_CORE)
        if len(full):
            raise ValueError(
                f"`cores`: core {int(full[0])} has {int(counts[full[0]])} neurons; a DYNAP-SE2 core has "
                f"{NEURONS_PER_CORE} ({int(counts[full[0]]) - NEURONS_PER_CORE} too many)"
            )
    else:
        x = np.stack([logs[name] for name in NEURON_BIASES], axis=1)  # (n, 19)
        k = -(-n // NEURONS_PER_CORE) if n_cores is None else n_cores
        if n_cores is not None:
            _check_n_cores(n_cores, n)
        elif n > MAX_CORES * NEURONS_PER_CORE:
            assign_cores(n)  # raises the neuron-count error
        cores = _group(x, k, iterations) if np.ptp(x, axis=0).max() > 0 else assign_cores(n, n_cores=n_cores)
        if n_cores is not None:
            cores = _split_to(cores, x, n_cores)
    n_slots = int(cores.max()) + 1
    used = np.unique(cores)
    values, per_param = {}, {}
    rel = np.zeros(n)
    for name, lg in logs.items():
        values[name] = np.full(n_slots, np.nan)
        for c in used:
            members = table[name][cores == c]
            # Equal values stay bit-identical (the mean of equal logs may not exp back exactly).
            values[name][c] = members[0] if np.all(members == members[0]) else np.exp(lg[cores == c].mean())
        err = np.abs(values[name][cores] / table[name] - 1.0)
        per_param[name] = float(err.max()) if n else 0.0
        rel = np.maximum(rel, err)
    return SharedBiases(cores, values, rel, per_param)


def _split_to(cores: np.ndarray, x: np.ndarray, k: int) -> np.ndarray:
    """Use exactly ``k`` cores: while fewer are used (fewer distinct bias sets than cores asked
    for), halve the fullest core, its neurons split along their first principal direction."""
    cores = cores.copy()
    while len(np.unique(cores)) < k:
        counts = np.bincount(cores)
        big = int(np.argmax(counts))
        members = np.flatnonzero(cores == big)
        centred = x[members] - x[members].mean(0)
        direction = np.linalg.svd(centred, full_matrices=False)[2][0] if np.ptp(centred) > 0 else None
        order = members[np.argsort(centred @ direction, kind="stable")] if direction is not None else members
        cores[order[len(order) // 2:]] = int(cores.max()) + 1
    return np.searchsorted(np.unique(cores), cores)


def _group(x: np.ndarray, k: int, iterations: int) -> np.ndarray:
    """Capacity-limited k-means (at most 256 per group) of the rows of ``x``; deterministic."""
    n = len(x)
    centred = x - x.mean(0)
    direction = np.linalg.svd(centred, full_matrices=False)[2][0] if n > 1 else np.ones(x.shape[1])
    order = np.argsort(centred @ direction, kind="stable")
    cores = np.empty(n, dtype=np.int64)
    cores[order] = np.arange(n) * k // n
    for _ in range(iterations):
        centres = np.stack([x[cores == c].mean(0) if np.any(cores == c) else x[order[c * n // k]] for c in range(k)])
        dist = ((x[:, None, :] - centres[None]) ** 2).sum(-1)  # (n, k)
        # Neurons that lose most by not getting their nearest core choose first.
        srt = np.sort(dist, axis=1)
        regret = srt[:, 1] - srt[:, 0] if k > 1 else np.zeros(n)
        new = np.empty(n, dtype=np.int64)
        room = np.full(k, NEURONS_PER_CORE)
        for i in np.argsort(-regret, kind="stable"):
            for c in np.argsort(dist[i], kind="stable"):
                if room[c] > 0:
                    new[i] = c
                    room[c] -= 1
                    break
        if np.array_equal(new, cores):
            break
        cores = new
    used = np.unique(cores)
    return np.searchsorted(used, cores)


class Placement(NamedTuple):
    """Where every neuron sits and how events travel (:func:`route`)."""

    chip: np.ndarray
    """``(n,)`` chip of each neuron (0..3)."""
    core: np.ndarray
    """``(n,)`` core on its chip (0..3)."""
    neuron: np.ndarray
    """``(n,)`` index within its core (0..255)."""
    neuron_tags: np.ndarray
    """``(n,)`` each neuron's tag, -1 for a neuron whose events go nowhere."""
    input_tags: np.ndarray
    """``(n_in,)`` each input channel's tag, -1 for an unconnected channel."""
    cam: list
    """Per neuron: list of ``(source, dendrite, mask)``, source ``("input", c)`` or ``("neuron", j)``."""
    sram: list
    """Per neuron: list of destinations, ``(chip, core_mask)`` or ``("host", 0)``."""
    input_destinations: list
    """Per input channel: list of ``(chip, core_mask)``."""


def route(
    cores: np.ndarray, masks_in: np.ndarray, masks_rec: Optional[np.ndarray], outputs: Sequence[int]
) -> Placement:
    """Place neurons (global core ``g`` is chip ``g // 4``, core ``g % 4``; neurons keep their
    order within a core), allocate tags and fill every neuron's CAM and SRAM.

    ``masks_in``: ``(n_in, n, 4)`` and ``masks_rec``: ``(n, n, 4)`` weight masks per synapse
    type (0 = no connection). Every limit is checked; all violations are reported at once,
    naming the neuron or core and by how much it is over.
    """
    n = len(cores)
    n_in = masks_in.shape[0]
    masks_rec = np.zeros((n, n, 4), dtype=np.int64) if masks_rec is None else masks_rec
    chip, core = cores // CORES_PER_CHIP, cores % CORES_PER_CHIP
    local = np.zeros(n, dtype=np.int64)
    for g in np.unique(cores):
        members = np.flatnonzero(cores == g)
        if len(members) > NEURONS_PER_CORE:
            _limit_error(
                [f"core {g % CORES_PER_CHIP} of chip {g // CORES_PER_CHIP} has {len(members)} neurons; a core has "
                 f"{NEURONS_PER_CORE} ({len(members) - NEURONS_PER_CORE} too many)"],
                "neurons per core",
            )
        local[members] = np.arange(len(members))
    if np.any(cores >= MAX_CORES):
        _limit_error([f"{int(cores.max()) + 1} cores needed; DYNAP-SE2 has {MAX_CORES}"], "cores")

    fan_in = (masks_in > 0).sum(axis=(0, 2)) + (masks_rec > 0).sum(axis=(0, 2))
    over = [
        f"neuron {j} has {fan_in[j]} incoming connections; a DYNAP-SE2 neuron has {CAM_ENTRIES} CAM entries "
        f"({fan_in[j] - CAM_ENTRIES} too many; spikax.devices.dynapse.deploy.prune_fan_in keeps the strongest)"
        for j in np.flatnonzero(fan_in > CAM_ENTRIES)
    ]
    _limit_error(over, "CAM entries")

    outputs = set(int(o) for o in outputs)
    rec_targets = (masks_rec > 0).any(axis=2)  # (n, n)
    sram, problems = [], []
    for j in range(n):
        dest_cores = np.unique(cores[rec_targets[j]])
        entries = []
        for c in np.unique(dest_cores // CORES_PER_CHIP):
            on_chip = dest_cores[dest_cores // CORES_PER_CHIP == c] % CORES_PER_CHIP
            entries.append((int(c), int(np.sum(1 << on_chip))))
        if j in outputs:
            entries.append(("host", 0))
        if len(entries) > SRAM_ENTRIES:
            what = ", ".join(f"chip {e[0]}" if e[0] != "host" else "the host" for e in entries)
            problems.append(
                f"neuron {j} sends to {len(entries)} destinations ({what}); a DYNAP-SE2 neuron has {SRAM_ENTRIES} "
                f"SRAM entries ({len(entries) - SRAM_ENTRIES} too many)"
            )
        sram.append(entries)
    _limit_error(problems, "SRAM entries")

    in_targets = (masks_in > 0).any(axis=2)  # (n_in, n)
    input_dest = []
    for c in range(n_in):
        dest_cores = np.unique(cores[in_targets[c]])
        input_dest.append([
            (int(ch), int(np.sum(1 << (dest_cores[dest_cores // CORES_PER_CHIP == ch] % CORES_PER_CHIP))))
            for ch in np.unique(dest_cores // CORES_PER_CHIP)
        ])

    # Tags: greedy, the smallest tag free at every destination core (the host counts as one).
    used: dict = {}
    host = "host"

    def allocate(dest_keys, name):
        taken = set()
        for d in dest_keys:
            taken |= used.setdefault(d, set())
        tag = next((t for t in range(TAGS) if t not in taken), None)
        if tag is None:
            busy = max(dest_keys, key=lambda d: len(used[d]))
            where = "the host" if busy == host else f"core {busy % CORES_PER_CHIP} of chip {busy // CORES_PER_CHIP}"
            raise ValueError(
                f"the network does not fit on DYNAP-SE2 (tags): {name} finds no free tag; {where} already "
                f"receives {len(used[busy])} sources and tags have 11 bits ({TAGS})"
                + ("; every output needs its own tag at the host: read out fewer neurons (`outputs`)"
                   if busy == host else "")
            )
        for d in dest_keys:
            used[d].add(tag)
        return tag

    input_tags = np.full(n_in, -1, dtype=np.int64)
    for c in range(n_in):
        keys = [int(g) for g in np.unique(cores[in_targets[c]])]
        if keys:
            input_tags[c] = allocate(keys, f"input channel {c}")
    neuron_tags = np.full(n, -1, dtype=np.int64)
    for j in range(n):
        keys = [int(g) for g in np.unique(cores[rec_targets[j]])] + ([host] if j in outputs else [])
        if keys:
            neuron_tags[j] = allocate(keys, f"neuron {j}")

    cam = []
    for j in range(n):
        entries = []
        for c, s in zip(*np.nonzero(masks_in[:, j, :])):
            entries.append((("input", int(c)), DENDRITES[s], int(masks_in[c, j, s])))
        for i, s in zip(*np.nonzero(masks_rec[:, j, :])):
            entries.append((("neuron", int(i)), DENDRITES[s], int(masks_rec[i, j, s])))
        cam.append(entries)
    return Placement(chip, core, local, neuron_tags, input_tags, cam, sram, input_dest)
