r"""A vendor-free DYNAP-SE2 configuration: build it from a network, save, load, validate, simulate.

The configuration is one JSON object (``"format": "spikax-dynapse2-config"``, ``"version": 1``):

```text
dt                 simulation step the network was trained with (s)
board              chip_positions: [[x, y]] per chip; host_position: [x, y] (the FPGA)
cores[]            chip, core (0..3 each),
                   biases: {chip bias name: [coarse 0..5, fine 0..255]} for all 23 biases
                           (SYAM_W0_P..SYAM_W3_P are the core's four base weights),
                   simulation: {Io, kappa_n, kappa_p, Ut, Vth, Iscale, Ireset, C_*}: constants the
                           simulator needs to rebuild the network (not chip settings)
neurons[]          id (the network's neuron index), chip, core, neuron (0..255 on its core),
                   tag (its events' tag, null if they go nowhere),
                   cam[]:  {tag, dendrite: AMPA|NMDA|GABA|SHUNT, mask: 0..15}  (<= 64)
                   sram[]: {tag, chip, hops: [dx, dy], cores: 0..15 (bit c = core c)}
                           or {tag, host: true, hops: [dx, dy]}             (<= 4)
inputs[]           channel, tag, destinations[]: {chip, cores: 0..15}
outputs[]          index (the output's position), id, chip, core, neuron, tag
simulation         input_synapses, recurrent_synapses, recurrent: how the simulator lays out
                   the weights (optional; the chip does not need it)
```

A CAM entry's weight current is the sum of the core's base weights its mask selects; its tag
names the source among the events that reach the core (an input channel whose destinations
include the core, or a neuron whose SRAM sends to it). :func:`validate_config` checks all of
this and every limit, and names what is wrong; :meth:`ChipConfig.load` refuses a file with any
problem. :func:`to_network` turns a configuration into the spikax network the chip would run.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, NamedTuple, Optional, Sequence

import numpy as np

from ._bias import (
    BIAS_NAMES,
    COARSE_VALUES,
    FINE_VALUES,
    NEURON_BIASES,
    WEIGHT_BIASES,
    bias_current,
    encode_biases,
)
from ._mapping import (
    CAM_ENTRIES,
    CHIPS,
    CORES_PER_CHIP,
    DEFAULT_BOARD,
    DENDRITES,
    NEURONS_PER_CORE,
    SRAM_ENTRIES,
    TAGS,
    route,
    share_biases,
)
from ._network import _SYNAPSES, _stack, split_chip_network
from ._quantize import _assign, levels, quantize_weights

__all__ = ["ChipConfig", "Deployment", "deploy", "format_report", "to_network", "validate_config"]

FORMAT = "spikax-dynapse2-config"
VERSION = 1


def _constants():
    from .._circuit import PARAMETER_NAMES

    return tuple(name for name in PARAMETER_NAMES if name not in NEURON_BIASES)


# --------------------------------------------------------------------------------------------
# From a spikax model


class Deployment(NamedTuple):
    """What :func:`deploy` made: the configuration, a report, the off-chip layers, and the
    choices to reuse when deploying a fine-tuned version of the same network."""

    config: "ChipConfig"
    report: dict
    tail: tuple
    cores: np.ndarray
    """``(n,)`` global core of each neuron (chip = core // 4)."""
    base_weights: np.ndarray
    """``(n_cores, 4)`` the cores' base weight currents ``Iw_0..Iw_3`` (A)."""

    def network(self, *, mismatch: Optional[float] = None, key=None, **options):
        """The network the chip runs, followed by the off-chip layers (:func:`to_network`)."""
        import spikax as sx

        chip = to_network(self.config, mismatch=mismatch, key=key, **options)
        return sx.Sequential(*chip.layers, *self.tail) if self.tail else chip


def deploy(
    model,
    *,
    outputs: Optional[Sequence[int]] = None,
    n_cores: Optional[int] = None,
    cores: Optional[Sequence[int]] = None,
    base_weights: Optional[np.ndarray] = None,
    board: Optional[dict] = None,
) -> Deployment:
    """Turn a trained chip network into a DYNAP-SE2 configuration.

    Steps: group the neurons into cores that share one bias set (:func:`share_biases`;
    ``cores`` or ``n_cores`` choose, by default as few cores as fit), quantise the weight
    currents $w\\,I_{scale}$ to four base currents per core and a 4-bit mask per connection
    (:func:`quantize_weights`; ``base_weights`` ``(n_cores, 4)`` fixes the bases), round every
    bias to its nearest code (:mod:`._bias`), place, allocate tags and fill CAMs and SRAMs under
    every limit (:func:`route`), and write it all into a :class:`ChipConfig`.

    ``outputs``: the neurons read out (default: all, as a spike-count readout needs);
    ``board``: ``{"chip_positions": [[x, y]] * 4, "host_position": [x, y]}``.

    **Returns:** a :class:`Deployment` whose ``report`` gives the chips and cores used, the
    largest fan-in and fan-out, the tags used, the weight error per core (and the uniform 4-bit
    grid's, the baseline), the bias rounding error per bias and the bias-sharing error per neuron.
    """
    from .._circuit import DynapseParams

    linear, cell, w_rec, tail = split_chip_network(model)
    params: DynapseParams = cell.params
    n = params.n_neurons
    n_in = linear.in_features
    w_in, in_types = _stack(linear.to_synapses(), n_in, n)
    if w_rec is not None:
        w_rec3, rec_types = _stack(w_rec, n, n)
    else:
        w_rec3, rec_types = None, ()
    outputs = list(range(n)) if outputs is None else list(outputs)
    bad = [o for o in outputs if not (_is_int(o) or isinstance(o, np.integer)) or not 0 <= o < n]
    outputs = [int(o) for o in outputs] if not bad else outputs
    if bad or len(set(outputs)) != len(outputs):
        raise ValueError(f"`outputs` must be distinct neuron indices in 0..{n - 1}, got {outputs}")
    board = _check_board(DEFAULT_BOARD if board is None else board)

    if cores is not None and n_cores is not None:
        raise ValueError("give `cores` (where each neuron goes) or `n_cores` (how many cores to use), not both")
    shared = share_biases(params, n_cores=n_cores, cores=cores)
    g = shared.cores
    used = [int(c) for c in np.unique(g)]
    iscale = np.asarray(params.Iscale, dtype=np.float64)
    cur_in = w_in * iscale[None, :, None]
    cur_rec = None if w_rec3 is None else w_rec3 * iscale[None, :, None]
    weights = [w_in] + ([w_rec3] if w_rec3 is not None else [])
    currents = [cur_in] + ([cur_rec] if cur_rec is not None else [])
    iscale_core = {int(c): float(np.float32(shared.values["Iscale"][c])) for c in used}

    def gives_back(k, base):
        # The network read back from the configuration has exactly these float32 weights.
        cols = g == k
        lv = levels(base)
        for w, cur in zip(weights, currents):
            part = cur[:, cols].ravel()
            mask = np.where(part > 0, _assign(part, base)[0], 0)
            back = np.float32(lv[mask] / iscale_core[k])
            if not np.array_equal(back, np.abs(w[:, cols].ravel()).astype(np.float32)):
                return False
        return True

    quant = quantize_weights(currents, g, base=base_weights, exact=gives_back)
    masks_in = quant.masks[0]
    masks_rec = quant.masks[1] if cur_rec is not None else None
    place = route(g, masks_in, masks_rec, outputs)

    table = encode_biases(params, cores=g)
    bias_err = {name: float(max(table.rounding_error[name].values())) for name in NEURON_BIASES}
    core_records = []
    for c in used:
        biases = {chip: list(code) for chip, code in table.codes[c].items()}
        for k, name in enumerate(WEIGHT_BIASES):
            biases[BIAS_NAMES[name]] = [int(quant.coarse[c, k]), int(quant.fine[c, k])]
        core_records.append({
            "chip": int(c // CORES_PER_CHIP),
            "core": int(c % CORES_PER_CHIP),
            "biases": biases,
            # float32, as the simulator holds them: a network read back deploys to the same file.
            "simulation": {name: float(np.float32(shared.values[name][c])) for name in _constants()},
        })

    positions = board["chip_positions"]
    host = board["host_position"]

    def hops(src_chip, dst):
        return [int(dst[0] - positions[src_chip][0]), int(dst[1] - positions[src_chip][1])]

    neurons = []
    for j in range(n):
        cam = []
        for (kind, src), dendrite, mask in place.cam[j]:
            tag = place.input_tags[src] if kind == "input" else place.neuron_tags[src]
            cam.append({"tag": int(tag), "dendrite": dendrite, "mask": int(mask)})
        sram = []
        for dest, core_mask in place.sram[j]:
            if dest == "host":
                sram.append({"tag": int(place.neuron_tags[j]), "host": True, "hops": hops(place.chip[j], host)})
            else:
                sram.append({
                    "tag": int(place.neuron_tags[j]), "chip": int(dest),
                    "hops": hops(place.chip[j], positions[dest]), "cores": int(core_mask),
                })
        tag = int(place.neuron_tags[j])
        neurons.append({
            "id": j, "chip": int(place.chip[j]), "core": int(place.core[j]), "neuron": int(place.neuron[j]),
            "tag": None if tag < 0 else tag, "cam": cam, "sram": sram,
        })
    inputs = [
        {
            "channel": c,
            "tag": None if place.input_tags[c] < 0 else int(place.input_tags[c]),
            "destinations": [{"chip": ch, "cores": m} for ch, m in place.input_destinations[c]],
        }
        for c in range(n_in)
    ]
    out_records = [
        {"index": k, "id": j, "chip": int(place.chip[j]), "core": int(place.core[j]), "neuron": int(place.neuron[j]),
         "tag": int(place.neuron_tags[j])}
        for k, j in enumerate(outputs)
    ]
    data = {
        "format": FORMAT,
        "version": VERSION,
        "dt": float(cell.dt),
        "board": board,
        "cores": core_records,
        "neurons": neurons,
        "inputs": inputs,
        "outputs": out_records,
        "simulation": {
            "input_synapses": list(in_types),
            "input_signed": bool(linear.weight.ndim == 2),
            "recurrent": w_rec is not None,
            "recurrent_synapses": list(rec_types),
        },
    }
    config = ChipConfig(data)

    fan_in = np.array([len(x) for x in place.cam])
    fan_out = np.array([len(x) for x in place.sram])
    ref_sq = float(np.sum(cur_in**2) + (0.0 if cur_rec is None else np.sum(cur_rec**2)))
    err_sq = float(np.sum((quant.quantized[0] - cur_in) ** 2))
    if cur_rec is not None:
        err_sq += float(np.sum((quant.quantized[1] - cur_rec) ** 2))
    n_conn = int((cur_in > 0).sum() + (0 if cur_rec is None else (cur_rec > 0).sum()))
    # Weights above a core's top level (the sum of its four bases) are clipped to it.
    top = levels(quant.base)[:, -1][g]  # (n,) per target neuron
    over = [c / top[None, :, None] for c in ([cur_in] + ([cur_rec] if cur_rec is not None else []))]
    n_clipped = int(sum((o > 1 + 1e-9).sum() for o in over))
    worst_clip = float(max(o.max() for o in over)) if n_conn else 0.0
    n_kept = int((masks_in > 0).sum() + (0 if masks_rec is None else (masks_rec > 0).sum()))
    report = {
        "neurons": n,
        "inputs": n_in,
        "outputs": len(outputs),
        "chips_used": sorted({int(c) for c in place.chip}),
        "cores": [
            {"chip": r["chip"], "core": r["core"], "neurons": int(np.sum(g == c)),
             "weight_error": float(quant.rel_error[c]), "uniform_grid_error": float(quant.uniform_error[c]),
             "base_weights_A": [float(x) for x in quant.base[c]]}
            for c, r in zip(used, core_records)
        ],
        "max_fan_in": {"neuron": int(np.argmax(fan_in)), "connections": int(fan_in.max()), "limit": CAM_ENTRIES},
        "max_fan_out": {"neuron": int(np.argmax(fan_out)), "destinations": int(fan_out.max()), "limit": SRAM_ENTRIES},
        "tags_used": int(max([t for t in place.neuron_tags] + [t for t in place.input_tags] + [-1]) + 1),
        "connections": n_conn,
        "connections_dropped": n_conn - n_kept,
        "weights_clipped": {"connections": n_clipped, "largest_over_top_level": max(worst_clip, 1.0)},
        "weight_error": math.sqrt(err_sq / ref_sq) if ref_sq > 0 else 0.0,
        "bias_rounding_error": bias_err,
        "bias_sharing_error": {"max": float(shared.rel_error.max()), "per_neuron": shared.rel_error.tolist()},
    }
    return Deployment(config, report, tuple(tail), g, quant.base)


def _check_board(board) -> dict:
    def position(p):
        return isinstance(p, (list, tuple)) and len(p) == 2 and all(_is_int(v) for v in p)

    ok = (
        isinstance(board, dict) and isinstance(board.get("chip_positions"), (list, tuple))
        and len(board["chip_positions"]) == CHIPS and all(position(p) for p in board["chip_positions"])
        and position(board.get("host_position"))
    )
    if not ok:
        raise ValueError(
            f"`board` must be {{'chip_positions': [[x, y]] for {CHIPS} chips, 'host_position': [x, y]}} with "
            f"integer positions, got {board!r}"
        )
    return {"chip_positions": [[int(v) for v in p] for p in board["chip_positions"]],
            "host_position": [int(v) for v in board["host_position"]]}


# --------------------------------------------------------------------------------------------
# The file


class ChipConfig:
    """A DYNAP-SE2 configuration (the JSON object in the module docstring), validated on creation.

    ``ChipConfig(data)`` from a dict, :meth:`load` from a file, :meth:`save` / :meth:`to_json`
    to write; ``data`` is the plain JSON object. Two configurations are equal when their JSON
    objects are.
    """

    def __init__(self, data: dict):
        problems = validate_config(data)
        if problems:
            raise ValueError(_problems_message("the configuration", problems))
        # A private copy (through JSON, so it holds only JSON values): editing the caller's dict
        # afterwards cannot make a validated configuration invalid.
        self._data = json.loads(json.dumps(data))

    @property
    def data(self) -> dict:
        """A copy of the JSON object (edit it and build a new :class:`ChipConfig` to change one)."""
        return json.loads(json.dumps(self._data))

    def __eq__(self, other):
        return isinstance(other, ChipConfig) and self._data == other._data

    def __repr__(self):
        d = self._data
        return f"ChipConfig({len(d['neurons'])} neurons on {len(d['cores'])} cores, {len(d['inputs'])} inputs)"

    def to_json(self) -> str:
        """The configuration as JSON text (floats written exactly, so reading it back is exact)."""
        return json.dumps(self._data, indent=1)

    def save(self, path) -> None:
        """Write the configuration to ``path`` (atomically: a partial file never replaces a good one)."""
        tmp = f"{os.fspath(path)}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.to_json())
            f.write("\n")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path) -> "ChipConfig":
        """Read and validate a configuration file; any problem raises ``ValueError`` naming the
        file and what is wrong, and nothing is returned."""
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ValueError(f"{path}: no such configuration file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path}: not a JSON file ({err})") from None
        except OSError as err:
            raise ValueError(f"{path}: cannot be read as a configuration file ({err.strerror})") from None
        problems = validate_config(data)
        if problems:
            raise ValueError(_problems_message(str(path), problems))
        return cls(data)


def _problems_message(what: str, problems: list) -> str:
    shown = problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else [])
    return f"{what} is not a valid DYNAP-SE2 configuration ({len(problems)} problem(s)):\n  " + "\n  ".join(shown)


