"""The EndpointSlice mirroring controller: slices for Services whose Endpoints users write.

A Service without a selector has no pods to build slices from; its endpoints live in a
hand-written ``v1.Endpoints`` object. Readers that only watch EndpointSlices would never see
them, so this controller mirrors each such Endpoints into at most one slice per address
family and port set. :mod:`sliceplane.mirroring.planner` holds the pure decision.
"""
