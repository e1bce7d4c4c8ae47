"""Secrets and ConfigMaps through the real kubectl: the typed create commands (protobuf
bodies), get with the server's Table columns, describe, field selectors, the short name,
immutability and kubectl's printed errors."""

from __future__ import annotations

import base64
import json
import re

from harness import Kubectl


def table(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_create_get_describe_secrets(kubectl: Kubectl, namespace: str) -> None:
    ns = ("-n", namespace)
    assert kubectl(
        "create", "secret", "generic", "db", "--from-literal=user=admin",
        "--from-literal=password=s3cr3t", *ns,
    ).strip() == "secret/db created"  # fmt: skip
    kubectl("create", "secret", "generic", "tls-like", "--type=example.com/custom", *ns)

    rows = table(kubectl("get", "secrets", *ns))
    assert rows[0] == ["NAME", "TYPE", "DATA", "AGE"]
    assert [r[:3] for r in rows[1:]] == [
        ["db", "Opaque", "2"],
        ["tls-like", "example.com/custom", "0"],
    ]

    obj = json.loads(kubectl("get", "secret", "db", "-o", "json", *ns))
    assert obj["type"] == "Opaque"
    assert {k: base64.b64decode(v).decode() for k, v in obj["data"].items()} == {
        "user": "admin",
        "password": "s3cr3t",
    }
    described = kubectl("describe", "secret", "db", *ns)
    assert re.search(r"Type:\s+Opaque", described)
    assert re.search(r"password:\s+6 bytes", described)
    assert "s3cr3t" not in described

    by_type = kubectl(
        "get", "secrets", "--field-selector", "type=example.com/custom", "-o", "name", *ns
    )
    assert by_type.split() == ["secret/tls-like"]
    bad = kubectl.run("get", "secrets", "--field-selector", "data=x", *ns, check=False)
    assert bad.returncode != 0
    assert "field label not supported: data" in bad.stderr


def test_create_get_describe_configmaps(kubectl: Kubectl, namespace: str) -> None:
    ns = ("-n", namespace)
    kubectl("create", "configmap", "app", "--from-literal=mode=fast", "--from-literal=level=3", *ns)
    rows = table(kubectl("get", "cm", *ns))
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert [r[:2] for r in rows[1:]] == [["app", "2"]]
    described = kubectl("describe", "configmap", "app", *ns)
    assert re.search(r"mode:\n----\nfast", described)

    # An immutable ConfigMap keeps its data; kubectl prints the server's 422.
    kubectl("patch", "configmap", "app", "--type=merge", "-p", '{"immutable": true}', *ns)
    res = kubectl.run(
        "patch", "configmap", "app", "--type=merge", "-p", '{"data": {"mode": "slow"}}', *ns,
        check=False,
    )  # fmt: skip
    assert res.returncode != 0
    assert 'The ConfigMap "app" is invalid: data: Forbidden: field is immutable when' in (
        res.stderr
    )
    assert json.loads(kubectl("get", "cm", "app", "-o", "json", *ns))["data"]["mode"] == "fast"

    res = kubectl.run("create", "configmap", "bad", "--from-literal=a/b=1", *ns, check=False)
    assert res.returncode != 0
    assert "a valid config key must consist of alphanumeric characters" in res.stderr
