"""Simulators of neuromorphic devices."""
