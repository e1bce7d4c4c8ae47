"""The web view in a real browser: Debian's Chromium driven by Playwright, against
``sliceplane up`` (the real CLI, its API server and controllers) changed with the real
kubectl.

Every wait is for a DOM change, bounded; nothing asserts on time. Screenshots go to
``build/artifacts/view/`` (or ``$SLICEPLANE_ARTIFACTS``) for a person to look at.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BIN = Path(sys.executable).parent
WAIT_MS = 60_000
"""Upper bound of every wait for the page to change (a bound, not a measurement)."""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (make env installs it as root)"
)


def artifacts() -> Path:
    root = Path(__file__).resolve().parents[2]
    out = Path(os.environ.get("SLICEPLANE_ARTIFACTS", root / "build" / "artifacts")) / "view"
    out.mkdir(parents=True, exist_ok=True)
    return out


class Cluster:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log = data_dir / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.view_url = ""

    def start(self, timeout: float = 90.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    str(BIN / "sliceplane"),
                    "up",
                    "--data-dir",
                    str(self.data_dir),
                    "--listen",
                    "127.0.0.1:0",
                    "--view-listen",
                    "127.0.0.1:0",
                    "--nodes",
                    "10",  # room for the 1,000-pod Service (110 pods a node)
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            m = re.search(r"web view: (http://\S+)", text)
            if m:
                self.view_url = m.group(1).rstrip("/")
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"sliceplane up exited:\n{text}")
            time.sleep(0.1)
        raise RuntimeError(f"sliceplane up printed no view address:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        env = {**os.environ, "KUBECONFIG": str(self.data_dir / "kubeconfig")}
        done = subprocess.run(
            [str(BIN / "kubectl"), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(tmp_path_factory.mktemp("view-up"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def browser_page(cluster: Cluster) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="sp-view-chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            args=ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
            # The page forbids eval (script-src 'self'); Playwright's waits need it.
            bypass_csp=True,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def count(page: Any, selector: str) -> int:
    return int(page.evaluate(f"document.querySelectorAll({selector!r}).length"))


def test_live_view(cluster: Cluster, browser_page: Any) -> None:
    page = browser_page
    shots = artifacts()
    cluster.kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3")
    cluster.kubectl("expose", "deployment", "web", "--port=80", "--target-port=8080")

    # The namespace page lists the Service with its badge.
    page.goto(f"{cluster.view_url}/ns/default")
    page.keyboard.press("Tab")  # the first stop is the skip link, then the breadcrumb
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.wait_for_selector('#svc\\:web a[href="/ns/default/svc/web"]', timeout=WAIT_MS)
    page.wait_for_function(
        "document.getElementById('live').textContent === 'live'", timeout=WAIT_MS
    )
    page.screenshot(path=str(shots / "namespace.png"), full_page=True)

    # The Service page: three ready endpoints in one slice card.
    page.goto(f"{cluster.view_url}/ns/default/svc/web")
    page.wait_for_function(
        "document.querySelectorAll('li.ep.s-ready').length === 3", timeout=WAIT_MS
    )
    assert page.inner_text("h1") == "Service default/web"
    assert count(page, "article.card") == 1
    assert page.get_attribute("#f-zone", "id") == "f-zone"
    assert page.inner_text("label[for=f-zone]") == "Zone"

    # A scale-up appears without reload: the marker set on this document survives.
    page.evaluate("window.__spMarker = 'same-document'")
    cluster.kubectl("scale", "deployment", "web", "--replicas=8")
    page.wait_for_function(
        "document.querySelectorAll('li.ep.s-ready').length === 8", timeout=WAIT_MS
    )
    assert page.evaluate("window.__spMarker") == "same-document"
    page.screenshot(path=str(shots / "service-scaled.png"), full_page=True)

    # A readiness failure changes the endpoint's colour (and its words).
    pods = sorted(
        line.split("/", 1)[1]
        for line in cluster.kubectl("get", "pods", "-l", "app=web", "-o", "name").split()
    )
    ready_colour = page.evaluate(
        "getComputedStyle(document.querySelector('li.ep.s-ready')).backgroundColor"
    )
    cluster.kubectl("annotate", "pod", pods[0], "sliceplane.io/ready=false", "--overwrite")
    item = f"li.ep[title~={pods[0]!r}]"
    page.wait_for_selector(f"{item}.s-not-ready", timeout=WAIT_MS)
    assert page.evaluate("window.__spMarker") == "same-document"
    failing_colour = page.evaluate(
        f"getComputedStyle(document.querySelector({item!r})).backgroundColor"
    )
    assert failing_colour != ready_colour
    assert page.inner_text(f"{item} .st") == "not ready"
    # The pod is listed among those without traffic, with the explanation.
    page.wait_for_selector(f"#excluded >> text={pods[0]}", timeout=WAIT_MS)
    page.wait_for_selector("#findings >> text=PodsNotReady", timeout=WAIT_MS)
    page.screenshot(path=str(shots / "service-not-ready.png"), full_page=True)

    # Filtering by state hides the ready endpoints, in the page, without a request.
    page.select_option("#f-state", "not-ready")
    assert (
        page.evaluate("[...document.querySelectorAll('li.ep')].filter(e => !e.hidden).length") == 1
    )
    page.select_option("#f-state", "")


def test_typo_selector_shows_the_finding(cluster: Cluster, browser_page: Any) -> None:
    page = browser_page
    cluster.kubectl(
        "create",
        "-f",
        "-",
        stdin="apiVersion: v1\nkind: Service\nmetadata: {name: web-typo}\n"
        "spec:\n  selector: {app: wbe}\n  ports: [{port: 80}]\n",
    )
    page.goto(f"{cluster.view_url}/ns/default/svc/web-typo")
    page.wait_for_selector("#findings >> text=SelectorMatchesNoPods", timeout=WAIT_MS)
    text = page.inner_text("#findings")
    assert "app=wbe" in text
    page.screenshot(path=str(shots_dir := artifacts()) + "/service-typo.png", full_page=True)
    assert (shots_dir / "service-typo.png").stat().st_size > 0
    page.goto(f"{cluster.view_url}/ns/default")
    page.wait_for_selector("#svc\\:web-typo .badge.b-error", timeout=WAIT_MS)


def test_thousand_endpoints_update_one_card(cluster: Cluster, browser_page: Any) -> None:
    """At 1,000 endpoints one pod's change replaces one slice card, not the page."""
    page = browser_page
    cluster.kubectl("create", "namespace", "big")
    cluster.kubectl("-n", "big", "create", "deployment", "big", "--image=x", "--replicas=1000")
    cluster.kubectl("-n", "big", "expose", "deployment", "big", "--port=80")
    page.goto(f"{cluster.view_url}/ns/big/svc/big")
    page.wait_for_function(
        "document.querySelectorAll('li.ep.s-ready').length === 1000", timeout=120_000
    )
    # One card per slice. How many slices hold the 1,000 endpoints depends on how the pods'
    # arrival was batched into syncs (upstream's reconciler, like ours, leaves a partly
    # filled slice alone when a burst does not fit it), so at least 10 and as many as exist.
    slices = cluster.kubectl("-n", "big", "get", "endpointslices", "-o", "name").split()
    assert len(slices) >= 10
    assert count(page, "article.card") == len(slices)
    page.evaluate("document.querySelectorAll('article.card').forEach(c => { c.__old = true; })")
    page.evaluate("window.__spMarker = 'big'")
    pod = cluster.kubectl("-n", "big", "get", "pods", "-o", "name").split()[500].split("/", 1)[1]
    cluster.kubectl("-n", "big", "annotate", "pod", pod, "sliceplane.io/ready=false")
    page.wait_for_selector(f"li.ep.s-not-ready[title~={pod!r}]", timeout=WAIT_MS)
    replaced = page.evaluate(
        "[...document.querySelectorAll('article.card')].filter(c => !c.__old).length"
    )
    assert replaced == 1
    assert page.evaluate("window.__spMarker") == "big"
    page.screenshot(path=str(artifacts() / "service-1000.png"))
