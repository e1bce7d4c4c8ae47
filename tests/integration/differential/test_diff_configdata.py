"""Differential test of Secrets and ConfigMaps: sliceplane's API server against kube-apiserver.

The same creates (valid objects, every rule of ``ValidateSecret``/``ValidateConfigMap``,
base64 that Go's decoder refuses, wrong JSON types) and the same update sequences (a
Secret's type, objects marked ``immutable``) go to both servers through sliceplane's client;
status code, reason, the (field, reason) pairs of the causes, the messages, and for
accepted objects what the server stored (``data`` after ``stringData`` is folded in,
``type`` defaulted, base64 re-encoded) must agree.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from diffkit import BINARIES, MISSING, SUPPORT_CONTROLLERS, safe_delete_ns
from harness import ServerProcess

from sliceplane.api import errors
from sliceplane.client.client import Client
from sliceplane.testenv import ControlPlane

pytestmark = [pytest.mark.skipif(bool(MISSING), reason=MISSING), pytest.mark.timeout(300)]

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(
        tmp_path_factory.mktemp("diffconfig"),
        binaries=BINARIES,
        with_controller_manager=True,
        controllers=SUPPORT_CONTROLLERS,
        unsafe_no_fsync=True,
    )
    with cp:
        yield cp


@pytest.fixture
async def clients(
    kube: ControlPlane, apiserver: ServerProcess
) -> AsyncIterator[tuple[Client, Client, str]]:
    up = await Client.connect(kube.kubeconfig)
    sp = await Client.connect(apiserver.kubeconfig)
    ns = f"cfg-{uuid.uuid4().hex[:6]}"
    await asyncio.gather(
        up.create("namespaces", {"metadata": {"name": ns}}),
        sp.create("namespaces", {"metadata": {"name": ns}}),
    )
    try:
        yield up, sp, ns
    finally:
        await asyncio.gather(safe_delete_ns(up, ns), safe_delete_ns(sp, ns))
        await up.close()
        await sp.close()


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def secret(name: str, **extra: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **extra}


def config_map(name: str, **extra: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


BIG = "x" * (1024 * 1024)


def create_cases() -> dict[str, Obj]:
    return {
        "secret opaque": secret("s1", data={"a": b64("1"), "b.c": ""}),
        "secret no type": secret("s2", data={"a": b64("1")}),
        "secret stringData": secret(
            "s3", data={"a": b64("old")}, stringData={"a": "new", "b": "x"}
        ),
        "secret base64 normalised": secret("s4", data={"a": "YR==", "b": "YWJj\nZGVm"}),
        # One bad key each: upstream reports several in Go's (varying) map order.
        "secret bad key": secret("s5", data={"a/b": ""}),
        "secret dotdot key": secret("s5a", data={"..x": ""}),
        "secret dot key": secret("s5b", data={".": ""}),
        "secret long key": secret("s6", data={"k" * 254: ""}),
        "secret over 1MiB": secret("s7", data={"a": b64(BIG), "b": b64("y")}),
        "secret exactly 1MiB": secret("s8", data={"a": b64(BIG)}),
        "secret tls": secret("s9", type="kubernetes.io/tls", data={"tls.crt": ""}),
        "secret basic-auth": secret("s10", type="kubernetes.io/basic-auth"),
        "secret ssh-auth": secret(
            "s11", type="kubernetes.io/ssh-auth", data={"ssh-privatekey": ""}
        ),
        "secret sa-token": secret("s12", type="kubernetes.io/service-account-token"),
        "secret dockercfg missing": secret("s13", type="kubernetes.io/dockercfg"),
        "secret dockerconfigjson array": secret(
            "s14", type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("[1]")}
        ),
        "secret dockerconfigjson ok": secret(
            "s15", type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{}")}
        ),
        "secret custom type": secret("s16", type="helm.sh/release.v1", data={"release": b64("x")}),
        "secret bad base64": secret("s17", data={"a": "not base64"}),
        "secret base64 trailing": secret("s18", data={"a": "YQ==YQ=="}),
        "secret number value": secret("s19", data={"a": 1}),
        "secret data list": secret("s20", data=["a"]),
        "secret bad name": secret("S_21", data={}),
        "secret immutable": secret("s22", immutable=True, data={"a": ""}),
        "configmap ok": config_map("c1", data={"a": "1"}, binaryData={"b": b64("2")}),
        "configmap bad key": config_map("c2", data={"a b": "", "ok": ""}),
        "configmap bad binary key": config_map("c2a", binaryData={"$": ""}),
        "configmap duplicate key": config_map("c3", data={"a": ""}, binaryData={"a": ""}),
        "configmap over 1MiB": config_map("c4", data={"a": BIG}, binaryData={"b": b64("y")}),
        "configmap bad base64": config_map("c5", binaryData={"b": "%%%"}),
        "configmap number": config_map("c6", data={"a": 1}),
        "configmap immutable": config_map("c7", immutable=True, data={"a": "1"}),
    }


async def outcome(c: Client, resource: str, call: Any) -> Obj:
    try:
        stored = await call
    except errors.StatusError as exc:
        causes = ((exc.details or {}).get("causes")) or []
        return {
            "accepted": False,
            "code": exc.code,
            "reason": exc.reason,
            "causes": sorted(
                (x.get("field", ""), x.get("reason", ""), x.get("message", "")) for x in causes
            ),
            "message": exc.message,
        }
    return {
        "accepted": True,
        "type": stored.get("type"),
        "data": stored.get("data"),
        "binaryData": stored.get("binaryData"),
        "stringData": stored.get("stringData"),
        "immutable": stored.get("immutable"),
    }


def resource_of(obj: Obj) -> str:
    return "secrets" if obj["kind"] == "Secret" else "configmaps"


async def test_creates_agree(clients: tuple[Client, Client, str]) -> None:
    up, sp, ns = clients
    diffs: list[str] = []
    for name, obj in create_cases().items():
        r = resource_of(obj)
        a = await outcome(up, r, up.create(r, copy.deepcopy(obj), ns))
        b = await outcome(sp, r, sp.create(r, copy.deepcopy(obj), ns))
        if a != b:
            diffs.append(f"{name}:\n  upstream   {a}\n  sliceplane {b}")
    assert not diffs, "\n".join(diffs)


async def _both(
    clients: tuple[Client, Client, str], resource: str, obj: Obj, changes: list[Obj]
) -> list[str]:
    """Create ``obj`` on both, then each update in turn (merged over the stored object)."""
    up, sp, ns = clients
    diffs: list[str] = []
    for c in (up, sp):
        await c.create(resource, copy.deepcopy(obj), ns)
    for i, change in enumerate(changes):
        results = []
        for c in (up, sp):
            current = await c.get(resource, obj["metadata"]["name"], ns)
            new = copy.deepcopy(current)
            for key, value in change.items():
                if value is None:
                    new.pop(key, None)
                else:
                    new[key] = value
            results.append(await outcome(c, resource, c.update(resource, new)))
        if results[0] != results[1]:
            diffs.append(
                f"step {i} {change}:\n  upstream   {results[0]}\n  sliceplane {results[1]}"
            )
    return diffs


async def test_updates_agree(clients: tuple[Client, Client, str]) -> None:
    diffs = await _both(
        clients,
        "secrets",
        secret("typed", data={"a": b64("1")}),
        [
            {"type": "kubernetes.io/basic-auth", "data": {"username": ""}},  # type immutable
            {"type": None},  # defaulted to Opaque again: no change
            {"data": {"a": b64("2")}, "stringData": {"b": "3"}},
            {"immutable": True},
            {"data": {"a": b64("9")}},
            {"immutable": False},
            {"immutable": None},
        ],
    )
    diffs += await _both(
        clients,
        "configmaps",
        config_map("frozen", data={"a": "1"}, immutable=True),
        [
            {"data": {"a": "2"}},
            {"binaryData": {"b": b64("x")}},
            {"immutable": False, "data": {"a": "1"}},
            {"data": {"a": "1"}},  # unchanged: fine
        ],
    )
    assert not diffs, "\n".join(diffs)