def _is_int(x, lo=None, hi=None) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and (lo is None or x >= lo) and (hi is None or x <= hi)


def _is_num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate_config(data: Any) -> list:
    """Every problem of a configuration (a dict as read from JSON), as messages naming where it
    is; an empty list means valid. Checks the structure and types, every field's range, the
    limits (256 neurons per core, 64 CAM and 4 SRAM entries per neuron, 11-bit tags), that every
    CAM tag reaches its core from exactly one source, that hops agree with the board, and that
    inputs and outputs refer to what exists."""
    p: list = []
    if not isinstance(data, dict):
        return [f"the top level must be a JSON object, got {type(data).__name__}"]
    if data.get("format") != FORMAT:
        p.append(f"`format` must be {FORMAT!r}, got {data.get('format')!r}")
    if not (_is_int(data.get("version")) and data.get("version") == VERSION):
        p.append(f"`version` must be {VERSION}, got {data.get('version')!r}")
    missing = [k for k in ("dt", "board", "cores", "neurons", "inputs", "outputs") if k not in data]
    if missing:
        return p + [f"missing key(s): {', '.join(missing)}"]
    if not (_is_num(data["dt"]) and data["dt"] > 0):
        p.append(f"`dt` must be a number > 0 (s), got {data['dt']!r}")
    try:
        board = _check_board(data["board"])
    except ValueError as err:
        return p + [str(err)]
    for key in ("cores", "neurons", "inputs", "outputs"):
        if not isinstance(data[key], list):
            return p + [f"`{key}` must be a list, got {type(data[key]).__name__}"]

    constants = _constants()
    cores = {}
    for i, c in enumerate(data["cores"]):
        where = f"cores[{i}]"
        placed = isinstance(c, dict) and _is_int(c.get("chip"), 0, CHIPS - 1)
        if not placed or not _is_int(c.get("core"), 0, CORES_PER_CHIP - 1):
            p.append(f"{where}: needs `chip` in 0..{CHIPS - 1} and `core` in 0..{CORES_PER_CHIP - 1}")
            continue
        key = (c["chip"], c["core"])
        if key in cores:
            p.append(f"{where}: core {key[1]} of chip {key[0]} appears twice")
        cores[key] = c
        biases = c.get("biases")
        if not isinstance(biases, dict):
            p.append(f"{where}: `biases` must be an object of chip bias name -> [coarse, fine]")
        else:
            need = set(BIAS_NAMES.values())
            for name in sorted(need - set(biases)):
                p.append(f"{where}: bias {name} is missing")
            for name in sorted(set(biases) - need):
                p.append(f"{where}: unknown bias {name!r}")
            for name, code in biases.items():
                if name in need and not (
                    isinstance(code, list) and len(code) == 2
                    and _is_int(code[0], 0, COARSE_VALUES - 1) and _is_int(code[1], 0, FINE_VALUES - 1)
                ):
                    p.append(f"{where}: bias {name} must be [coarse 0..5, fine 0..255], got {code!r}")
        sim = c.get("simulation")
        if not isinstance(sim, dict):
            p.append(f"{where}: `simulation` must be an object of the simulator's constants ({', '.join(constants)})")
        else:
            good = True
            for name in constants:
                if name not in sim:
                    p.append(f"{where}: simulation constant {name} is missing")
                    good = False
                elif not (_is_num(sim[name]) and sim[name] > 0):
                    p.append(f"{where}: simulation constant {name} must be a number > 0, got {sim[name]!r}")
                    good = False
            for name in sorted(set(sim) - set(constants)):
                p.append(f"{where}: unknown simulation constant {name!r}; known: {', '.join(constants)}")
                good = False
            if good and isinstance(biases, dict) and not any(q.startswith(where + ": bias") for q in p):
                problem = _physics_problem(c)
                if problem:
                    p.append(f"{where}: {problem}")

    neurons = data["neurons"]
    seen_ids, seen_slots = set(), {}
    per_core_count: dict = {}
    sources_at: dict = {}  # (chip, core) -> tag -> list of source names
    ok_neurons = []
    for i, nr in enumerate(neurons):
        where = f"neurons[{i}]"
        if not isinstance(nr, dict):
            p.append(f"{where}: must be an object")
            continue
        bad = [k for k, lo, hi in (("id", 0, None), ("chip", 0, CHIPS - 1), ("core", 0, CORES_PER_CHIP - 1),
                                   ("neuron", 0, NEURONS_PER_CORE - 1)) if not _is_int(nr.get(k), lo, hi)]
        if bad:
            p.append(f"{where}: {', '.join(bad)} missing or out of range (chip 0..3, core 0..3, neuron 0..255)")
            continue
        where = f"neuron {nr['id']}"
        if nr["id"] in seen_ids:
            p.append(f"{where}: the id appears twice")
        seen_ids.add(nr["id"])
        slot = (nr["chip"], nr["core"], nr["neuron"])
        if slot in seen_slots:
            p.append(f"{where}: chip {slot[0]} core {slot[1]} neuron {slot[2]} is also neuron {seen_slots[slot]}")
        seen_slots[slot] = nr["id"]
        if (nr["chip"], nr["core"]) not in cores:
            p.append(f"{where}: sits on core {nr['core']} of chip {nr['chip']}, which has no entry in `cores`")
        per_core_count[(nr["chip"], nr["core"])] = per_core_count.get((nr["chip"], nr["core"]), 0) + 1
        tag = nr.get("tag")
        if tag is not None and not _is_int(tag, 0, TAGS - 1):
            p.append(f"{where}: `tag` must be null or in 0..{TAGS - 1}, got {tag!r}")
        cam, sram = nr.get("cam"), nr.get("sram")
        if not isinstance(cam, list) or not isinstance(sram, list):
            p.append(f"{where}: `cam` and `sram` must be lists")
            continue
        if len(cam) > CAM_ENTRIES:
            p.append(f"{where}: {len(cam)} CAM entries; a DYNAP-SE2 neuron has {CAM_ENTRIES} "
                     f"({len(cam) - CAM_ENTRIES} too many)")
        if len(sram) > SRAM_ENTRIES:
            p.append(f"{where}: {len(sram)} SRAM entries; a DYNAP-SE2 neuron has {SRAM_ENTRIES} "
                     f"({len(sram) - SRAM_ENTRIES} too many)")
        for k, e in enumerate(cam):
            if not (isinstance(e, dict) and _is_int(e.get("tag"), 0, TAGS - 1) and e.get("dendrite") in DENDRITES
                    and _is_int(e.get("mask"), 0, 15)):
                p.append(f"{where}: cam[{k}] must be {{tag 0..{TAGS - 1}, dendrite {'|'.join(DENDRITES)}, "
                         f"mask 0..15}}, got {e!r}")
        for k, e in enumerate(sram):
            if not isinstance(e, dict) or tag is None or not _is_int(e.get("tag")) or e["tag"] != tag:
                p.append(f"{where}: sram[{k}] must carry the neuron's tag {tag!r}, got {e!r}")
                continue
            hops = e.get("hops")
            if not (isinstance(hops, list) and len(hops) == 2 and all(_is_int(h) for h in hops)):
                p.append(f"{where}: sram[{k}] `hops` must be [dx, dy] integers, got {hops!r}")
                continue
            src = board["chip_positions"][nr["chip"]]
            if "host" in e and e["host"] is not True:
                p.append(f"{where}: sram[{k}] `host` must be true (or absent for a chip entry), got {e['host']!r}")
                continue
            if e.get("host") is True:
                dst = board["host_position"]
                sources_at.setdefault("host", {}).setdefault(tag, []).append(where)
            elif _is_int(e.get("chip"), 0, CHIPS - 1) and _is_int(e.get("cores"), 1, 15):
                dst = board["chip_positions"][e["chip"]]
                for c in range(CORES_PER_CHIP):
                    if e["cores"] >> c & 1:
                        sources_at.setdefault((e["chip"], c), {}).setdefault(tag, []).append(where)
            else:
                p.append(f"{where}: sram[{k}] needs `host: true` or `chip` 0..3 and `cores` 1..15, got {e!r}")
                continue
            if hops != [dst[0] - src[0], dst[1] - src[1]]:
                p.append(f"{where}: sram[{k}] hops {hops} do not lead from chip {nr['chip']} at {src} to {dst}")
        ok_neurons.append(nr)
    for (chip, core), count in per_core_count.items():
        if count > NEURONS_PER_CORE:
            p.append(f"core {core} of chip {chip} has {count} neurons; a core has {NEURONS_PER_CORE}")
    if seen_ids and seen_ids != set(range(len(neurons))):
        p.append(f"neuron ids must be 0..{len(neurons) - 1}, each once")

    channels = set()
    for i, inp in enumerate(data["inputs"]):
        where = f"inputs[{i}]"
        if not (isinstance(inp, dict) and _is_int(inp.get("channel"), 0) and isinstance(inp.get("destinations"), list)):
            p.append(f"{where}: needs `channel` >= 0, `tag` and a list of `destinations`")
            continue
        if inp["channel"] in channels:
            p.append(f"{where}: channel {inp['channel']} appears twice")
        channels.add(inp["channel"])
        tag = inp.get("tag")
        if tag is None:
            if inp["destinations"]:
                p.append(f"{where}: has destinations but no tag")
            continue
        if not _is_int(tag, 0, TAGS - 1):
            p.append(f"{where}: `tag` must be null or in 0..{TAGS - 1}, got {tag!r}")
            continue
        for k, d in enumerate(inp["destinations"]):
            if not (isinstance(d, dict) and _is_int(d.get("chip"), 0, CHIPS - 1) and _is_int(d.get("cores"), 1, 15)):
                p.append(f"{where}: destinations[{k}] must be {{chip 0..3, cores 1..15}}, got {d!r}")
                continue
            for c in range(CORES_PER_CHIP):
                if d["cores"] >> c & 1:
                    name = f"input channel {inp['channel']}"
                    sources_at.setdefault((d["chip"], c), {}).setdefault(tag, []).append(name)
    if channels and channels != set(range(len(data["inputs"]))):
        p.append(f"input channels must be 0..{len(data['inputs']) - 1}, each once")

    for dest, tags in sources_at.items():
        place = "the host" if dest == "host" else f"core {dest[1]} of chip {dest[0]}"
        for tag, names in tags.items():
            if len(names) > 1:
                p.append(f"{place} receives tag {tag} from {len(names)} sources ({', '.join(names)})")
    for nr in ok_neurons:
        arriving = sources_at.get((nr["chip"], nr["core"]), {})
        for k, e in enumerate(nr["cam"]):
            if isinstance(e, dict) and _is_int(e.get("tag")) and e["tag"] not in arriving:
                p.append(
                    f"neuron {nr['id']}: cam[{k}] listens to tag {e['tag']}, which no input or neuron sends to "
                    f"core {nr['core']} of chip {nr['chip']}"
                )

    by_id = {nr["id"]: nr for nr in ok_neurons}
    ids = [o.get("id") for o in data["outputs"] if isinstance(o, dict)]
    for dup in sorted({i for i in ids if ids.count(i) > 1 and _is_int(i)}):
        p.append(f"outputs: neuron {dup} is listed {ids.count(dup)} times")
    for i, o in enumerate(data["outputs"]):
        where = f"outputs[{i}]"
        if not isinstance(o, dict) or not _is_int(o.get("index")) or o["index"] != i or not _is_int(o.get("id")):
            p.append(f"{where}: needs `index` = {i} and the neuron `id`")
            continue
        nr = by_id.get(o["id"])
        if nr is None:
            p.append(f"{where}: neuron {o['id']} does not exist")
            continue
        fields = ("chip", "core", "neuron", "tag")
        if not all(_is_int(o.get(k)) for k in fields) or [o[k] for k in fields] != [nr[k] for k in fields]:
            p.append(f"{where}: chip/core/neuron/tag do not match neuron {o['id']}")
        if not any(isinstance(e, dict) and e.get("host") is True for e in nr["sram"]):
            p.append(f"{where}: neuron {o['id']} is an output but has no SRAM entry to the host")
    if not neurons:
        p.append("`neurons` is empty: a configuration holds at least one neuron")
    sim = data.get("simulation", {})
    if not isinstance(sim, dict):
        p.append("`simulation` must be an object")
    else:
        for key in sorted(set(sim) - {"input_synapses", "input_signed", "recurrent", "recurrent_synapses"}):
            p.append(f"simulation: unknown key {key!r}")
        for key in ("input_synapses", "recurrent_synapses"):
            if key in sim and not (isinstance(sim[key], list) and all(s in _SYNAPSES for s in sim[key])):
                p.append(f"simulation.{key} must list synapse types from {_SYNAPSES}, got {sim[key]!r}")
        for key in ("input_signed", "recurrent"):
            if key in sim and not isinstance(sim[key], bool):
                p.append(f"simulation.{key} must be true or false, got {sim[key]!r}")
        from_neurons = {nr["id"] for nr in ok_neurons if nr.get("tag") is not None and any(
            not e.get("host") for e in nr["sram"] if isinstance(e, dict))}
        if sim.get("recurrent") is False and from_neurons:
            p.append(
                f"simulation.recurrent is false, but {len(from_neurons)} neuron(s) send to other neurons "
                f"(e.g. neuron {min(from_neurons)}): their connections would be lost"
            )
    return p


