"""A small default-scheduler for the local cluster: pending pods get a node.

Why: ``sliceplane up`` runs Deployments on simulated nodes, and EndpointSlices only get
zones, hints and node names right if pods land on nodes the way kube-scheduler lands them:
on Ready, schedulable nodes whose labels and taints admit the pod, spread over zones and
then nodes. This package is that, and no more (no resource requests, no inter-pod affinity,
no preemption).

Shape: the placement is pure — :func:`.placement.choose_node` / :func:`.placement.place`
take the pod, the nodes and per-node pod counts and return a node name or the reasons
nothing fits, with upstream's ``FitError`` message ("0/3 nodes are available: 1 node(s) were
unschedulable, 2 node(s) didn't match Pod's node affinity/selector."). ``place`` scores
every node; with hundreds of nodes that dominated the local cluster's profile, so
:func:`.placement.place_indexed` gives the same answer from a
:class:`~sliceplane.workloads.scheduler.spreadindex.SpreadIndex` (nodes by zone and pod
count) for pods without node constraints, and falls back to ``place`` for the rest.
:class:`.scheduler.Scheduler` is the thin loop around it: informer handlers enqueue pod
keys, a worker places one pod, records the placement in :class:`.podcounts.PodCounts`
*before* binding (upstream's "assumed pod", so the next pod sees it even though the watch
has not echoed it yet) and POSTs ``pods/binding`` — the only way to set ``spec.nodeName``
after creation (a PATCH is refused by pod update validation, as upstream). The binding sets
``PodScheduled=True`` server-side, as upstream's binding storage does; on failure the
scheduler sets ``PodScheduled=False`` (reason ``Unschedulable``) and records a
``FailedScheduling`` Warning event, then parks the pod until a node or a bound pod changes
(or ``retry_unschedulable_after`` passes).

Filters (:mod:`.filters`), in upstream's plugin order, stop at the first failure per node:

1. ``NodeUnschedulable``: ``spec.unschedulable`` (tolerable via
   ``node.kubernetes.io/unschedulable:NoSchedule``);
2. ``TaintToleration``: NoSchedule/NoExecute taints the pod does not tolerate. The node
   lifecycle controller is not simulated, so the taints it would add are derived from the
   Ready condition: ``node.kubernetes.io/not-ready`` (False or missing) and
   ``node.kubernetes.io/unreachable`` (Unknown), both NoSchedule;
3. ``NodeAffinity``: ``spec.nodeSelector`` and required node affinity;
4. ``NodeResourcesFit``: only the pod count against ``allocatable.pods``.

Scoring spreads, in this order: fewest pods of the pod's *spread group* (same namespace
and controller owner, or same labels for bare pods; terminating pods not counted, as
upstream's topology spreading) per zone, then per node; then fewest pods in total per
zone, then per node; then node name, so ties break deterministically.
"""
