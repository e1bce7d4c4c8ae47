"""OpenTofu with the Terraform kubernetes provider against ``sliceplane up``, offline.

The real ``sliceplane up`` (API server, endpoint controllers, Deployments, scheduler,
simulated nodes), the real ``tofu`` and ``terraform-provider-kubernetes`` built from their
pinned Go modules (``make terraform-bin``), and configurations of our own
(``terraform/slicedemo``: a namespace, a Deployment and a Service; ``terraform/manifest``:
a Service as a ``kubernetes_manifest``). ``tofu init`` installs the provider from a
filesystem mirror only (no registry is reachable here, and none is asked). Each step is
checked where it matters for service discovery: the Service's EndpointSlices hold as many
ready endpoints as the configuration asks for, none when its selector matches nothing, and
nothing is left after ``destroy``.
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
from sliceplane.testenv.terraform import PROVIDER_ADDRESS, TerraformNotFound, Tofu, pinned_version

CONFIGS = Path(__file__).resolve().parent / "terraform"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    w = Walkthrough(Path(tmp_path_factory.mktemp("terraform-up")))
    w.start()
    try:
        yield w
    finally:
        w.stop()


def tofu_in(config: str, tmp_path: Path, *, deprecated_names: bool = False) -> Tofu:
    """A copy of ``terraform/<config>`` in ``tmp_path`` (its state and lock file land there);
    with ``deprecated_names``, its resources under their pre-``_v1`` names
    (``kubernetes_deployment``, ``kubernetes_service``...), which the provider still serves."""
    workdir = tmp_path / config
    shutil.copytree(CONFIGS / config, workdir)
    if deprecated_names:
        main = workdir / "main.tf"
        main.write_text(main.read_text().replace("_v1", ""))
    try:
        return Tofu.offline(workdir, tmp_path / "tofu-home")
    except TerraformNotFound as exc:  # the Makefile builds them before the tests
        pytest.skip(str(exc))


@pytest.fixture
def namespace() -> str:
    return f"tf-{uuid.uuid4().hex[:8]}"


def tf_vars(cluster: Walkthrough, namespace: str, **values: Any) -> list[str]:
    out = ["-var", f"kubeconfig={cluster.env['KUBECONFIG']}", "-var", f"namespace={namespace}"]
    for key, value in values.items():
        text = json.dumps(value) if isinstance(value, dict) else str(value)
        out += ["-var", f"{key}={text}"]
    return out


def test_init_is_offline_from_the_mirror(tmp_path: Path) -> None:
    tofu = tofu_in("slicedemo", tmp_path)
    out = tofu("init", "-no-color")
    version = pinned_version("provider-kubernetes")
    assert f"Installing hashicorp/kubernetes v{version}..." in out
    assert f"Installed hashicorp/kubernetes v{version} (unauthenticated)" in out
    lock = (tofu.workdir / ".terraform.lock.hcl").read_text()
    assert f'provider "{PROVIDER_ADDRESS}"' in lock
    assert f'version     = "{version}"' in lock

    # A version the mirror does not hold fails init: nothing falls back to a registry.
    main = tofu.workdir / "main.tf"
    main.write_text(main.read_text().replace(f'"{version}"', '"3.0.0"'))
    res = tofu.run("init", "-no-color", "-upgrade")
    assert res.returncode != 0
    assert "Failed to query available provider packages" in res.stderr or (
        "no available releases match" in res.stderr
    ), res.stderr


@pytest.mark.parametrize("deprecated_names", [False, True], ids=["v1-names", "deprecated-names"])
def test_apply_scale_reselect_destroy(
    cluster: Walkthrough, namespace: str, tmp_path: Path, deprecated_names: bool
) -> None:
    tofu = tofu_in("slicedemo", tmp_path, deprecated_names=deprecated_names)
    tofu("init", "-no-color")
    out = tofu("apply", "-auto-approve", "-no-color", *tf_vars(cluster, namespace, replicas=2))
    assert "Apply complete! Resources: 3 added, 0 changed, 0 destroyed." in out
    if deprecated_names:
        assert "Warning: Deprecated Resource" in out
        assert "Deprecated; use kubernetes_namespace_v1." in out
    wait_endpoints(cluster, namespace, "web", 2)
    svc = get(cluster, "service", "web", "-n", namespace)
    assert svc["spec"]["selector"] == {"app": "web"}
    outputs = json.loads(tofu("output", "-json", "-no-color"))
    assert outputs["cluster_ip"]["value"] == svc["spec"]["clusterIP"]

    # What the server defaulted must not show up as drift: a second plan has nothing to do.
    res = tofu.run(
        "plan", "-detailed-exitcode", "-no-color", *tf_vars(cluster, namespace, replicas=2)
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No changes." in res.stdout

    out = tofu("apply", "-auto-approve", "-no-color", *tf_vars(cluster, namespace, replicas=4))
    assert "Resources: 0 added, 1 changed, 0 destroyed." in out
    wait_endpoints(cluster, namespace, "web", 4)
    out = tofu("apply", "-auto-approve", "-no-color", *tf_vars(cluster, namespace, replicas=1))
    assert "Resources: 0 added, 1 changed, 0 destroyed." in out
    wait_endpoints(cluster, namespace, "web", 1)

    # A selector no pod matches: the Service keeps its slice, with no endpoints in it.
    nobody = tf_vars(cluster, namespace, replicas=1, selector={"app": "nobody"})
    tofu("apply", "-auto-approve", "-no-color", *nobody)
    cluster.wait(lambda: ready_endpoints(cluster, namespace, "web") == [], "the slices to empty")
    slices = get(
        cluster, "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=web"
    )["items"]
    assert slices and all(not s.get("endpoints") for s in slices)

    out = tofu("destroy", "-auto-approve", "-no-color", *nobody)
    assert "Destroy complete! Resources: 3 destroyed." in out
    names = [n["metadata"]["name"] for n in get(cluster, "namespaces")["items"]]
    assert namespace not in names
    assert get(cluster, "deployments,services,endpointslices,pods", "-n", namespace)["items"] == []
    assert json.loads(tofu("show", "-json", "-no-color")).get("values") is None


def test_manifest_server_side_apply(cluster: Walkthrough, namespace: str, tmp_path: Path) -> None:
    """``kubernetes_manifest`` applies server-side (field manager ``Terraform``): the
    Service is created by an apply, gets its endpoints, and goes again on ``destroy``."""
    cluster.kubectl("create", "namespace", namespace, show=False)
    cluster.kubectl(
        "create", "deployment", "mf", "--image=nginx:1.27", "--replicas=2", "-n", namespace,
        show=False,
    )  # fmt: skip
    tofu = tofu_in("manifest", tmp_path)
    tofu("init", "-no-color")
    values = tf_vars(cluster, namespace, app="mf")
    # The plan needs the Service's type from /openapi/v2 and the (empty) list of CRDs,
    # where the provider looks a kind up first.
    assert get(cluster, "crd")["items"] == []  # by its short name, as upstream
    plan = tofu("plan", "-no-color", *values)
    assert "kubernetes_manifest.svc will be created" in plan
    assert "Plan: 1 to add, 0 to change, 0 to destroy." in plan
    tofu("apply", "-auto-approve", "-no-color", *values)
    wait_endpoints(cluster, namespace, "mf-manifest", 2, app="mf")
    svc = get(cluster, "service", "mf-manifest", "-n", namespace, "--show-managed-fields")
    entries = {(m["manager"], m["operation"]) for m in svc["metadata"]["managedFields"]}
    assert ("Terraform", "Apply") in entries, entries
    assert "No changes." in tofu("plan", "-no-color", *values)
    tofu("destroy", "-auto-approve", "-no-color", *values)
    cluster.wait(
        lambda: get(
            cluster, "services,endpointslices", "-n", namespace,
            "-l", "kubernetes.io/service-name=mf-manifest",
        )["items"] == [],
        "the manifest's Service and slices to go",
    )  # fmt: skip
    assert tofu("state", "list", "-no-color").strip() == ""


def test_server_refusal_changes_nothing(
    cluster: Walkthrough, namespace: str, tmp_path: Path
) -> None:
    """A change the server refuses (422): the provider reports the server's field error and
    the Deployment and its slices stay as they were."""
    tofu = tofu_in("slicedemo", tmp_path)
    tofu("init", "-no-color")
    tofu("apply", "-auto-approve", "-no-color", *tf_vars(cluster, namespace, replicas=2))
    wait_endpoints(cluster, namespace, "web", 2)
    before = get(cluster, "deployment", "web", "-n", namespace)

    res = tofu.run("apply", "-auto-approve", "-no-color", *tf_vars(cluster, namespace, replicas=-1))
    assert res.returncode != 0
    said = " ".join(res.stderr.split())
    assert (
        'Failed to update deployment: Deployment.apps "web" is invalid: '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    ) in said, said
    after = get(cluster, "deployment", "web", "-n", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"]["replicas"] == 2
    assert len(ready_endpoints(cluster, namespace, "web")) == 2
    # The provider (SDKv2) records the refused value in the state; a refreshing plan reads
    # the server's object back, and with the old value there is nothing to do.
    res = tofu.run(
        "plan", "-detailed-exitcode", "-no-color", *tf_vars(cluster, namespace, replicas=2)
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "No changes." in res.stdout
    tofu("destroy", "-auto-approve", "-no-color", *tf_vars(cluster, namespace))
