"""Simulators of neuromorphic hardware: :mod:`spikax.devices.dynapse` (DYNAP-SE2)."""
