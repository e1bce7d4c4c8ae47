"""Workloads for the local cluster: deployments, scheduler, simulated nodes and their pods."""
