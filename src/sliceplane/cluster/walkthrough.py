"""The EndpointSlice walkthrough's steps: ``sliceplane up`` driven by the real kubectl.

:class:`Walkthrough` starts ``sliceplane up`` (API server, controllers, scheduler, three
simulated nodes in three zones) as a child process and runs each step the way the
Kubernetes documentation walks through EndpointSlices: a Deployment and a Service, slices
of at most 100 endpoints after scaling to 300, pods failing readiness, terminating pods, a
node failure, and a Service whose selector matches nothing. Each step returns kubectl's
output. ``sliceplane demo`` (:mod:`sliceplane.cli.demo`, run by ``make demo``) narrates the
steps; the end-to-end tests drive the same steps and assert on them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sliceplane.api.podstatus import is_ready
from sliceplane.api.wellknown import LABEL_SERVICE_NAME, LABEL_ZONE

BIN = Path(sys.executable).parent

PAYMENTS = """\
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

TYPO_SERVICE = """\
apiVersion: v1
kind: Service
metadata:
  name: payments-typo
spec:
  selector: {app: payment-api}
  ports:
  - {name: http, port: 80, targetPort: http}
"""

CHECKOUT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: checkout
spec:
  replicas: 2
  selector:
    matchLabels: {app: checkout}
  template:
    metadata:
      labels: {app: checkout}
    spec:
      nodeSelector: {topology.kubernetes.io/zone: zone-a}
      containers:
      - name: web
        image: registry.example/checkout:1.0
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: checkout
spec:
  selector: {app: checkout}
  ports:
  - {name: http, port: 80, targetPort: http}
