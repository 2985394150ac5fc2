r"""The DYNAP-SE2 bias generator: bias current <-> (coarse, fine) code, from the measured table.

Each of a core's biases is set by a coarse value $c \in \{0..5\}$ and a fine value
$f \in \{0..255\}$. The current of a code was measured per transistor type (N or P, the last
letter of the chip's bias name) and is scaled per bias:

$$I(c, f) = s_{bias}\,T_{type}[c, f]$$

$T$ is roughly linear in $f$, about 8x per coarse step, with a leakage floor at $f = 0$
(0.4-1.1 pA) and seven small non-monotone steps per coarse range where the fine DAC's higher
bits switch. The table (``data/biasgen_se2.csv``, 2 x 6 x 256 values) and the scale factors
(``data/scale_factors_se2.csv``) are SynSense's published calibration data, as shipped with
Rockpool 3.1 (``rockpool/devices/dynapse/lookup``). The simulator's currents are named by the
chip biases they set (:data:`BIAS_NAMES`, also from Rockpool's lookup).

The inverse, :func:`bias_code`, returns the code whose current is closest to the request,
searched over all 1536 codes of the bias (the table is not monotone, so no per-coarse
interpolation is safe); it reports the relative rounding error $|I_{code} - I|/I$. Closest in
absolute current is closest in relative error, the two share the denominator.
"""

from __future__ import annotations

import csv
import functools
from importlib import resources
from typing import NamedTuple

import numpy as np

__all__ = [
    "BIAS_NAMES",
    "COARSE_VALUES",
    "FINE_VALUES",
    "NEURON_BIASES",
    "WEIGHT_BIASES",
    "BiasCode",
    "CoreBiases",
    "bias_code",
    "bias_current",
    "chip_bias_name",
    "decode_biases",
    "encode_biases",
    "representable_currents",
]

#: Number of coarse values of every bias (0..5).
COARSE_VALUES = 6
#: Number of fine values of every bias (0..255).
FINE_VALUES = 256

#: Simulator current -> the DYNAP-SE2 bias that sets it (23 biases per core). Source: Rockpool
#: 3.1, ``rockpool/devices/dynapse/lookup/parameter_name.py`` (``sim2device_se2``).
BIAS_NAMES: dict = {
    "Idc": "SOIF_DC_P",
    "If_nmda": "DENM_NMREV_N",
    "Igain_ahp": "SOAD_GAIN_P",
    "Igain_ampa": "DEAM_EGAIN_P",
    "Igain_gaba": "DEGA_IGAIN_P",
    "Igain_nmda": "DENM_EGAIN_P",
    "Igain_shunt": "DESC_IGAIN_P",
    "Igain_mem": "SOIF_GAIN_N",
    "Ipulse_ahp": "SOAD_PWTAU_N",
    "Ipulse": "SYPD_EXT_N",
    "Iref": "SOIF_REFR_N",
    "Ispkthr": "SOIF_SPKTHR_P",
    "Itau_ahp": "SOAD_TAU_P",
    "Itau_ampa": "DEAM_ETAU_P",
    "Itau_gaba": "DEGA_ITAU_P",
    "Itau_nmda": "DENM_ETAU_P",
    "Itau_shunt": "DESC_ITAU_P",
    "Itau_mem": "SOIF_LEAK_N",
    "Iw_0": "SYAM_W0_P",
    "Iw_1": "SYAM_W1_P",
    "Iw_2": "SYAM_W2_P",
    "Iw_3": "SYAM_W3_P",
    "Iw_ahp": "SOAD_W_N",
}
#: The four base weight currents of a core (a connection's current is the sum of those its mask selects).
WEIGHT_BIASES = ("Iw_0", "Iw_1", "Iw_2", "Iw_3")
#: The 19 biases that are :class:`~spikax.devices.dynapse.DynapseParams` fields.
NEURON_BIASES = tuple(name for name in BIAS_NAMES if name not in WEIGHT_BIASES)
_CHIP_TO_SIM = {v: k for k, v in BIAS_NAMES.items()}


