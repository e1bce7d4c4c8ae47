"""Embedded Kubernetes-compatible API server: storage-backed REST handlers for real clients."""
