"""Helm 3 and Helm 4 against ``sliceplane up``: a release's whole life, the slices following.

The real ``sliceplane up`` (API server, endpoint controllers, Deployments, scheduler,
simulated nodes), the real Helm binaries built from their pinned Go modules
(``make helm-bin``), and a chart of our own (``charts/slicedemo``: a Deployment and a
Service, values for the replica count and the Service's selector). Each step is checked
where it matters for service discovery: the Service's EndpointSlices list as many ready
endpoints as the release asks for, none when its selector matches nothing, and nothing is
left once the release is uninstalled, its release Secrets included.

Helm 4 applies server-side by default, and so it runs here (sliceplane serves server-side
apply); its upgrades and rollbacks keep the release's method (``--server-side=auto``, the
default). One test installs with ``--server-side=false`` too, the client-side road Helm 3
always takes.
Helm 3 runs in its default mode (client-side three-way strategic-merge patches).
"""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slicewait import get, ready_endpoints, wait_endpoints

from sliceplane.cluster.walkthrough import Walkthrough
from sliceplane.testenv.helm import MAJORS, Helm, HelmNotFound, find_helm

CHART = Path(__file__).resolve().parent / "charts" / "slicedemo"
RELEASE_SECRET_TYPE = "helm.sh/release.v1"
# `helm list` filters both majors take (Helm 4 dropped `--all`).
EVERY_STATE = ("--deployed", "--failed", "--pending", "--superseded", "--uninstalled")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    w = Walkthrough(Path(tmp_path_factory.mktemp("helm-up")))
    w.start()
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(params=MAJORS, ids=lambda m: f"helm{m}")
def helm(request: pytest.FixtureRequest, cluster: Walkthrough, tmp_path: Path) -> Helm:
    try:
        binary = find_helm(request.param)
    except HelmNotFound as exc:  # the Makefile builds them before the tests
        pytest.skip(str(exc))
    return Helm(binary, tmp_path / "helm-home", Path(cluster.env["KUBECONFIG"]))


def major(helm: Helm) -> int:
    return 4 if "/4." in str(helm.binary) else 3


def install_flags(helm: Helm) -> list[str]:
    """Each major as people run it: Helm 4 server-side (its default), Helm 3 client-side."""
    return []


@pytest.fixture
def namespace(cluster: Walkthrough) -> str:
    return f"helm-{uuid.uuid4().hex[:8]}"