class BiasCode(NamedTuple):
    """A bias code and what it gives: arrays of the request's shape."""

    coarse: np.ndarray
    """Coarse value, 0..5 (int)."""
    fine: np.ndarray
    """Fine value, 0..255 (int)."""
    current: np.ndarray
    """The code's current (A)."""
    rel_error: np.ndarray
    """Relative rounding error $|I_{code} - I|/I$ of the request $I$."""


def _data(name: str):
    with resources.files(__package__).joinpath("data", name).open("r", encoding="utf-8") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


@functools.lru_cache(maxsize=None)
def _table() -> dict:
    """``{"N": (6, 256) array, "P": ...}`` of the measured currents (A)."""
    out = {t: np.full((COARSE_VALUES, FINE_VALUES), np.nan) for t in "NP"}
    for row in _data("biasgen_se2.csv"):
        out[row["type"]][int(row["coarse"]), int(row["fine"])] = float(row["current_A"])
    for t, a in out.items():
        if not np.all(np.isfinite(a)):
            raise RuntimeError(f"the packaged bias table misses codes of type {t}")
        a.setflags(write=False)
    return out


@functools.lru_cache(maxsize=None)
def _scales() -> dict:
    return {row["bias"]: float(row["scale"]) for row in _data("scale_factors_se2.csv")}


def chip_bias_name(name: str) -> str:
    """The chip's name of a bias, given either name (``"Itau_mem"`` or ``"SOIF_LEAK_N"``)."""
    if name in BIAS_NAMES:
        return BIAS_NAMES[name]
    if name in _CHIP_TO_SIM:
        return name
    raise ValueError(
        f"unknown DYNAP-SE2 bias {name!r}; known: {', '.join(BIAS_NAMES)} (or their chip names "
        f"{', '.join(BIAS_NAMES.values())})"
    )


@functools.lru_cache(maxsize=None)
def _sorted_codes(chip_name: str):
    """The bias's 1536 currents sorted ascending, with their coarse and fine values."""
    table = _table()[chip_name[-1]] * _scales()[chip_name]
    coarse, fine = np.meshgrid(np.arange(COARSE_VALUES), np.arange(FINE_VALUES), indexing="ij")
    # Ascending current; equal currents (none in the shipped table) in (coarse, fine) order.
    order = np.lexsort((fine.ravel(), coarse.ravel(), table.ravel()))
    out = tuple(a.ravel()[order] for a in (table, coarse, fine))
    for a in out:
        a.setflags(write=False)
    return out


