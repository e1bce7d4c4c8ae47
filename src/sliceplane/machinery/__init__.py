"""Kind-agnostic controller machinery: clock, rate limiters, work queue, informer, leases.

Everything here is independent of any particular resource kind and of the transport: the
informer reads through a small ``ListWatcher`` protocol and leader election through a
``LeaseClient`` protocol, so the same code runs against the embedded API server, a real
kube-apiserver, or the in-memory fakes used by unit tests.

All waiting goes through an injected :class:`~sliceplane.machinery.clock.Clock`. Production
code passes :class:`~sliceplane.machinery.clock.RealClock`; tests pass
:class:`~sliceplane.machinery.clock.FakeClock` and move time explicitly, so no test ever
sleeps on the wall clock.
"""
