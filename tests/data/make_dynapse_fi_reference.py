"""Regenerate ``dynapse_fi_reference.json``: the scipy reference's spike times over the f-I sweep.

The independent reference (``tests/dynapse_reference.py``: adaptive RK45 with event location)
takes ~14 s for the whole sweep, so the suite reads its result from this file;
``test_the_stored_fi_reference_matches_the_reference_code`` recomputes one point live, so the file
cannot drift from the reference code. Run from ``tests/``: ``python data/make_dynapse_fi_reference.py``.
"""

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import dynapse_reference as ref  # noqa: E402

FI_SWEEP = [1.5e-11, 2e-11, 5e-11, 1e-10, 3e-10, 1e-9, 3e-9, 1e-8]
DURATION = 1.5

if __name__ == "__main__":
    c = ref.constants()
    out = {
        "source": "tests/dynapse_reference.py (scipy solve_ivp RK45, event location), default parameters",
        "duration_s": DURATION,
        "spike_times_s": {repr(idc): [float(t) for t in ref.simulate(dict(c, Idc=idc), DURATION)] for idc in FI_SWEEP},
    }
    path = pathlib.Path(__file__).with_name("dynapse_fi_reference.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
