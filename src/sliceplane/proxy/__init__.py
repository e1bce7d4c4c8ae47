"""``sliceplane proxy``: a kube-proxy that routes packets from EndpointSlices.

Pure core (slice cache, Service ports, traffic policy, renderers for nftables, iptables and
IPVS) with thin backends (``nft -f``, ``iptables-restore``, fakes, userspace forwarding).
It reaches the API only through :mod:`sliceplane.client` (checked by import-linter).
"""