def representable_currents(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every current the bias ``name`` can take, ascending, with its coarse and fine values
    (three ``(1536,)`` arrays)."""
    return _sorted_codes(chip_bias_name(name))


def bias_current(name: str, coarse, fine) -> np.ndarray:
    r"""The current (A) of the code (``coarse``, ``fine``) of bias ``name``: $s_{bias} T[c, f]$.

    ``coarse`` and ``fine`` are integers or integer arrays (broadcast together); values out of
    0..5 / 0..255 raise ``ValueError``.
    """
    chip = chip_bias_name(name)
    coarse, fine = np.asarray(coarse), np.asarray(fine)
    for arg, value, top in (("coarse", coarse, COARSE_VALUES), ("fine", fine, FINE_VALUES)):
        if not np.issubdtype(value.dtype, np.integer) or np.any(value < 0) or np.any(value >= top):
            raise ValueError(f"`{arg}` of {chip} must be an integer in 0..{top - 1}, got {value!r}")
    return _table()[chip[-1]][coarse, fine] * _scales()[chip]


def bias_code(name: str, current) -> BiasCode:
    """The code of bias ``name`` whose current is closest to ``current`` (A, scalar or array, > 0).

    Requests outside the bias's range land on its smallest or largest code, and the rounding
    error says by how much. A current at the simulator's dark current (an "off" bias such as
    ``Idc = Io``) lands on the leakage floor.
    """
    chip = chip_bias_name(name)
    request = np.asarray(current, dtype=np.float64)
    if not np.all(np.isfinite(request)) or np.any(request <= 0):
        raise ValueError(f"`current` of {chip} must be finite and > 0 (A), got {request!r}")
    values, coarse, fine = _sorted_codes(chip)
    right = np.clip(np.searchsorted(values, request), 1, len(values) - 1)
    left = right - 1
    # The nearer neighbour; on an exact tie the smaller current.
    pick = np.where(np.abs(values[right] - request) < np.abs(request - values[left]), right, left)
    got = values[pick]
    return BiasCode(coarse[pick], fine[pick], got, np.abs(got - request) / request)


def _encode(name: str, request: np.ndarray, io: np.ndarray):
    """Codes for ``request`` (per core); a request at the dark current ("off") takes code (0, 0).
    Returns (coarse, fine, current as the simulator uses it (floored at Io), relative error)."""
    code = bias_code(name, request)
    off = request <= io * (1 + 1e-6)
    coarse = np.where(off, 0, code.coarse)
    fine = np.where(off, 0, code.fine)
    got = np.maximum(bias_current(name, coarse, fine), io)
    return coarse, fine, got, np.abs(got / request - 1.0)


class CoreBiases(NamedTuple):
    """One bias set per core as codes (:func:`encode_biases`)."""

    cores: np.ndarray
    """``(n,)`` the core (global index) of each neuron."""
    codes: dict
    """Core -> {chip bias name: (coarse, fine)} for the 19 neuron biases."""
    currents: dict
    """Simulator name -> {core: current (A)}: what the codes give, floored at the dark current
    ``Io`` (the simulator's currents start there; on the chip an "off" bias sits at its floor)."""
    rel_error: dict
    """Simulator name -> ``(n,)`` each neuron's relative change, sharing and rounding together."""
    rounding_error: dict
    """Simulator name -> {core: relative change of the core's shared value by rounding to its code}."""


def encode_biases(params, cores=None) -> CoreBiases:
    """A parameter set as a per-core table of bias codes: the neurons of each core share one bias
    set (the geometric mean of theirs, :func:`~spikax.devices.dynapse.deploy.share_biases`), each
    bias is rounded to its closest code, and a request at the dark current is "off", code (0, 0).
    ``cores`` places the neurons (global core indices); by default they fill cores in order, 256
    per core. :func:`decode_biases` goes back."""
    from ._mapping import assign_cores, share_biases

    n = params.n_neurons
    shared = share_biases(params, cores=assign_cores(n) if cores is None else cores)
    used = [int(c) for c in np.unique(shared.cores)]
    codes = {c: {} for c in used}
    currents, rel, rounding = {}, {}, {}
    io = shared.values["Io"][used]
    for name in NEURON_BIASES:
        coarse, fine, got, err = _encode(name, shared.values[name][used], io)
        currents[name] = dict(zip(used, got))
        rounding[name] = dict(zip(used, err))
        for c, cc, ff in zip(used, coarse, fine):
            codes[c][BIAS_NAMES[name]] = (int(cc), int(ff))
        per_neuron = np.array([currents[name][c] for c in shared.cores])
        rel[name] = np.abs(per_neuron / np.asarray(getattr(params, name), dtype=np.float64) - 1.0)
    return CoreBiases(shared.cores, codes, currents, rel, rounding)


def decode_biases(table: CoreBiases, params):
    """``params`` (a :class:`~spikax.devices.dynapse.DynapseParams` of the same neurons, for the
    fields that are not biases) with every neuron bias set to its core's code current."""
    import jax.numpy as jnp

    out = params
    for name in NEURON_BIASES:
        value = np.array([table.currents[name][c] for c in table.cores])
        out = out.replace(**{name: jnp.asarray(value, dtype=jnp.asarray(getattr(params, name)).dtype)})
    return out