def _physics_problem(core: dict) -> Optional[str]:
    """What the simulator refuses in a core's currents and constants (None if nothing)."""
    from .._circuit import DynapseParams

    values = dict(core["simulation"])
    io = values["Io"]
    for name in NEURON_BIASES:
        values[name] = max(float(bias_current(name, *core["biases"][BIAS_NAMES[name]])), io)
    try:
        # float32 as the simulator runs it (a current at Io must stay at Io after rounding).
        DynapseParams(**{k: np.asarray([v], dtype=np.float32) for k, v in values.items()}).check()
    except ValueError as err:
        return f"the simulator cannot run these values: {err}"
    return None


# --------------------------------------------------------------------------------------------
# Back into simulation


def _sim_weights(data: dict):
    """(w_in (n_in, n, 4), w_rec (n, n, 4), params per neuron as dict of (n,) arrays)."""
    cores = {(c["chip"], c["core"]): c for c in data["cores"]}
    neurons = sorted(data["neurons"], key=lambda nr: nr["id"])
    n, n_in = len(neurons), len(data["inputs"])
    core_levels, core_values = {}, {}
    for key, c in cores.items():
        io = c["simulation"]["Io"]
        vals = {name: value for name, value in c["simulation"].items()}
        for name in NEURON_BIASES:
            code = c["biases"][BIAS_NAMES[name]]
            vals[name] = max(float(bias_current(name, code[0], code[1])), io)
        base = [float(bias_current(name, *c["biases"][BIAS_NAMES[name]])) for name in WEIGHT_BIASES]
        core_levels[key] = levels(base)
        core_values[key] = vals
    source_of: dict = {}
    for inp in data["inputs"]:
        for d in inp["destinations"]:
            for c in range(CORES_PER_CHIP):
                if d["cores"] >> c & 1:
                    source_of[(d["chip"], c, inp["tag"])] = ("input", inp["channel"])
    for nr in neurons:
        for e in nr["sram"]:
            if e.get("host") is not True:
                for c in range(CORES_PER_CHIP):
                    if e["cores"] >> c & 1:
                        source_of[(e["chip"], c, e["tag"])] = ("neuron", nr["id"])
    w_in, w_rec = np.zeros((n_in, n, 4)), np.zeros((n, n, 4))
    params = {}
    for nr in neurons:
        key = (nr["chip"], nr["core"])
        vals = core_values[key]
        for name, v in vals.items():
            params.setdefault(name, np.zeros(n))[nr["id"]] = v
        for e in nr["cam"]:
            kind, src = source_of[(nr["chip"], nr["core"], e["tag"])]
            target = w_in if kind == "input" else w_rec
            # Two CAM entries with one tag add their currents, as on the chip.
            target[src, nr["id"], DENDRITES.index(e["dendrite"])] += core_levels[key][e["mask"]] / vals["Iscale"]
    return w_in, w_rec, params


