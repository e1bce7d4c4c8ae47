"""Running the real ``sliceplane doctor`` command (a subprocess, the installed entry point)
and reading its ``-o json``; shared by the doctor's tests against ``sliceplane up`` and
against the real control plane."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from sliceplane.client.client import Client
from sliceplane.doctor.diagnose import diagnose
from sliceplane.doctor.findings import Report
from sliceplane.doctor.gather import gather_service

BIN = Path(sys.executable).parent
T = TypeVar("T")
Obj = dict[str, Any]


def run_doctor(
    *args: str, kubeconfig: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    cmd = [str(BIN / "sliceplane"), "doctor", *args]
    if kubeconfig is not None:
        cmd += ["--kubeconfig", str(kubeconfig)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    return proc.returncode, proc.stdout, proc.stderr


async def doctor_json(kubeconfig: Path, namespace: str, name: str) -> tuple[int, Obj]:
    """``sliceplane doctor service NAME -n NS -o json``: exit code and the document."""
    code, out, err = await asyncio.to_thread(
        run_doctor, "service", name, "-n", namespace, "-o", "json", kubeconfig=kubeconfig
    )
    assert code in (0, 1), (code, err)
    assert err == "", err
    doc: Obj = json.loads(out)
    assert doc["ok"] is (code == 0)
    return code, doc


def codes(doc: Obj, severity: str | None = None) -> list[str]:
    return [f["code"] for f in doc["findings"] if severity is None or f["severity"] == severity]


def finding(doc: Obj, code: str) -> Obj:
    found = [f for f in doc["findings"] if f["code"] == code]
    assert found, f"{code} not in {codes(doc)}"
    return found[0]


async def until_finding(
    client: Client, kubeconfig: Path, namespace: str, name: str, code: str, timeout: float = 30.0
) -> tuple[int, Obj]:
    """Wait until the diagnosis reports ``code`` (polled in-process, the cluster converges
    meanwhile), then run the real command once and return its exit code and JSON."""
    await eventually(
        lambda: _diagnosed(client, namespace, name, lambda r: code in [f.code for f in r.findings]),
        timeout,
        f"the doctor to report {code} for {namespace}/{name}",
    )
    return await doctor_json(kubeconfig, namespace, name)


async def until_ok(
    client: Client, kubeconfig: Path, namespace: str, name: str, timeout: float = 30.0
) -> tuple[int, Obj]:
    """Wait until the diagnosis finds nothing of severity error or warning, then run the
    real command once."""
    await eventually(
        lambda: _diagnosed(
            client,
            namespace,
            name,
            lambda r: r.ok and not any(f.severity == "warning" for f in r.findings),
        ),
        timeout,
        f"the doctor to find {namespace}/{name} healthy",
    )
    return await doctor_json(kubeconfig, namespace, name)


async def _diagnosed(
    client: Client, namespace: str, name: str, want: Callable[[Report], bool]
) -> Report | None:
    report = diagnose(await gather_service(client, namespace, name))
    return report if want(report) else None


async def eventually(probe: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    deadline = asyncio.get_running_loop().time() + timeout
    last: T | None = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def web_service(name: str, selector: dict[str, str], target: str | int = "http") -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": target, "protocol": "TCP"}],
        },
    }


def selectorless_service(name: str) -> Obj:
    """A Service without a selector: its endpoints come from an Endpoints written by hand."""
    body = web_service(name, {}, target=8080)
    del body["spec"]["selector"]
    return body


def hand_written_endpoints(name: str, ip: str) -> Obj:
    """The Endpoints of :func:`selectorless_service` ``name``: one ready address ``ip``."""
    return {
        "metadata": {"name": name},
        "subsets": [
            {
                "addresses": [{"ip": ip}],
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            }
        ],
    }


def hand_made_slice(name: str, service: str, ip: str) -> Obj:
    """An EndpointSlice written by hand for ``service``, sending traffic to ``ip``."""
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": "someone-by-hand",
            },
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip], "conditions": {"ready": True}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }


def broken_services() -> list[tuple[Obj, str, str]]:
    """Services broken in ways that need no special pods, each with the code and severity
    the doctor must report; they all select ``app: web`` pods declaring ``http`` 8080/TCP
    (one such pod is enough)."""

    def svc(name: str, **spec: Any) -> Obj:
        body = web_service(name, {"app": "web"})
        body["spec"].update(spec)
        return body

    external = svc("ext", type="ExternalName", externalName="db.example.com")
    del external["spec"]["selector"]
    manual = svc("manual")
    del manual["spec"]["selector"]
    noports = svc("noports", clusterIP="None")
    del noports["spec"]["ports"]
    auto = svc("auto")
    auto["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    both = svc("both", trafficDistribution="PreferClose")
    both["metadata"]["annotations"] = {"service.kubernetes.io/topology-mode": "Auto"}
    return [
        (external, "ExternalNameService", "info"),
        (manual, "NoSelectorNoEndpoints", "error"),
        (
            svc(
                "udp", ports=[{"name": "dns", "port": 53, "targetPort": "http", "protocol": "UDP"}]
            ),
            "ProtocolMismatch",
            "error",
        ),
        (
            svc("num", ports=[{"name": "http", "port": 80, "targetPort": 9999}]),
            "TargetPortNotExposed",
            "warning",
        ),
        (noports, "NoPorts", "warning"),
        (auto, "HintsDropped", "warning"),
        (both, "TrafficDistributionIneffective", "warning"),
    ]


async def check_broken_services(
    client: Client, kubeconfig: Path, namespace: str, extra: dict[str, str]
) -> Obj:
    """Create :func:`broken_services` in ``namespace`` (its ``app: web`` pod exists),
    wait for each verdict, then run ``doctor namespace NS -o json`` once and check every
    Service's code and severity there; ``extra`` maps more Services to their codes."""
    expected = {s["metadata"]["name"]: (code, sev) for s, code, sev in broken_services()}
    expected.update({name: (code, "error") for name, code in extra.items()})
    for body, _, _ in broken_services():
        await client.create("services", body, namespace)
    for name, (code, _) in expected.items():
        await eventually(
            lambda name=name, code=code: _diagnosed(
                client, namespace, name, lambda r, c=code: c in [f.code for f in r.findings]
            ),
            30,
            f"{code} for {namespace}/{name}",
        )
    rc, out, err = await asyncio.to_thread(
        run_doctor, "namespace", namespace, "-o", "json", kubeconfig=kubeconfig
    )
    assert (rc, err) == (1, ""), err
    doc: Obj = json.loads(out)
    by_name = {s["service"]["name"]: s for s in doc["services"]}
    for name, (code, severity) in expected.items():
        f = finding(by_name[name], code)
        assert f["severity"] == severity, (name, f)
        if name not in extra:
            assert f["objects"][0] == f"service/{namespace}/{name}", f
    assert doc["ok"] is False

    # A name that is not there: the near names of the namespace are suggested.
    rc, out, err = await asyncio.to_thread(
        run_doctor, "service", "udq", "-n", namespace, "-o", "json", kubeconfig=kubeconfig
    )
    missing = finding(json.loads(out), "ServiceNotFound")
    assert rc == 1 and missing["objects"][:2] == [
        f"service/{namespace}/udq",
        f"service/{namespace}/udp",
    ]
    return doc
