"""An independent reference for the DYNAP-SE2 neuron: scipy's adaptive solver with event location.

Float64 throughout. The membrane equation is integrated in z = Imem + Igain ln(Imem/Io) by
``solve_ivp`` (RK45, rtol 1e-9) between input arrivals, with the threshold crossing found by its
event locator; synaptic and AHP currents are evaluated in closed form as sums of jumps and
exponential decays floored at Io. After a spike the membrane is held at Ireset for t_ref.
"""

from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from spikax.devices.dynapse import DEFAULTS

SYN = ("ampa", "nmda", "gaba", "shunt")


def constants(**overrides):
    p = dict(DEFAULTS)
    p.update(overrides)
    k = (p["kappa_n"] + p["kappa_p"]) / 2
    c = dict(p)
    c["kappa"] = k
    c["tau_mem"] = p["C_mem"] * p["Ut"] / (k * p["Itau_mem"])
    c["t_pulse"] = p["Vth"] * p["C_pulse"] / p["Ipulse"]
    for s in SYN:
        tau = p[f"C_{s}"] * p["Ut"] / (k * p[f"Itau_{s}"])
        c[f"tau_{s}"] = tau
        c[f"jump_{s}"] = p[f"Igain_{s}"] / p[f"Itau_{s}"] * p["Iscale"] * (1 - np.exp(-c["t_pulse"] / tau))
    c["tau_ahp"] = p["C_ahp"] * p["Ut"] / (k * p["Itau_ahp"])
    t_pulse_ahp = p["Vth"] * p["C_pulse_ahp"] / p["Ipulse_ahp"]
    c["jump_ahp"] = p["Igain_ahp"] / p["Itau_ahp"] * p["Iw_ahp"] * (1 - np.exp(-t_pulse_ahp / c["tau_ahp"]))
    c["t_ref"] = p["Vth"] * p["C_ref"] / p["Iref"]
    return c


def dpi_current(c, tau, jumps, t):
    """max(Io, .) decays with jumps (list of (time, size)) at and before t."""
    current, last = c["Io"], 0.0
    for te, size in jumps:
        if te > t:
            break
        current = max(c["Io"], current * np.exp(-(te - last) / tau)) + size
        last = te
    return max(c["Io"], current * np.exp(-(t - last) / tau))


def imem_of_z(c, z):
    Io, Ig = c["Io"], c["Igain_mem"]
    if z <= Io:
        return Io
    u = min(z / Ig, np.log(z / Io))
    for _ in range(60):
        e = Io * np.exp(u)
        step = (e + Ig * u - z) / (e + Ig)
        u -= step
        if abs(step) < 1e-15:
            break
    return Io * np.exp(max(u, 0.0))


def z_of(c, imem):
    return imem + c["Igain_mem"] * np.log(imem / c["Io"])


def rhs(c, imem, syn, iahp):
    nmda = syn["nmda"] / (1 + c["If_nmda"] / imem)
    i_in = max(c["Idc"] + syn["ampa"] + nmda - syn["shunt"], 0.0)
    leak = iahp + syn["gaba"]
    i_inf = c["Igain_mem"] / c["Itau_mem"] * (i_in - leak - c["Itau_mem"])
    i_fb = c["Io"] * (imem / c["Io"]) ** (c["kappa"] / (c["kappa"] + 1))
    return i_inf + i_fb / c["Itau_mem"] * (imem + c["Igain_mem"]) - imem * (1 + leak / c["Itau_mem"])


def simulate(c, duration, inputs=()):
    """Spike times (s) of one neuron.

    ``inputs``: iterable of (time, synapse name, x) arrivals; a unit x is a weight current Iscale.
    """
    inputs = sorted(inputs)
    syn_jumps = {s: [(t, x * c[f"jump_{s}"]) for t, name, x in inputs if name == s] for s in SYN}
    breaks = sorted({t for t, _, _ in inputs if 0 < t < duration} | {duration})
    spikes, ahp_jumps = [], []
    z_thr = z_of(c, c["Ispkthr"])

    def dz(t, y):
        imem = imem_of_z(c, y[0])
        syn = {s: dpi_current(c, c[f"tau_{s}"], syn_jumps[s], t) for s in SYN}
        iahp = dpi_current(c, c["tau_ahp"], ahp_jumps, t)
        r = rhs(c, imem, syn, iahp) / c["tau_mem"]
        return [0.0 if (y[0] <= c["Io"] and r < 0) else r]

    def crossing(t, y):
        return y[0] - z_thr

    crossing.terminal, crossing.direction = True, 1
    t, z = 0.0, z_of(c, c["Io"])
    while t < duration:
        end = next(b for b in breaks if b > t + 1e-15)
        sol = solve_ivp(dz, (t, end), [z], events=crossing, rtol=1e-9, atol=1e-22, max_step=2e-4)
        if sol.status == 1:
            ts = float(sol.t_events[0][0])
            spikes.append(ts)
            ahp_jumps.append((ts, c["jump_ahp"]))
            t, z = ts + c["t_ref"], z_of(c, c["Ireset"])
        else:
            t, z = end, max(float(sol.y[0, -1]), c["Io"])
    return np.array([s for s in spikes if s < duration])