def _as_layer_weights(w: np.ndarray, hint: Sequence[str], signed_hint: bool):
    """The simulator's layout of (n_pre, n_post, 4) weights: ``("signed", W, exc, inh)`` when
    one excitatory and one inhibitory type carry everything and no connection has both, else
    ``("synapses", {type: matrix or None})``."""
    used = [s for k, s in enumerate(_SYNAPSES) if np.any(w[..., k] != 0)]
    exc = [s for s in used if s in ("ampa", "nmda")]
    inh = [s for s in used if s in ("gaba", "shunt")]
    hint_exc = [s for s in hint if s in ("ampa", "nmda")]
    hint_inh = [s for s in hint if s in ("gaba", "shunt")]
    e = exc[0] if len(exc) == 1 else (hint_exc[0] if not exc and hint_exc else "ampa")
    i = inh[0] if len(inh) == 1 else (hint_inh[0] if not inh and hint_inh else "gaba")
    both = np.any((w[..., _SYNAPSES.index(e)] > 0) & (w[..., _SYNAPSES.index(i)] > 0))
    if signed_hint and len(exc) <= 1 and len(inh) <= 1 and not both:
        return ("signed", w[..., _SYNAPSES.index(e)] - w[..., _SYNAPSES.index(i)], e, i)
    present = set(used) | set(hint)
    return ("synapses", {s: (w[..., k] if s in present else None) for k, s in enumerate(_SYNAPSES)})


