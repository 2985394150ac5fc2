"""The place for NIR import and export (``nir`` package; Pedersen et al. 2024, doi:10.1038/s41467-024-52259-9).

Empty so far. spikax's parameter names already are NIR's (``tau_mem``, ``tau_syn``, ``tau``,
``r``, ``v_leak``, ``v_threshold``, ``v_reset``), so an NIR node's fields map onto a model's
``Params`` one to one; the graph, the time discretisation and the exporters' conventions go here.
"""
