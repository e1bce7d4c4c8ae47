"""The ReplicaSet controller: keep ``spec.replicas`` pods of a template alive, and say so.

Why: a Deployment only ever decides *how many* pods each of its ReplicaSets should have;
this controller turns those numbers into Pods and reports back ``status`` (replicas,
fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration), which is what
the Deployment controller gates its rollouts on and what ``kubectl get rs`` prints.

Shape (as the EndpointSlice controller): informer handlers only map objects to ReplicaSet
keys; :meth:`.controller.ReplicaSetController.sync` reads the caches, asks the pure
:func:`.planner.plan_replicaset` for pods to create, pods to delete and the new status, and
applies that with the client. Behaviour follows upstream ``pkg/controller/replicaset``:

* pods are created from the template with ``generateName: <rs>-``, the template's labels,
  annotations and finalizers, and a controller ownerReference (apps/v1 ReplicaSet,
  ``controller`` and ``blockOwnerDeletion`` true); at most ``burst_replicas`` per sync, in
  slow-start batches (1, 2, 4, ...) that stop at the first failure;
* surplus pods are deleted in upstream's ``ActivePodsWithRanks`` order: unscheduled,
  then pending/unknown, then not ready, then lower ``pod-deletion-cost``, then doubled-up
  on a node, then ready for less time, then more restarts, then newer (the last two time
  comparisons in log2 buckets, as with ``LogarithmicScaleDown``);
* expectations (:mod:`sliceplane.workloads.apps.expectations`) stop a sync from managing
  replicas while its own creations or deletions have not reached the pod cache yet; the
  status is still updated;
* orphaned pods matching the selector are adopted (patched to carry the controller
  reference); owned pods that stopped matching are not released (they simply stop being
  counted), a deviation from upstream's ``ControllerRefManager``.
"""
