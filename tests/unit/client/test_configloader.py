"""The kubeconfig loaders are imported without kubernetes-asyncio's generated client, and
code that wants the generated client still gets all of it afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {{server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}}
users:
- name: token
  user: {{token: abc123}}
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: {python}
      args: ["-c", "{credential}"]
      interactiveMode: Never
contexts:
- name: token
  context: {{cluster: c, user: token, namespace: team-a}}
- name: exec
  context: {{cluster: c, user: exec}}
current-context: token
"""

PROBE = """
import asyncio, json, sys
from sliceplane.client.client import load_connection

async def main():
    a = await load_connection(sys.argv[1])
    b = await load_connection(sys.argv[1], context="exec")
    light = "kubernetes_asyncio.client.models" not in sys.modules
    from kubernetes_asyncio.client import CoreV1Api, Configuration
    import kubernetes_asyncio
    print(json.dumps({
        "a": [a.server, a.token, a.default_namespace, a.verify],
        "b": [b.token, b.default_namespace],
        "light": light,
        "full": "kubernetes_asyncio.client.models" in sys.modules,
        "api": CoreV1Api.__name__,
        "watch": kubernetes_asyncio.watch.Watch.__name__,
        "same_configuration": Configuration is sys.modules[
            "kubernetes_asyncio.client.configuration"].Configuration,
    }))

asyncio.run(main())
"""


def test_loaders_without_the_generated_client(tmp_path: Path) -> None:
    cfg = tmp_path / "kubeconfig"
    credential = (
        "import json; print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1',"
        " 'kind': 'ExecCredential', 'status': {'token': 'from-exec'}}))"
    )
    cfg.write_text(KUBECONFIG.format(python=json.dumps(sys.executable), credential=credential))
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE), str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    got = json.loads(out)
    assert got["a"] == ["https://127.0.0.1:6443", "abc123", "team-a", False]
    assert got["b"] == ["from-exec", "default"]
    assert got["light"] is True
    assert got["full"] is True
    assert got["api"] == "CoreV1Api"
    assert got["watch"] == "Watch"
    assert got["same_configuration"] is True


def test_already_imported_package_is_left_alone() -> None:
    probe = (
        "import kubernetes_asyncio, sys\n"
        "from sliceplane.client.configloader import config_module\n"
        "m = config_module()\n"
        "print(sys.modules['kubernetes_asyncio'] is kubernetes_asyncio,"
        " m.load_kube_config.__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.split() == ["True", "load_kube_config"]
