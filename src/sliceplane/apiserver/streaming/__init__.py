"""``pods/exec`` and ``pods/portforward``: the streaming subresources (see :mod:`.handler`)."""
