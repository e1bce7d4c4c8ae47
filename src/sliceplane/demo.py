"""``make demo``: the walkthrough a newcomer runs first.

It starts ``sliceplane apiserver`` on loopback and drives it with the real kubectl,
printing each command and its output, the way the Kubernetes documentation walks through
EndpointSlices. The EndpointSlice controller is not wired in yet, so the walkthrough
publishes a slice by hand where the controller will later do it.

Options: ``--keep`` leaves the server running and prints how to reach it;
``--data-dir DIR`` keeps state somewhere of your choosing (default ``./data/demo``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: payments-api
  labels: {app: payments-api}
spec:
  replicas: 6
  selector:
    matchLabels: {app: payments-api}
  template:
    metadata:
      labels: {app: payments-api}
    spec:
      containers:
      - name: api
        image: registry.example/payments-api:1.0
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: payments-api
spec:
  selector: {app: payments-api}
  ports:
  - {name: http, port: 80, targetPort: http}
"""

SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: payments-api-manual
  labels:
    kubernetes.io/service-name: payments-api
addressType: IPv4
ports:
- {name: http, protocol: TCP, port: 8080}
endpoints:
- addresses: ["10.244.1.5"]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
  zone: zone-a
- addresses: ["10.244.2.7"]
  conditions: {ready: false, serving: false, terminating: false}
  nodeName: node-b
  zone: zone-b
"""

BAD_SLICE = """\
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: broken}
addressType: IPv4
ports: [{name: http, protocol: TCP, port: 8080}]
endpoints:
- addresses: []
"""


def _say(text: str) -> None:
    print(f"\n\033[1m# {text}\033[0m", flush=True)


def _run(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    shown = "kubectl " + " ".join(args) + (" <<EOF ... EOF" if stdin else "")
    print(f"$ {shown}", flush=True)
    res = subprocess.run(
        [str(BIN / "kubectl"), *args], input=stdin, capture_output=True, text=True, env=env
    )
    out = (res.stdout + res.stderr).rstrip()
    if out:
        print(out, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sliceplane-demo", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("data/demo"))
    parser.add_argument("--keep", action="store_true", help="leave the API server running")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    cache = data_dir / "kubectl-cache"
    log = open(data_dir / "apiserver.log", "w")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [
            str(BIN / "sliceplane"),
            "apiserver",
            "--data-dir",
            str(data_dir),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=args.keep,
    )
    assert proc.stdout is not None
    url = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not url:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on (\S+)", line)
        if m:
            url = m.group(1)
    if not url:
        print("error: the API server did not start; see " + str(data_dir / "apiserver.log"))
        proc.kill()
        return 1
    env = dict(os.environ, KUBECONFIG=str(data_dir / "kubeconfig"), KUBECACHEDIR=str(cache))
    env.pop("KUBERNETES_SERVICE_HOST", None)
    try:
        _say(f"sliceplane's API server is up at {url}; the real kubectl talks to it")
        _run(env, "get", "namespaces")
        _run(env, "api-resources")
        _say("A Deployment of 6 replicas and a Service in front of it")
        _run(env, "apply", "-f", "-", stdin=DEPLOYMENT)
        _run(env, "get", "deployments,services", "-o", "wide")
        _say("Publish the backends as an EndpointSlice (the controller will do this)")
        _run(env, "apply", "-f", "-", stdin=SLICE)
        _run(env, "get", "endpointslices", "-l", "kubernetes.io/service-name=payments-api")
        _run(env, "describe", "endpointslice", "payments-api-manual")
        _run(env, "describe", "service", "payments-api")
        _say("The API server validates slices like upstream does")
        _run(env, "apply", "-f", "-", stdin=BAD_SLICE)
        _say("Scale and label like on any cluster")
        _run(env, "scale", "deployment", "payments-api", "--replicas=300")
        _run(env, "label", "service", "payments-api", "tier=backend")
        _run(env, "get", "services", "--show-labels")
        _say("Deleting the Service")
        _run(env, "delete", "service", "payments-api")
        _run(env, "get", "services")
    finally:
        if args.keep:
            print(
                f"\nThe API server keeps running (pid {proc.pid}). Keep exploring:\n"
                f"  export KUBECONFIG={data_dir / 'kubeconfig'}\n"
                f"  {BIN / 'kubectl'} get endpointslices -A\n"
                f"Stop it with: kill {proc.pid}"
            )
        else:
            proc.terminate()
            proc.wait(15)
            print(
                "\nDone. Run `make demo ARGS=--keep` to leave the server running and keep "
                "exploring with kubectl."
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
