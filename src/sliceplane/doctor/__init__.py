"""``sliceplane doctor``: why a Service gets no traffic, with evidence and a fix.

Checks are pure functions over a :class:`~sliceplane.doctor.snapshot.Snapshot` of live
objects (Service, pods, nodes, EndpointSlices, Endpoints, Events) and produce
:class:`~sliceplane.doctor.findings.Finding` s; the desired slices are recomputed with the
controllers' own planners and diffed against the live ones. Only
:mod:`sliceplane.doctor.gather` talks to the API, and only with get and list.
"""
