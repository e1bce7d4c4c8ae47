"""The shared async client of the Kubernetes API (embedded or real server)."""
