"""What the endpoint controllers share, and what the proxy and DNS will share with them.

The EndpointSlice, mirroring and Endpoints controllers never import one another; the
pieces all of them need live here, one layer below them and above the kind-agnostic
:mod:`sliceplane.machinery`:

* :mod:`.podservices`: which Services select a pod, and which pod changes matter;
* :mod:`.triggertime`: the ``last-change-trigger-time`` annotation, computed and read;
* :mod:`.plan`: the plan a planner returns (ordered writes, events, counts).
"""
