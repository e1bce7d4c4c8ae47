"""``pods/exec``, ``pods/attach`` and ``pods/portforward``: the streaming subresources (see
:mod:`.handler`)."""
