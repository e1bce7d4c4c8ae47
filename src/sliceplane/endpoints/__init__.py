"""The legacy Endpoints controller: one ``v1.Endpoints`` object per selector Service.

EndpointSlices replaced Endpoints, but older clients and tools still read the old object,
so it is still maintained, with upstream's quirks (one address family, 1000-address cap
with an over-capacity annotation, canonical subset packing). :mod:`.planner` decides the
write; :mod:`.subsets` holds the canonical packing shared with the mirroring controller.
"""
