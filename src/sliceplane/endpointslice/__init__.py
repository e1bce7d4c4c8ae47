"""The EndpointSlice controller: pure planning of slices per Service, and its wiring."""
