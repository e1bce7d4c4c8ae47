"""sliceplane: Kubernetes Service discovery built on EndpointSlices.

The package is layered (see docs/architecture.md): ``api`` holds wire types, errors and
validation; ``storage`` and ``apiserver`` serve objects; ``client`` and ``machinery`` are
what every component uses to reach an API server, embedded or real.
"""

__version__ = "0.1.0"
