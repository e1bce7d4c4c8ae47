"""``sliceplane report``: measured reports (today ``scale``, the case for EndpointSlices).

:mod:`.workload` builds the Service's objects with the controllers' own pure planners,
:mod:`.watchers` counts what real watch connections receive, :mod:`.scale` runs the
scenarios against the embedded API server, :mod:`.output` writes the Markdown and the
plots (``docs/scale/``).
"""