def to_network(config, *, mismatch: Optional[float] = None, key=None, **options):
    """The spikax network a configuration runs: ``Sequential(DynapseLinear, Recurrent(DynapSim))``
    (or ``DynapSim`` without recurrent connections), neurons in the order of their ``id``.

    Weights are the quantised currents over the core's ``Iscale``; bias currents are the codes'
    currents (floored at the dark current ``Io``, where the simulator's currents start), one set
    per core. ``mismatch`` (percent) draws a chip from ``key``
    (:class:`spikax.train.ChipMismatch`: every bias, capacitance and weight). ``options`` go to
    :class:`~spikax.devices.dynapse.DynapSim` (``method``, ``spike_fn``, ...). A network whose
    parameters are exactly representable comes back identical through :func:`deploy` (except
    where bases of a few pA add up to one level in several ways: the weights are then within a
    float32 step or two).
    """
    import jax.numpy as jnp

    import spikax as sx

    from .. import DynapseLinear, DynapseParams, DynapSim, Synapses

    if isinstance(config, (str, os.PathLike)):
        config = ChipConfig.load(config)
    if not isinstance(config, ChipConfig):
        config = ChipConfig(config)
    data = config.data
    w_in, w_rec, values = _sim_weights(data)
    sim = data.get("simulation", {})
    n = w_rec.shape[0]
    params = DynapseParams(**{name: jnp.asarray(v, dtype=jnp.float32) for name, v in values.items()})
    cell = DynapSim(params, dt=data["dt"], **options)
    layout = _as_layer_weights(w_in, sim.get("input_synapses", ()), sim.get("input_signed", True))
    if layout[0] == "signed":
        linear = DynapseLinear(jnp.asarray(layout[1], dtype=jnp.float32), excitatory=layout[2], inhibitory=layout[3])
    else:
        stacked = np.stack([v if v is not None else np.zeros_like(w_in[..., 0]) for v in layout[1].values()], -1)
        linear = DynapseLinear(jnp.asarray(stacked, dtype=jnp.float32))
    recurrent = sim.get("recurrent", bool(np.any(w_rec)))
    if recurrent and n:
        rec = _as_layer_weights(w_rec, sim.get("recurrent_synapses", ()) or ("ampa",), False)[1]
        w = Synapses(**{s: None if v is None else jnp.asarray(v, dtype=jnp.float32) for s, v in rec.items()})
        model = sx.Sequential(linear, sx.Recurrent(cell, w))
    else:
        model = sx.Sequential(linear, cell)
    if mismatch is not None:
        from ....train._chip import ChipMismatch

        model = ChipMismatch(mismatch)(model, key=key)
    return model


