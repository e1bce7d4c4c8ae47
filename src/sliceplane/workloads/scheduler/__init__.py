"""The local scheduler: pure placement (filters, zone spreading, upstream's FitError text)
and the loop that binds pending pods through ``pods/binding``."""
