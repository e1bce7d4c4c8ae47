"""Cluster DNS from Services and EndpointSlices (``sliceplane dns``; docs/dns.md).

``zone`` (an immutable snapshot built from API objects), ``resolver`` (what a name
answers, pure) and ``wire`` (bytes in, bytes out, pure) are importable on their own, by
the doctor among others; ``server`` is the asyncio glue and the informers.
"""