def format_report(report: dict) -> str:
    """The :func:`deploy` report as a few lines of text (what ``spikax deploy`` prints)."""
    cores = report["cores"]
    occupancy = ", ".join(f"chip {c['chip']} core {c['core']}: {c['neurons']}" for c in cores)
    worst_bias = max(report["bias_rounding_error"].items(), key=lambda kv: kv[1])
    lines = [
        f"{report['neurons']} neurons, {report['inputs']} input channels, {report['outputs']} outputs on "
        f"{len(report['chips_used'])} chip(s) and {len(cores)} core(s) ({occupancy} neurons)",
        f"largest fan-in {report['max_fan_in']['connections']} (neuron {report['max_fan_in']['neuron']}; limit "
        f"{report['max_fan_in']['limit']}), largest fan-out {report['max_fan_out']['destinations']} SRAM entries "
        f"(neuron {report['max_fan_out']['neuron']}; limit {report['max_fan_out']['limit']}), "
        f"{report['tags_used']} tags",
        f"weights: {100 * report['weight_error']:.2f} % relative error ||W_q - W||/||W|| (per core "
        + ", ".join(f"{100 * c['weight_error']:.2f}" for c in cores)
        + " %; best uniform 4-bit grid "
        + ", ".join(f"{100 * c['uniform_grid_error']:.2f}" for c in cores)
        + f" %); {report['connections_dropped']} of {report['connections']} connections round to zero and are left out"
        + (f", {report['weights_clipped']['connections']} are clipped to their core's top level (the largest by "
           f"{report['weights_clipped']['largest_over_top_level']:.2f}x)" if report["weights_clipped"]["connections"]
           else ""),
        f"biases: rounding to codes changes a current by at most {100 * worst_bias[1]:.2f} % ({worst_bias[0]}); "
        f"sharing one bias set per core by at most {100 * report['bias_sharing_error']['max']:.2f} %",
    ]
    return "\n".join(lines)
