"""The local cluster's workloads: what turns a Deployment into running, ready pods.

Three rooms that never import one another (an import-linter ``independence`` contract
keeps it so), sharing only :mod:`.podstate`:

* :mod:`.apps`: the Deployment and ReplicaSet controllers (upstream
  ``pkg/controller/deployment`` and ``replicaset``), ownership and adoption;
* :mod:`.scheduler`: binds pending pods to nodes, spreading them over zones;
* :mod:`.kubelet`: the node side: simulated nodes and their heartbeats, pod status,
  probes, the process runtime and pod IP addresses.
"""
