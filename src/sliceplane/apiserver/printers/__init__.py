"""Server-side ``meta.k8s.io/v1`` Table printing for ``kubectl get``.

Why this exists: kubectl does not format rows itself. ``kubectl get`` asks the API server
for a Table (``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) and prints the
``columnDefinitions`` and ``rows[].cells`` it receives, hiding priority-1 columns unless
``-o wide`` is given. A server that answers with a plain list silently gets a NAME/AGE
listing. To look like a real control plane to kubectl, the embedded API server must
build the same columns and the same cell strings as upstream's
``pkg/printers/internalversion`` handlers, which is what this module does for the
resources sliceplane serves.

Behaviour notes (all mirror upstream):

* The upstream REST layer always prints in *wide* mode and lets kubectl drop priority-1
  columns, so :func:`row_cells` returns every column by default.
* AGE cells use apimachinery's ``HumanDuration`` (:func:`human_duration`); a missing
  timestamp prints ``<unknown>``.
* Resources with no dedicated printer fall back to the generic table convertor: a
  ``Name`` column and a ``Created At`` date column.

Everything here is pure: objects are plain JSON dicts and the current time is passed in.

The package: :mod:`.durations` (AGE strings), :mod:`.cells` (shared cell helpers),
:mod:`.columns` (column definitions), one module per group of kinds (:mod:`.network`,
:mod:`.pods`, :mod:`.cluster`, :mod:`.apps`) and :mod:`.registry` (resource to printer,
and the Table). This module keeps the public import path.
"""

from __future__ import annotations

from sliceplane.apiserver.printers.columns import column_definitions
from sliceplane.apiserver.printers.durations import (
    human_duration,
    short_human_duration,
    translate_timestamp_since,
)
from sliceplane.apiserver.printers.registry import build_table, row_cells, row_conditions

__all__ = [
    "build_table",
    "column_definitions",
    "human_duration",
    "row_cells",
    "row_conditions",
    "short_human_duration",
    "translate_timestamp_since",
]
