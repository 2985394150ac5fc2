"""Exchange with other tools: :mod:`spikax.interop.nir` (the Neuromorphic Intermediate Representation)."""
