"""The node side of the local cluster: simulated nodes (Node objects, Lease heartbeats,
failure), the pod status a kubelet writes, probes, the process runtime that runs pods as
local processes, and the pod IP ranges of nodes."""
