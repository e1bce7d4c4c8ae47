"""The local cluster: `sliceplane up` and its parts supervised together."""
