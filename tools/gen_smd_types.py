"""Generate ``src/sliceplane/api/schemas/smd_types.json``: how each served type merges.

Why: server-side apply and ``metadata.managedFields`` follow structured-merge-diff, whose
schema kube-apiserver builds from its OpenAPI document: ``x-kubernetes-list-type``
(``atomic``/``set``/``map`` with ``x-kubernetes-list-map-keys``), ``x-kubernetes-map-type``
on maps and structs, and, for lists without a list type, the strategic-merge tags
(``x-kubernetes-patch-strategy: merge`` with a merge key is a map keyed by it, without one a
set; anything else atomic), exactly as kube-openapi's ``schemaconv`` resolves them. The
Python client's models (``gen_schemas.py``) carry none of that, so this reads upstream's own
published document (``api/openapi-spec/v3`` of ``k8s.io/kubernetes`` at the pinned version,
found in the Go module cache that ``make k8s-bin`` fills) for the definitions we serve, and
writes the resolved relationships plus the defaults of list-map key fields (a missing
``protocol`` key is ``TCP``).

It also records each kind's zero-value object as Go's unstructured converter writes it
(``tools/smdskeleton``, run with the pinned ``k8s.io/api`` from the module cache): the
field manager compares a create against that empty object, so fields Go always emits
(``spec.template``, a ReplicaSet's ``status.replicas``) are never "added" by a create.

Run: ``.venv/bin/python tools/gen_smd_types.py [SPEC_DIR]`` (needs Go and the module cache).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "src/sliceplane/api/schemas/schemas.json"
OUT = ROOT / "src/sliceplane/api/schemas/smd_types.json"
VERSION = (ROOT / "tools/k8s/VERSION").read_text().strip().lstrip("v")
DEFAULT_SPEC = Path.home() / f"go/pkg/mod/k8s.io/kubernetes@v{VERSION}/api/openapi-spec/v3"


def list_relationship(prop: dict[str, Any]) -> list[Any]:
    """kube-openapi's ``getListElementRelationship``."""
    lt = prop.get("x-kubernetes-list-type")
    if lt == "atomic":
        return ["atomic"]
    if lt == "set":
        return ["set"]
    if lt == "map":
        return ["map", list(prop["x-kubernetes-list-map-keys"])]
    strategy = prop.get("x-kubernetes-patch-strategy")
    if strategy in ("merge", "merge,retainKeys"):
        key = prop.get("x-kubernetes-patch-merge-key")
        return ["map", [key]] if key else ["set"]
    return ["atomic"]


def skeletons() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(ROOT / "tools/smdskeleton/main.go", tmp)
        Path(tmp, "go.mod").write_text(
            f"module smdskeleton\ngo 1.24\nrequire (\n\tk8s.io/api v0.{VERSION[2:]}\n"
            f"\tk8s.io/apimachinery v0.{VERSION[2:]}\n)\n"
        )
        env = {**os.environ, "GOPROXY": "off", "GOSUMDB": "off", "GOFLAGS": "-mod=mod"}
        subprocess.run(["go", "mod", "tidy"], cwd=tmp, env=env, check=False, capture_output=True)
        done = subprocess.run(["go", "run", "."], cwd=tmp, env=env, check=True, capture_output=True)
        result: dict[str, Any] = json.loads(done.stdout)
        return result


def main() -> None:
    spec_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC
    upstream: dict[str, Any] = {}
    for path in sorted(spec_dir.glob("*.json")):
        upstream.update(json.loads(path.read_text()).get("components", {}).get("schemas", {}))
    ours = json.loads(SCHEMAS.read_text())["definitions"]
    out: dict[str, Any] = {}
    for name in sorted(ours):
        up = upstream.get(name)
        if up is None:
            continue
        entry: dict[str, Any] = {}
        if up.get("x-kubernetes-map-type") == "atomic":
            entry["atomic"] = True
        fields: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for field, prop in sorted((up.get("properties") or {}).items()):
            if prop.get("type") == "array":
                fields[field] = list_relationship(prop)
            elif prop.get("type") == "object" and "additionalProperties" in prop:
                fields[field] = [
                    "atomic" if prop.get("x-kubernetes-map-type") == "atomic" else "granular"
                ]
            if "default" in prop and not isinstance(prop["default"], dict | list):
                defaults[field] = prop["default"]
        if fields:
            entry["fields"] = fields
        if defaults:
            entry["defaults"] = defaults
        if entry:
            out[name] = entry
    OUT.write_text(
        json.dumps(
            {
                "source": f"k8s.io/kubernetes v{VERSION} api/openapi-spec/v3",
                "types": out,
                "skeletons": skeletons(),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