"""

# Four ways to break the checkout Service, each (what, how, how to undo, the doctor's code).
BREAKS: list[tuple[str, list[str], list[str], str]] = [
    (
        "a typo in the selector",
        ["patch", "service", "checkout", "-p", '{"spec":{"selector":{"app":"chekout"}}}'],
        ["patch", "service", "checkout", "-p", '{"spec":{"selector":{"app":"checkout"}}}'],
        "SelectorMatchesNoPods",
    ),
    (
        "every pod failing its readiness probe",
        ["annotate", "pods", "-l", "app=checkout", "sliceplane.io/ready=false", "--overwrite"],
        ["annotate", "pods", "-l", "app=checkout", "sliceplane.io/ready-"],
        "PodsNotReady",
    ),
    (
        "a targetPort naming a port no container declares",
        [
            "patch",
            "service",
            "checkout",
            "--type",
            "json",
            "-p",
            '[{"op":"replace","path":"/spec/ports/0/targetPort","value":"htp"}]',
        ],
        [
            "patch",
            "service",
            "checkout",
            "--type",
            "json",
            "-p",
            '[{"op":"replace","path":"/spec/ports/0/targetPort","value":"http"}]',
        ],
        "NamedTargetPortMissing",
    ),
]

SLICES = ["get", "endpointslices", "-l", f"{LABEL_SERVICE_NAME}=payments-api"]


class DemoError(Exception):
    pass


class Walkthrough:
    """A running ``sliceplane up`` plus kubectl, step by step.

    ``echo`` receives each command and its output (the demo prints them; tests collect).
    """

    def __init__(
        self,
        data_dir: Path,
        echo: Callable[[str], None] | None = None,
        *,
        runtime: str = "simulated",
    ) -> None:
        self.data_dir = data_dir
        self.runtime = runtime
        self.echo = echo or (lambda _text: None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ)

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 60.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "up.log"
        with open(log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "sliceplane"),
                    "up",
                    "--data-dir",
                    str(self.data_dir),
                    "--listen",
                    "127.0.0.1:0",
                    "--runtime",
                    self.runtime,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "cluster is up" in log_path.read_text(errors="replace"):
                break
            if self.proc.poll() is not None:
                raise DemoError("sliceplane up exited:\n" + log_path.read_text(errors="replace"))
            time.sleep(0.1)
        else:
            raise DemoError(f"sliceplane up did not start in {timeout:.0f}s; see {log_path}")
        self.env.update(
            KUBECONFIG=str(self.data_dir / "kubeconfig"),
            KUBECACHEDIR=str(self.data_dir / "kubectl-cache"),
        )
        self.env.pop("KUBERNETES_SERVICE_HOST", None)
        # Any Ready node will do: after a restart a node stopped on purpose stays stopped.
        self.wait(
            lambda: any(is_ready(n) for n in self.json("get", "nodes")["items"]),
            "a Ready node",
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    # ------------------------------------------------------------------ kubectl

    def kubectl(self, *args: str, stdin: str | None = None, show: bool = True) -> str:
        res = subprocess.run(
            [str(BIN / "kubectl"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        out = (res.stdout + res.stderr).rstrip()
        if show:
            shown = "kubectl " + " ".join(args) + (" <<EOF … EOF" if stdin else "")
            self.echo(f"$ {shown}" + (f"\n{out}" if out else ""))
        return out

    def json(self, *args: str) -> Any:
        res = subprocess.run(
            [str(BIN / "kubectl"), *args, "-o", "json"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
        )
        if res.returncode != 0:
            raise DemoError(res.stderr.strip())
        return json.loads(res.stdout)

    def wait(self, check: Callable[[], Any], what: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except DemoError:
                pass
            time.sleep(0.25)
        raise DemoError(f"timed out waiting for {what}")

    def slices(self, service: str = "payments-api") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.json(
            "get", "endpointslices", "-l", f"{LABEL_SERVICE_NAME}={service}"
        )["items"]
        return items

    def endpoints(self, service: str = "payments-api") -> list[dict[str, Any]]:
        return [ep for s in self.slices(service) for ep in s["endpoints"] or []]

    # ------------------------------------------------------------------ steps

    def step_nodes(self) -> str:
        return self.kubectl("get", "nodes", "-L", LABEL_ZONE)

    def step_deploy(self) -> str:
        out = self.kubectl("apply", "-f", "-", stdin=PAYMENTS)
        out += "\n" + self.kubectl("rollout", "status", "deployment/payments-api", "--timeout=120s")
        self.wait(
            lambda: sum(ep["conditions"]["ready"] for ep in self.endpoints()) == 6,
            "6 ready endpoints",
        )
        return out

    def step_slices(self) -> str:
        return self.kubectl(*SLICES)

    def dns_address(self) -> tuple[str, str]:
        """The local cluster's DNS ``(host, port)``, from ``DIR/dns-address``."""
        host, _, port = (self.data_dir / "dns-address").read_text().strip().rpartition(":")
        return host.strip("[]"), port

    def step_dns(self, name: str = "payments-api.default.svc.cluster.local") -> str:
        """Cluster DNS answers the Service's name, asked with the real ``dig``."""
        host, port = self.dns_address()
        args = ["dig", f"@{host}", "-p", port, name, "+noall", "+answer"]
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
        except FileNotFoundError:
            raise DemoError(
                "dig is not installed (Debian: dnsutils; `make env` installs it)"
            ) from None
        except subprocess.CalledProcessError as exc:
            raise DemoError(f"dig failed: {exc.stderr.strip()}") from None
        self.echo("$ " + " ".join(args) + "\n" + out.stdout.rstrip())
        return out.stdout

    def step_describe(self) -> str:
        name = self.slices()[0]["metadata"]["name"]
        return self.kubectl("describe", "endpointslice", name)

    def step_scale(self, replicas: int = 300) -> str:
        out = self.kubectl("scale", "deployment", "payments-api", f"--replicas={replicas}")
        self.wait(
            lambda: sum(ep["conditions"]["ready"] for ep in self.endpoints()) == replicas,
            f"{replicas} ready endpoints",
            300,
        )
        return out + "\n" + self.kubectl(*SLICES)

    def step_fail_readiness(self, count: int = 3) -> list[str]:
        pods = sorted(
            p["metadata"]["name"]
            for p in self.json("get", "pods", "-l", "app=payments-api")["items"]
        )[:count]
        for pod in pods:
            self.kubectl("annotate", "pod", pod, "sliceplane.io/ready=false", "--overwrite")

        def not_ready() -> bool:
            by_pod = {ep["targetRef"]["name"]: ep for ep in self.endpoints()}
            return all(by_pod.get(p, {}).get("conditions", {}).get("ready") is False for p in pods)

        self.wait(not_ready, "endpoints not ready")
        self.kubectl(
            "get",
            "pods",
            "-l",
            "app=payments-api",
            "--field-selector",
            f"metadata.name={pods[0]}",
        )
        return pods

    def step_terminate(self) -> tuple[str, list[dict[str, Any]]]:
        pod = sorted(
            p["metadata"]["name"]
            for p in self.json("get", "pods", "-l", "app=payments-api")["items"]
            if not p["metadata"].get("deletionTimestamp")
        )[-1]
        self.kubectl("delete", "pod", pod, "--wait=false")
        seen: list[dict[str, Any]] = []

        def terminating() -> bool:
            for ep in self.endpoints():
                if ep["targetRef"]["name"] == pod:
                    seen.append(ep["conditions"])
                    return bool(ep["conditions"].get("terminating"))
            return False

        self.wait(terminating, "a terminating endpoint", 30)
        self.kubectl(
            "get",
            "endpointslices",
            "-l",
            f"{LABEL_SERVICE_NAME}=payments-api",
            "-o",
            'jsonpath={range .items[*].endpoints[?(@.targetRef.name=="' + pod + '")]}'
            '{.targetRef.name}{" "}{.conditions}{"\\n"}{end}',
        )
        self.wait(
            lambda: all(ep["targetRef"]["name"] != pod for ep in self.endpoints()),
            "the deleted pod to leave the slices",
            60,
        )
        return pod, seen

    def step_node_stop(self, node: str = "node-2") -> int:
        self.echo(f"$ sliceplane node stop {node}")
        res = subprocess.run(
            [str(BIN / "sliceplane"), "node", "stop", node, "--kubeconfig", self.env["KUBECONFIG"]],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.echo(res.stdout.rstrip() or res.stderr.rstrip())

        def on_node() -> list[dict[str, Any]]:
            return [ep for ep in self.endpoints() if ep.get("nodeName") == node]

        self.wait(
            lambda: on_node() and all(not ep["conditions"]["ready"] for ep in on_node()),
            f"endpoints on {node} not ready",
            60,
        )
        self.kubectl("get", "nodes")
        return len(on_node())

    def step_typo(self) -> str:
        self.kubectl("apply", "-f", "-", stdin=TYPO_SERVICE)
        self.wait(lambda: len(self.slices("payments-typo")) == 1, "the placeholder slice")
        out = self.kubectl("get", "endpointslices", "-l", f"{LABEL_SERVICE_NAME}=payments-typo")
        out += "\n" + self.kubectl("describe", "service", "payments-typo")
        return out

    def doctor(self, name: str, namespace: str = "default", show: bool = True) -> Any:
        """``kubectl sliceplane doctor service NAME -n NS`` (the plugin, found on PATH):
        with ``show`` its text is printed, else its ``-o json`` is returned, with the
        exit code as ``exit``."""
        env = {**self.env, "PATH": f"{BIN}{os.pathsep}{self.env.get('PATH', '')}"}
        cmd = [str(BIN / "kubectl"), "sliceplane", "doctor", "service", name, "-n", namespace]
        res = subprocess.run(
            cmd if show else [*cmd, "-o", "json"], capture_output=True, text=True, env=env
        )
        if res.returncode not in (0, 1):
            raise DemoError(f"doctor failed: {res.stderr.strip()}")
        if show:
            self.echo(f"$ kubectl sliceplane doctor service {name} -n {namespace}")
            self.echo(res.stdout.rstrip() + f"\n(exit {res.returncode})")
            return {"exit": res.returncode}
        doc = json.loads(res.stdout)
        doc["exit"] = res.returncode
        return doc

    def _doctor_until(
        self, name: str, namespace: str, want: Callable[[Any], bool], show: bool = True
    ) -> Any:
        """Poll the doctor's JSON until ``want`` holds; print its text once then."""
        found: list[Any] = []

        def check() -> bool:
            found[:] = [self.doctor(name, namespace, show=False)]
            return want(found[0])

        self.wait(check, f"the doctor's verdict on {namespace}/{name}", 90)
        if show:
            self.doctor(name, namespace)
        return found[0]

    def step_doctor(self) -> dict[str, Any]:
        """Break the checkout Service four ways and let the doctor say why; the verdict
        per break (its JSON, with ``exit``), ``healthy`` first."""
        self.kubectl("apply", "-f", "-", stdin=CHECKOUT)
        self.kubectl("rollout", "status", "deployment/checkout", "--timeout=120s", show=False)

        def healthy(doc: Any) -> bool:
            return bool(doc["ok"] and not doc["findings"])

        verdicts = {"healthy": self._doctor_until("checkout", "default", healthy)}
        for what, break_args, fix_args, code in BREAKS:
            self.echo(f"\n# Break it: {what}")
            self.kubectl(*break_args)
            verdicts[code] = self._doctor_until("checkout", "default", _reports(code))
            self.kubectl(*fix_args, show=False)
            self._doctor_until("checkout", "default", healthy, show=False)
        self.echo("\n# Break it: the Service created in another namespace than its pods")
        self.kubectl("create", "namespace", "shop")
        self.kubectl("apply", "-n", "shop", "-f", "-", stdin=CHECKOUT.split("---\n")[1])
        verdicts["PodsInOtherNamespace"] = self._doctor_until(
            "checkout",
            "shop",
            _reports("PodsInOtherNamespace"),
        )
        return verdicts

    # ------------------------------------------------ real traffic (--runtime process)

    def step_hello_deploy(self, replicas: int = 3) -> str:
        """``hello``: pods that are real processes answering their own name over HTTP."""
        out = self.kubectl("apply", "-f", "-", stdin=hello_manifest(replicas))
        self.wait(lambda: self.ready_endpoints("hello") == replicas, f"{replicas} ready pods")
        return out

    def ready_endpoints(self, service: str) -> int:
        return sum(bool(ep["conditions"].get("ready")) for ep in self.endpoints(service))

    def cluster_ip(self, service: str = "hello") -> str:
        return str(self.json("get", "service", service)["spec"]["clusterIP"])

    def answers(self, times: int, service: str = "hello") -> dict[str, int]:
        """``curl`` the ClusterIP from this machine ``times`` times: which pods answered
        (``refused`` counts connections refused: no endpoints)."""
        url = f"http://{self.cluster_ip(service)}/"
        seen: dict[str, int] = {}
        for _ in range(times):
            try:
                res = subprocess.run(
                    ["curl", "-s", "-m", "5", url], capture_output=True, text=True, timeout=30
                )
            except FileNotFoundError:
                raise DemoError(
                    "curl is not installed (Debian: curl; `make env` installs it)"
                ) from None
            who = res.stdout.strip() if res.returncode == 0 else "refused"
            seen[who] = seen.get(who, 0) + 1
        return seen

    def step_curl(self, times: int = 12, service: str = "hello") -> dict[str, int]:
        seen = self.answers(times, service)
        url = f"http://{self.cluster_ip(service)}/"
        lines = "\n".join(f"  {n:5d} {who}" for who, n in sorted(seen.items()))
        self.echo(f"$ for i in $(seq {times}); do curl -s {url}; done | sort | uniq -c\n{lines}")
        return seen

    def step_hello_scale(self, replicas: int) -> str:
        out = self.kubectl("scale", "deployment", "hello", f"--replicas={replicas}")
        self.wait(
            lambda: (
                self.ready_endpoints("hello") == replicas
                and len(self.endpoints("hello")) == replicas
            ),
            f"{replicas} endpoints",
        )
        # the proxy follows the slices within its --min-sync-period
        self.wait(lambda: len(self.answers(2 * replicas + 2)) <= max(replicas, 1), "the proxy")
        return out


def hello_manifest(replicas: int) -> str:
    """A Deployment whose containers run Python's HTTP server answering the pod's name,
    bound to the pod IP the process runtime gives it, and a Service on port 80."""
    code = (
        "import http.server,os\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "  def do_GET(s):\n"
        "    b=(os.environ['POD_NAME']+'\\n').encode()\n"
        "    s.send_response(200);s.send_header('Content-Length',str(len(b)));s.end_headers()\n"
        "    s.wfile.write(b)\n"
        "  def log_message(s,*a):pass\n"
        "http.server.ThreadingHTTPServer((os.environ['POD_IP'],int(os.environ['PORT'])),H)"
        ".serve_forever()\n"
    )
    docs = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "hello", "labels": {"app": "hello"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "hello"}},
                "template": {
                    "metadata": {"labels": {"app": "hello"}},
                    "spec": {
                        "terminationGracePeriodSeconds": 2,
                        "containers": [
                            {
                                "name": "hello",
                                "image": "python:3",
                                "command": [sys.executable, "-c", code],
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "readinessProbe": {
                                    "httpGet": {"path": "/", "port": "http"},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "hello"},
            "spec": {
                "selector": {"app": "hello"},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]
    return "\n---\n".join(json.dumps(d) for d in docs)


def _reports(code: str) -> Callable[[Any], bool]:
    return lambda doc: code in [f["code"] for f in doc["findings"]]
