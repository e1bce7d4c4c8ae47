"""Running controllers as one process: selection, shared informers, leader election,
metrics and health endpoints (sliceplane's kube-controller-manager)."""
