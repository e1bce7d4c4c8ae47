"""The apps controllers: Deployments roll pod templates out through ReplicaSets, and
ReplicaSets keep their pods' count (upstream ``pkg/controller/deployment`` and
``pkg/controller/replicaset``). :mod:`.ownership` is how both find and adopt what they own."""
