"""The Deployment controller: roll a pod template out through ReplicaSets, and report it.

Why: a Deployment is the object users write (``kubectl apply``, ``kubectl scale``,
``kubectl rollout status``); it owns one ReplicaSet per template version and only ever
decides how many replicas each should have. This module reproduces upstream's
``pkg/controller/deployment`` behaviour so those kubectl commands print what they print
against a real cluster:

* the new ReplicaSet is ``<name>-<pod-template-hash>``
  (:mod:`sliceplane.workloads.apps.podtemplatehash`), with the
  hash added to its selector and template labels, a controller reference, the
  Deployment's annotations (minus the skipped ones), ``deployment.kubernetes.io/revision``
  (max old revision + 1) and the ``desired-replicas``/``max-replicas`` annotations;
* **RollingUpdate** scales the new ReplicaSet up to at most ``replicas + maxSurge`` pods in
  total, and old ones down only while ``replicas - maxUnavailable`` stay available,
  counting the new ReplicaSet's *available* replicas (surge rounds percentages up,
  unavailability down; both zero means one unavailable is allowed);
* **Recreate** scales every old ReplicaSet to zero, waits until no old pod is left, then
  creates or scales up the new one;
* a change of ``spec.replicas`` alone is a *scaling event*: ReplicaSets are resized
  proportionally (the ``max-replicas`` annotation records what each was sized for);
* status carries observedGeneration, replicas, updatedReplicas, readyReplicas,
  availableReplicas, unavailableReplicas and the ``Available`` / ``Progressing``
  conditions with upstream's reasons and messages (including ``ProgressDeadlineExceeded``);
* old ReplicaSets beyond ``revisionHistoryLimit`` that have been scaled to zero are deleted.

:func:`.planner.plan_deployment` is pure: it walks upstream's sync flow over copies of the
cached objects and returns every write it would make (:class:`.sync.DeploymentPlan`). Where
upstream writes the same object twice in one sync, the plan holds its final state once.
:class:`.controller.DeploymentController` maps informer events to Deployment keys and
applies plans. The modules follow upstream's files: :mod:`.sync` (shared steps, scaling,
cleanup), :mod:`.rolling`, :mod:`.recreate`, :mod:`.progress` (status and conditions),
:mod:`.util` (arithmetic, revisions, annotations), :mod:`.planner` and :mod:`.controller`.

Known differences from upstream: the hash value (see
:mod:`sliceplane.workloads.apps.podtemplatehash`); rollback via ``spec.rollbackTo`` (long
gone from apps/v1) and owned ReplicaSets that stop matching the selector are not released;
the embedded API server drops ``metadata`` from status writes, so the revision annotation
is also written with a merge patch of the Deployment, which bumps ``metadata.generation``
once per new revision (observed by the following sync).
"""
