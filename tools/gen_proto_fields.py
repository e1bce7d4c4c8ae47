"""Generate ``src/sliceplane/api/schemas/proto_fields.json`` from upstream's ``generated.proto``.

Why: kubectl's typed clients (``create namespace``, ``create deployment``, ``expose`` ...) send
request bodies as Kubernetes protobuf. Decoding them needs, for every message reachable from the
kinds the API server serves, the field numbers and wire types; turning the decoded message into
the JSON dict a JSON client would have sent also needs what only the Go structs say: the JSON
name (embedded structs such as ``Volume.VolumeSource`` or ``Probe.ProbeHandler`` are inlined in
JSON but are nested messages on the wire), whether a field is a Go pointer (gogo marshals a
pointer only when non-nil, so zero values on the wire are meaningful) and whether its JSON tag
says ``omitempty``/``omitzero`` (gogo always marshals non-pointer scalars, even zero, while
``encoding/json`` drops them). So this tool reads both the ``generated.proto`` files and the Go
struct tags of the pinned k8s.io/api and k8s.io/apimachinery modules, fetched with
``go mod download -json`` into the Go module cache, and commits the compact result as data.

Output layout::

    {"source": {...module versions...},
     "roots": {"<apiVersion>/<Kind>": "<proto message>"},
     "messages": {"<proto message>": {"<field number>": [json name, kind, repeated, presence]}}}

``kind`` is a proto scalar type (``string``, ``int32``, ``int64``, ``bool``, ``bytes``,
``double`` ...), a fully qualified message name, or ``map<key,value>``. ``presence`` is
``ptr`` (Go pointer: emit whatever is on the wire), ``omitempty`` (drop zero scalars and empty
lists/maps; structs stay, as ``encoding/json`` keeps them), ``omitzero`` (drop zero values,
structs included) or ``always`` (no omit option: keep zero values). An empty json name means
the field is an embedded struct inlined into its parent's JSON object.

Run: ``.venv/bin/python tools/gen_proto_fields.py`` (``make proto-fields``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/sliceplane/api/schemas/proto_fields.json"

# kubectl 1.37.1 is the client whose bodies we decode; its k8s.io/api is v0.37.1.
API_VERSION = "v0.37.1"
APIMACHINERY_VERSION = "v0.37.1"

# proto package -> (module, directory inside the module holding generated.proto and the Go types)
PACKAGES: dict[str, tuple[str, str]] = {
    "k8s.io.api.core.v1": ("k8s.io/api", "core/v1"),
    "k8s.io.api.apps.v1": ("k8s.io/api", "apps/v1"),
    "k8s.io.api.discovery.v1": ("k8s.io/api", "discovery/v1"),
    "k8s.io.api.coordination.v1": ("k8s.io/api", "coordination/v1"),
    "k8s.io.api.autoscaling.v1": ("k8s.io/api", "autoscaling/v1"),
    "k8s.io.api.authentication.v1": ("k8s.io/api", "authentication/v1"),
    "k8s.io.api.authorization.v1": ("k8s.io/api", "authorization/v1"),
    "k8s.io.apimachinery.pkg.apis.meta.v1": ("k8s.io/apimachinery", "pkg/apis/meta/v1"),
    "k8s.io.apimachinery.pkg.runtime": ("k8s.io/apimachinery", "pkg/runtime"),
    "k8s.io.apimachinery.pkg.runtime.schema": ("k8s.io/apimachinery", "pkg/runtime/schema"),
    "k8s.io.apimachinery.pkg.util.intstr": ("k8s.io/apimachinery", "pkg/util/intstr"),
    "k8s.io.apimachinery.pkg.api.resource": ("k8s.io/apimachinery", "pkg/api/resource"),
}

CORE = "k8s.io.api.core.v1"
META = "k8s.io.apimachinery.pkg.apis.meta.v1"

# (apiVersion, kind) -> proto message: the kinds the API server serves, and DeleteOptions, which
# upstream registers in every group-version (client-go sends it with the resource's version).
ROOTS: dict[str, str] = {
    "v1/Namespace": f"{CORE}.Namespace",
    "v1/Node": f"{CORE}.Node",
    "v1/Pod": f"{CORE}.Pod",
    "v1/Service": f"{CORE}.Service",
    "v1/Endpoints": f"{CORE}.Endpoints",
    "v1/Event": f"{CORE}.Event",
    # pods/binding: kube-scheduler's DefaultBinder posts it as protobuf.
    "v1/Binding": f"{CORE}.Binding",
    "v1/ConfigMap": f"{CORE}.ConfigMap",
    "v1/Secret": f"{CORE}.Secret",
    "discovery.k8s.io/v1/EndpointSlice": "k8s.io.api.discovery.v1.EndpointSlice",
    "coordination.k8s.io/v1/Lease": "k8s.io.api.coordination.v1.Lease",
    "apps/v1/Deployment": "k8s.io.api.apps.v1.Deployment",
    "apps/v1/ReplicaSet": "k8s.io.api.apps.v1.ReplicaSet",
    "autoscaling/v1/Scale": "k8s.io.api.autoscaling.v1.Scale",
    # The review APIs (``kubectl auth can-i``/``whoami`` send them as protobuf, as do
    # client-go's typed clients for the others).
    "authentication.k8s.io/v1/SelfSubjectReview": "k8s.io.api.authentication.v1.SelfSubjectReview",
    "authorization.k8s.io/v1/SelfSubjectAccessReview": (
        "k8s.io.api.authorization.v1.SelfSubjectAccessReview"
    ),
    "authorization.k8s.io/v1/SelfSubjectRulesReview": (
        "k8s.io.api.authorization.v1.SelfSubjectRulesReview"
    ),
    "authorization.k8s.io/v1/SubjectAccessReview": (
        "k8s.io.api.authorization.v1.SubjectAccessReview"
    ),
    "authorization.k8s.io/v1/LocalSubjectAccessReview": (
        "k8s.io.api.authorization.v1.LocalSubjectAccessReview"
    ),
    "authentication.k8s.io/v1/TokenReview": "k8s.io.api.authentication.v1.TokenReview",
}
for _gv in (
    "v1",
    "apps/v1",
    "authentication.k8s.io/v1",
    "authorization.k8s.io/v1",
    "autoscaling/v1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
):
    ROOTS[f"{_gv}/DeleteOptions"] = f"{META}.DeleteOptions"
ROOTS["meta.k8s.io/v1/DeleteOptions"] = f"{META}.DeleteOptions"

# Messages the decoder converts by hand (their Go types marshal JSON themselves); their own
# fields are still listed so the table is complete.
SPECIAL = {
    f"{META}.Time",
    f"{META}.MicroTime",
    f"{META}.FieldsV1",
    f"{META}.Duration",
    "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
    "k8s.io.apimachinery.pkg.api.resource.Quantity",
    "k8s.io.apimachinery.pkg.runtime.RawExtension",
    # ``type ExtraValue []string``: a message of repeated ``items`` on the wire, a list in JSON.
    "k8s.io.api.authentication.v1.ExtraValue",
    "k8s.io.api.authorization.v1.ExtraValue",
}

SCALARS = {
    "string",
    "bytes",
    "bool",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
    "double",
    "float",
}

_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_MESSAGE = re.compile(r"\bmessage\s+(\w+)\s*\{")
_FIELD = re.compile(
    r"^\s*(?:(optional|repeated|required)\s+([\w.]+)|map\s*<\s*([\w.]+)\s*,\s*([\w.]+)\s*>)"
    r"\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?\s*;\s*$"
)
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.M)

_STRUCT = re.compile(r"^type\s+(\w+)\s+struct\s*\{", re.M)
_GOFIELD = re.compile(
    r"^\s*(?:(\w+)\s+)?(\S+)\s+`([^`]*)`\s*(?://.*)?$",
)
_TAG = re.compile(r'(\w+):"([^"]*)"')


@dataclass
class ProtoField:
    name: str
    number: int
    kind: str  # scalar, qualified message, or map<k,v>
    repeated: bool


@dataclass
class GoField:
    json_name: str
    omit: str  # omitempty | omitzero | always
    pointer: bool


def module_dir(module: str, version: str) -> Path:
    """Download ``module@version`` into the Go module cache and return its directory."""
    proc = subprocess.run(
        ["go", "mod", "download", "-json", f"{module}@{version}"],
        check=False,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        sys.exit(f"go mod download {module}@{version} failed:\n{proc.stdout}{proc.stderr}")
    info = json.loads(proc.stdout)
    if info.get("Error"):
        sys.exit(f"go mod download {module}@{version}: {info['Error']}")
    return Path(info["Dir"])


def _block(text: str, start: int) -> tuple[str, int]:
    """The body of the brace block opening just before ``start`` and where it ends."""
    depth = 1
    i = start
    while depth:
        if i >= len(text):
            raise ValueError("unbalanced braces")
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
        i += 1
    return text[start : i - 1], i


def _qualify(kind: str, package: str) -> str:
    if kind in SCALARS:
        return kind
    if kind.startswith("."):
        return kind[1:]
    return f"{package}.{kind}"


def parse_proto(text: str) -> tuple[str, dict[str, list[ProtoField]]]:
    """Parse the message definitions of one k8s ``generated.proto`` (proto2, no nesting)."""
    text = _COMMENT.sub("", text)
    pm = _PACKAGE.search(text)
    if pm is None:
        raise ValueError("no package statement")
    package = pm.group(1)
    messages: dict[str, list[ProtoField]] = {}
    pos = 0
    while (m := _MESSAGE.search(text, pos)) is not None:
        body, pos = _block(text, m.end())
        if "{" in body:
            raise ValueError(f"nested definitions in message {m.group(1)} are not supported")
        fields: list[ProtoField] = []
        for stmt in body.split(";"):
            stmt = stmt.strip()
            if not stmt or stmt.startswith("option "):
                continue
            fm = _FIELD.match(stmt + ";")
            if fm is None:
                raise ValueError(f"cannot parse field in {m.group(1)}: {stmt!r}")
            label, typ, mkey, mval, name, num = fm.groups()
            if mkey is not None:
                kind = f"map<{_qualify(mkey, package)},{_qualify(mval, package)}>"
                fields.append(ProtoField(name, int(num), kind, False))
            else:
                fields.append(
                    ProtoField(name, int(num), _qualify(typ, package), label == "repeated")
                )
        messages[f"{package}.{m.group(1)}"] = fields
    return package, messages


def parse_go_structs(directory: Path) -> dict[str, dict[int, GoField]]:
    """Struct name -> protobuf field number -> JSON facts, from the package's Go sources."""
    out: dict[str, dict[int, GoField]] = {}
    for path in sorted(directory.glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        text = path.read_text("utf-8")
        for m in _STRUCT.finditer(text):
            body, _ = _block(text, m.end())
            fields: dict[int, GoField] = {}
            for line in body.splitlines():
                if line.strip().startswith("//"):
                    continue
                fm = _GOFIELD.match(line)
                if fm is None:
                    continue
                _, gotype, tagtext = fm.groups()
                tags = dict(_TAG.findall(tagtext))
                if "protobuf" not in tags:
                    continue
                parts = tags["protobuf"].split(",")
                if len(parts) < 2 or not parts[1].isdigit():
                    continue  # protobuf:"-" and the like
                number = int(parts[1])
                jparts = tags.get("json", "").split(",")
                jname = jparts[0]
                if jname == "-":
                    continue
                opts = set(jparts[1:])
                omit = (
                    "omitzero"
                    if "omitzero" in opts
                    else ("omitempty" if "omitempty" in opts else "always")
                )
                fields[number] = GoField(jname, omit, gotype.startswith("*"))
            out[m.group(1)] = fields
    return out


def build() -> dict[str, object]:
    dirs = {
        "k8s.io/api": module_dir("k8s.io/api", API_VERSION),
        "k8s.io/apimachinery": module_dir("k8s.io/apimachinery", APIMACHINERY_VERSION),
    }
    messages: dict[str, list[ProtoField]] = {}
    go: dict[str, dict[str, dict[int, GoField]]] = {}
    for package, (module, sub) in PACKAGES.items():
        pdir = dirs[module] / sub
        parsed_package, parsed = parse_proto((pdir / "generated.proto").read_text("utf-8"))
        if parsed_package != package:
            raise SystemExit(f"{pdir}: package {parsed_package}, expected {package}")
        messages.update(parsed)
        go[package] = parse_go_structs(pdir)

    reachable: list[str] = []
    todo = sorted(set(ROOTS.values()))
    while todo:
        name = todo.pop()
        if name in reachable:
            continue
        if name not in messages:
            raise SystemExit(f"message {name} is referenced but not defined")
        reachable.append(name)
        for f in messages[name]:
            kinds = [f.kind]
            if f.kind.startswith("map<"):
                kinds = f.kind[4:-1].split(",")
            todo.extend(k for k in kinds if k not in SCALARS and k not in reachable)

    table: dict[str, dict[str, list[object]]] = {}
    renamed: list[str] = []
    for name in sorted(reachable):
        package, _, short = name.rpartition(".")
        struct = {} if name in SPECIAL else go[package].get(short)
        if struct is None:
            raise SystemExit(f"no Go struct for message {name}: add it to SPECIAL and the decoder")
        entry: dict[str, list[object]] = {}
        for f in messages[name]:
            gf = struct.get(f.number)
            if gf is None:
                if name not in SPECIAL:
                    raise SystemExit(f"{name}.{f.name} ({f.number}) has no Go field")
                gf = GoField(f.name, "omitempty", False)  # decoded by hand, by proto name
            if gf.json_name not in (f.name, ""):
                renamed.append(f"{name}.{f.name} -> {gf.json_name}")
            presence = "ptr" if gf.pointer else gf.omit
            entry[str(f.number)] = [gf.json_name, f.kind, f.repeated, presence]
        table[name] = entry
    if renamed:
        print("fields whose JSON name differs from the proto name:", *renamed, sep="\n  ")
    return {
        "source": {
            "k8s.io/api": API_VERSION,
            "k8s.io/apimachinery": APIMACHINERY_VERSION,
            "generator": "tools/gen_proto_fields.py",
        },
        "roots": dict(sorted(ROOTS.items())),
        "messages": table,
    }


def _compact(text: str) -> str:
    """One line per field entry: the innermost lists of the indented dump, joined up."""
    return re.sub(
        r"\[\n\s+([^\[\]{}]*?)\n\s+\]",
        lambda m: "[" + re.sub(r",\n\s+", ", ", m.group(1)) + "]",
        text,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    args = ap.parse_args()
    text = _compact(json.dumps(build(), indent=1)) + "\n"
    if args.check:
        current = args.out.read_text("utf-8") if args.out.exists() else ""
        if current != text:
            sys.exit(f"{args.out} is stale: run tools/gen_proto_fields.py")
        return
    args.out.write_text(text, "utf-8")
    print(f"wrote {args.out} ({len(json.loads(text)['messages'])} messages)")


if __name__ == "__main__":
    main()