def release_secrets(cluster: Walkthrough, namespace: str, release: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get(
        cluster, "secrets", "-n", namespace, "-l", f"owner=helm,name={release}"
    )["items"]
    return items


def history(helm: Helm, namespace: str, release: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(helm("history", release, "-n", namespace, "-o", "json"))
    return rows


def test_install_upgrade_rollback_uninstall(
    helm: Helm, cluster: Walkthrough, namespace: str
) -> None:
    release = "web"
    out = helm(
        "install", release, str(CHART), "-n", namespace, "--create-namespace",
        "--set", "replicas=2", "--wait", "--timeout", "120s", *install_flags(helm),
    )  # fmt: skip
    assert "STATUS: deployed" in out
    wait_endpoints(cluster, namespace, release, 2)
    svc = get(cluster, "service", release, "-n", namespace, "--show-managed-fields")
    assert svc["spec"]["selector"] == {"app": release}
    assert svc["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
    # Helm 4 applied server-side (an Apply entry of its field manager), Helm 3 patched.
    ops = {(m["manager"], m["operation"]) for m in svc["metadata"]["managedFields"]}
    assert ("helm", "Apply") in ops if major(helm) == 4 else all(o != "Apply" for _, o in ops), ops

    # The release lives in a Secret of Helm's type, found by Helm through label selectors.
    (secret,) = release_secrets(cluster, namespace, release)
    assert secret["type"] == RELEASE_SECRET_TYPE
    assert secret["metadata"]["labels"]["status"] == "deployed"
    by_type = get(
        cluster, "secrets", "-n", namespace, "--field-selector", f"type={RELEASE_SECRET_TYPE}"
    )["items"]
    assert [s["metadata"]["name"] for s in by_type] == [secret["metadata"]["name"]]

    helm("upgrade", release, str(CHART), "-n", namespace, "--set", "replicas=4", "--wait")
    wait_endpoints(cluster, namespace, release, 4)

    # A selector no pod matches: the Service keeps its slice, with no endpoints in it.
    helm(
        "upgrade", release, str(CHART), "-n", namespace,
        "--set", "replicas=4", "--set", "serviceSelector.app=nobody",
    )  # fmt: skip
    cluster.wait(
        lambda: (
            get(cluster, "service", release, "-n", namespace)["spec"]["selector"]
            == {"app": "nobody"}
        ),
        "the new selector",
    )
    cluster.wait(lambda: ready_endpoints(cluster, namespace, release) == [], "the slices to empty")
    slices = get(
        cluster, "endpointslices", "-n", namespace, "-l", f"kubernetes.io/service-name={release}"
    )["items"]
    assert slices and all(not s.get("endpoints") for s in slices)

    # Back to revision 2 (four replicas, the pods' own label): the slices fill again.
    helm("rollback", release, "2", "-n", namespace, "--wait")
    wait_endpoints(cluster, namespace, release, 4)
    assert get(cluster, "service", release, "-n", namespace)["spec"]["selector"] == {"app": release}

    rows = history(helm, namespace, release)
    assert [(r["revision"], r["status"]) for r in rows] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "superseded"),
        (4, "deployed"),
    ]
    assert "Rollback to 2" in rows[-1]["description"]
    (listed,) = json.loads(helm("list", "-n", namespace, "-o", "json"))
    assert (listed["name"], listed["revision"], listed["status"]) == (release, "4", "deployed")
    status = json.loads(helm("status", release, "-n", namespace, "-o", "json"))
    assert status["info"]["status"] == "deployed"
    assert status["version"] == 4
    assert len(release_secrets(cluster, namespace, release)) == 4

    helm("uninstall", release, "-n", namespace, "--wait")
    assert get(cluster, "deployments,services,secrets", "-n", namespace)["items"] == []
    cluster.wait(
        lambda: get(cluster, "endpointslices,pods", "-n", namespace)["items"] == [],
        "the slices and pods to go",
    )
    assert json.loads(helm("list", "-n", namespace, *EVERY_STATE, "-o", "json")) == []


def test_bad_values_and_bad_charts_change_nothing(
    helm: Helm, cluster: Walkthrough, namespace: str, tmp_path: Path
) -> None:
    release = "api"
    helm(
        "install", release, str(CHART), "-n", namespace, "--create-namespace",
        "--wait", *install_flags(helm),
    )  # fmt: skip
    wait_endpoints(cluster, namespace, release, 2)
    before = get(cluster, "deployment", release, "-n", namespace)

    # Values the chart's schema refuses: Helm's own error, before anything is sent.
    bad = helm.run("upgrade", release, str(CHART), "-n", namespace, "--set", "replicas=many")
    assert bad.returncode != 0
    assert "values don't meet the specifications of the schema" in bad.stderr
    assert "replicas" in bad.stderr

    # A template that does not render.
    broken = tmp_path / "broken"
    shutil.copytree(CHART, broken)
    (broken / "templates" / "broken.yaml").write_text("data: {{ .Values.missing.deeper }}\n")
    res = helm.run("upgrade", release, str(broken), "-n", namespace)
    assert res.returncode != 0
    assert "nil pointer evaluating interface {}.deeper" in res.stderr

    # A manifest that is not valid YAML.
    (broken / "templates" / "broken.yaml").write_text("kind: ConfigMap\n  bad: [indent\n")
    res = helm.run("upgrade", release, str(broken), "-n", namespace)
    assert res.returncode != 0
    assert "broken.yaml" in res.stderr

    assert [r["status"] for r in history(helm, namespace, release)] == ["deployed"]
    after = get(cluster, "deployment", release, "-n", namespace)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert len(ready_endpoints(cluster, namespace, release)) == 2

    # Values the server refuses (a container without an image): the server's 422 through
    # Helm, the Deployment untouched, the attempt recorded as a failed revision.
    res = helm.run("upgrade", release, str(CHART), "-n", namespace, "--set", "image=")
    assert res.returncode != 0
    assert "spec.template.spec.containers[0].image: Required value" in res.stderr
    after = get(cluster, "deployment", release, "-n", namespace)
    assert after["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert [r["status"] for r in history(helm, namespace, release)] == ["deployed", "failed"]
    assert len(ready_endpoints(cluster, namespace, release)) == 2

    helm("uninstall", release, "-n", namespace, "--wait")
    assert release_secrets(cluster, namespace, release) == []


def test_helm4_client_side_apply(cluster: Walkthrough, namespace: str, tmp_path: Path) -> None:
    """Helm 4 told to apply client-side (``--server-side=false``): three-way merge patches,
    as Helm 3; the upgrade keeps that method (``--server-side=auto``)."""
    try:
        helm = Helm(find_helm(4), tmp_path / "helm-home", Path(cluster.env["KUBECONFIG"]))
    except HelmNotFound as exc:
        pytest.skip(str(exc))
    release = "csa"
    helm(
        "install", release, str(CHART), "-n", namespace, "--create-namespace", "--wait",
        "--timeout", "120s", "--server-side=false",
    )  # fmt: skip
    wait_endpoints(cluster, namespace, release, 2)
    deployment = get(cluster, "deployment", release, "-n", namespace, "--show-managed-fields")
    entries = deployment["metadata"]["managedFields"]
    assert entries and all(m["operation"] != "Apply" for m in entries), entries
    helm("upgrade", release, str(CHART), "-n", namespace, "--set", "replicas=3", "--wait")
    wait_endpoints(cluster, namespace, release, 3)
    helm("uninstall", release, "-n", namespace, "--wait")
    assert get(cluster, "deployments,services", "-n", namespace)["items"] == []


def test_configmap_storage_driver(helm: Helm, cluster: Walkthrough, namespace: str) -> None:
    """``HELM_DRIVER=configmap``: the releases kept in ConfigMaps instead of Secrets."""
    helm = Helm(helm.binary, helm.home, helm.kubeconfig, {"HELM_DRIVER": "configmap"})
    release = "cfg"
    helm(
        "install", release, str(CHART), "-n", namespace, "--create-namespace", "--wait",
        *install_flags(helm),
    )  # fmt: skip
    helm("upgrade", release, str(CHART), "-n", namespace, "--set", "replicas=3", "--wait")
    wait_endpoints(cluster, namespace, release, 3)
    selector = f"owner=helm,name={release}"
    maps = get(cluster, "configmaps", "-n", namespace, "-l", selector)["items"]
    assert sorted(m["metadata"]["labels"]["status"] for m in maps) == ["deployed", "superseded"]
    assert all(set(m["data"]) == {"release"} for m in maps)
    assert release_secrets(cluster, namespace, release) == []
    assert [r["status"] for r in history(helm, namespace, release)] == ["superseded", "deployed"]
    helm("uninstall", release, "-n", namespace, "--wait")
    assert get(cluster, "configmaps", "-n", namespace, "-l", selector)["items"] == []
