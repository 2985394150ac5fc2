"""How a continuous-time NIR graph becomes a discrete-time spikax network: named conventions."""

from __future__ import annotations

import dataclasses
from ..._validate import check_choice
from ...neurons._cubalif import INTEGRATORS

__all__ = ["PRESETS", "Convention", "convention"]

RESETS = ("to_v_reset", "subtract")


@dataclasses.dataclass(frozen=True)
class Convention:
    """The discrete-time update given to a graph's neurons (see :mod:`spikax.neurons._cubalif`).

    - ``integrator``: ``"euler"``, ``"exact"`` or ``"decay"``.
    - ``current``: the membrane is driven by the synaptic current before (``"old"``) or after
      (``"new"``) this step's update.
    - ``reset``: ``"to_v_reset"`` (NIR's only reset: the node's ``v_reset``) or ``"subtract"``
      (the threshold is subtracted; NIR cannot record this, so a file written with it says
      ``v_reset = 0``).
    - ``reset_at``: ``"same"`` step or ``"next"`` step (snnTorch).
    - ``fire_at``: ``">"`` or ``">="``.
    - ``v_init``: where a spiking neuron's ``v`` starts: ``"v_reset"`` (0 when subtractive) or
      ``"v_leak"`` (at rest, Norse). Leaky integrators always start at ``v_leak``.
    - ``time``: ``"s"`` (time constants and ``dt`` in seconds) or ``"step"``: the file's
      parameters are per step (Sinabs writes ``IF(r=1)`` for $v \\mathrel{+}= x$ each step), so the
      equations take $dt = 1$ whatever the physical step.
    - ``gain``: ``"r"`` (NIR: the input enters through ``r`` and ``w_in``) or ``"unit"`` (each
      step adds its weighted input to the current, or to the membrane without a synapse, with
      gain 1: Rockpool, whose exporter stores $\\tau e^{-dt/\\tau}/dt$ in ``r`` and whose
      importer reads ``dt`` back from it).
    - ``leak``: ``"v_leak"`` (NIR) or ``"bias"`` (``v_leak`` is a constant added per step, Rockpool).
    """

    name: str
    integrator: str = "euler"
    current: str = "old"
    reset: str = "to_v_reset"
    reset_at: str = "same"
    fire_at: str = ">"
    v_init: str = "v_reset"
    time: str = "s"
    gain: str = "r"
    leak: str = "v_leak"
    why: str = ""

    def __post_init__(self):
        check_choice("integrator", self.integrator, INTEGRATORS)
        check_choice("current", self.current, ("old", "new"))
        check_choice("reset", self.reset, RESETS)
        check_choice("reset_at", self.reset_at, ("same", "next"))
        check_choice("fire_at", self.fire_at, (">", ">="))
        check_choice("v_init", self.v_init, ("v_reset", "v_leak"))
        check_choice("time", self.time, ("s", "step"))
        check_choice("gain", self.gain, ("r", "unit"))
        check_choice("leak", self.leak, ("v_leak", "bias"))

    def replace(self, **changes) -> "Convention":
        """A copy with some choices changed (named ``"<preset>+changes"``)."""
        changes = {k: v for k, v in changes.items() if v is not None and getattr(self, k) != v}
        if not changes:
            return self
        label = ",".join(f"{k}={v}" for k, v in changes.items())
        return dataclasses.replace(self, name=f"{self.name}+{label}", **changes)


#: The named update conventions (:class:`Convention`) of the libraries that exchange NIR graphs.
PRESETS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "nir",
            why="NIR's reference: forward Euler of the node's equations, reset to v_reset in the step it fires",
        ),
        Convention(
            "exact",
            integrator="exact",
            why="exponential integration with the input held over each step (Nengo's LIF); dt-independent for "
            "slow inputs",
        ),
        Convention(
            "norse",
            current="new",
            v_init="v_leak",
            why="Norse 1.1 (its LIFCell): forward Euler, the membrane driven by the current after this step's "
            "input, spike at v > threshold, reset to v_reset in the same step, v starting at v_leak",
        ),
        Convention(
            "snntorch",
            current="new",
            reset="subtract",
            reset_at="next",
            why="snnTorch 1.0: its exporter writes tau = dt/(1-beta), r = tau_mem/dt, w_in = tau_syn/dt for "
            "dt = 1e-4, so Euler at that dt is its update I = alpha I + x, v = beta v + I (the new current); "
            "the reset (default subtract, not recorded in the file) is applied one step later",
        ),
        Convention(
            "rockpool",
            integrator="decay",
            current="new",
            reset="subtract",
            gain="unit",
            leak="bias",
            why="Rockpool 3: exact decay, the weighted input added with gain 1, v_leak as a per-step bias, "
            "subtractive reset; r only encodes dt",
        ),
        Convention(
            "sinabs",
            reset="subtract",
            fire_at=">=",
            time="step",
            why="Sinabs: IF layers integrate one input unit per step (r = 1 means v += x), spike at v >= "
            "threshold (one spike per step, as the NIR paper's reference counts), subtractive reset by default",
        ),
    )
}


def convention(preset, **changes) -> Convention:
    """``preset`` (a name in :data:`PRESETS` or a :class:`Convention`) with ``changes`` applied."""
    if isinstance(preset, Convention):
        base = preset
    elif isinstance(preset, str) and preset in PRESETS:
        base = PRESETS[preset]
    else:
        raise ValueError(f"`preset` must be one of {sorted(PRESETS)} or a Convention, got {preset!r}")
    return base.replace(**changes)


def preset_table() -> str:
    """The presets as a Markdown table (for the docs and ``spikax nir --presets``)."""
    fields = ("integrator", "current", "reset", "reset_at", "fire_at", "v_init", "time", "gain", "leak")
    rows = ["| preset | " + " | ".join(fields) + " | why |", "|---" * (len(fields) + 2) + "|"]
    for c in PRESETS.values():
        rows.append(f"| {c.name} | " + " | ".join(str(getattr(c, f)) for f in fields) + f" | {c.why} |")
    return "\n".join(rows)
