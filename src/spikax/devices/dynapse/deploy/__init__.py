"""The place for the DYNAP-SE2 deployment tools, kept apart from the simulation.

Empty so far. The tools that turn a trained network into a chip configuration (bias codes,
4-bit weights, core placement, routing) and back go here; they will read and write
:class:`spikax.devices.dynapse.DynapseParams` and the network's weights, the contract every
stage shares. The simulation never imports this package (a test checks it).
"""
