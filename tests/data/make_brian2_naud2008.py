"""Generate ``brian2_naud2008.json``: Brian2's spike steps for the eight AdEx patterns of Naud et al. (2008).

Brian2 2.9 does not import with NumPy 2 (it uses ``ndarray.ptp``) while JAX needs NumPy 2, so
the reference is produced in a separate environment and stored here::

    python -m venv /tmp/vb2 && /tmp/vb2/bin/pip install "numpy<2" brian2
    /tmp/vb2/bin/python tests/data/make_brian2_naud2008.py

Forward Euler (``method="euler"``) at dt = 0.1 ms for 600 ms from V = E_L, w = 0, spike when
V > 0 mV, then V = V_reset and w += b; the numpy code-generation target (no compiler).
The parameters (Naud et al. 2008, Table 1, SI units) are stored with the result, and the test
checks them against ``spikax.neurons.NAUD2008``.
"""

import json
from pathlib import Path

import brian2 as b2
import numpy as np

# name: C (pF), g_L (nS), E_L (mV), V_T (mV), Delta_T (mV), a (nS), tau_w (ms), b (pA), V_reset (mV), I (pA)
TABLE = {
    "tonic spiking": (200, 10, -70, -50, 2, 2, 30, 0, -58, 500),
    "adaptation": (200, 12, -70, -50, 2, 2, 300, 60, -58, 500),
    "initial burst": (130, 18, -58, -50, 2, 4, 150, 120, -50, 400),
    "regular bursting": (200, 10, -58, -50, 2, 2, 120, 100, -46, 210),
    "delayed accelerating": (200, 12, -70, -50, 2, -10, 300, 0, -58, 300),
    "delayed regular bursting": (100, 10, -65, -50, 2, -10, 90, 30, -47, 110),
    "transient spiking": (100, 10, -65, -50, 2, 10, 90, 100, -47, 180),
    "irregular spiking": (100, 12, -60, -50, 2, -11, 130, 30, -48, 160),
}
SCALE = (1e-12, 1e-9, 1e-3, 1e-3, 1e-3, 1e-9, 1e-3, 1e-12, 1e-3, 1e-12)
NAMES = ("C", "g_L", "E_L", "V_T", "Delta_T", "a", "tau_w", "b", "V_reset", "I")
DT, DURATION = 1e-4, 0.6

EQS = """
dv/dt = (-g_L*(v - E_L) + g_L*Delta_T*exp((v - V_T)/Delta_T) - w + I)/(C*second) : 1
dw/dt = (a*(v - E_L) - w)/(tau_w*second) : 1
"""


def run(params):
    b2.start_scope()
    b2.defaultclock.dt = DT * b2.second
    group = b2.NeuronGroup(1, EQS, threshold="v > 0", reset="v = V_reset; w += b", method="euler",
                           namespace=dict(params))
    group.v = params["E_L"]
    group.w = 0.0
    monitor = b2.SpikeMonitor(group)
    b2.run(DURATION * b2.second)
    return [int(k) for k in np.round(np.asarray(monitor.t / b2.second) / DT)]


def main():
    b2.prefs.codegen.target = "numpy"
    out = {"dt": DT, "duration": DURATION, "brian2": b2.__version__, "patterns": {}}
    for name, row in TABLE.items():
        params = {k: v * s for k, v, s in zip(NAMES, row, SCALE)}
        out["patterns"][name] = {"params": params, "spike_steps": run(params)}
    path = Path(__file__).with_name("brian2_naud2008.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
