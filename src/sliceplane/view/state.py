"""The view's read side: a page's fragments from the shared informers' stores.

The view reads only informer caches (one list+watch per resource, shared with the
controllers under ``sliceplane up``); it never lists or gets on a page load and never
writes. Slice cards are the expensive fragments at 1,000 endpoints, so each is rendered
once per slice resourceVersion and reused by every page and every stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sliceplane.api.meta import (
    Obj,
    labels_of,
    meta_of,
    name_of,
    namespace_of,
    resource_version_of,
)
from sliceplane.api.selectors import selector_from_set
from sliceplane.api.wellknown import LABEL_SERVICE_NAME
from sliceplane.endpointslice.explain import (
    INCLUDED,
    NOT_SELECTED,
    ServiceExplanation,
    explain_service,
)
from sliceplane.machinery.factory import NAMESPACE_INDEX, InformerFactory
from sliceplane.machinery.informer import Informer
from sliceplane.machinery.labelindex import LABEL_INDEX, ensure_label_index, pair_keys, select
from sliceplane.view import model, render
from sliceplane.view.health import Finding, Snapshot, service_findings, worst
from sliceplane.view.render import Fragment

SLICE_SERVICE_INDEX = "view-service"
EVENT_OBJECT_INDEX = "view-involved"

RESOURCES = ("namespaces", "services", "endpointslices", "endpoints", "pods", "nodes", "events")


def slice_service_index(obj: Obj) -> list[str]:
    """``namespace/service`` of an EndpointSlice, from its service-name label."""
    svc = labels_of(obj).get(LABEL_SERVICE_NAME)
    return [f"{meta_of(obj).get('namespace')}/{svc}"] if svc else []


def event_object_index(obj: Obj) -> list[str]:
    """``namespace/name`` of the object an Event is about."""
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    ns = ref.get("namespace") or namespace_of(obj)
    return [f"{ns}/{ref.get('name')}"] if ref.get("name") else []


@dataclass(frozen=True, slots=True)
class Page:
    """What a browser tab looks at: the index, a namespace, or one Service."""

    namespace: str = ""
    service: str = ""

    @property
    def kind(self) -> str:
        return "service" if self.service else "namespace" if self.namespace else "index"


class ClusterView:
    """Fragments of every page, computed from informer stores on demand."""

    def __init__(self, factory: InformerFactory) -> None:
        self.informers: dict[str, Informer] = {r: factory.informer(r) for r in RESOURCES}
        self.informers["endpointslices"].ensure_index(SLICE_SERVICE_INDEX, slice_service_index)
        self.informers["events"].ensure_index(EVENT_OBJECT_INDEX, event_object_index)
        ensure_label_index(self.informers["pods"])
        self._cards: dict[str, tuple[str, Fragment, model.SliceCard]] = {}
        self._findings: dict[str, tuple[tuple[str, ...], list[Finding]]] = {}
        self._explanations: dict[str, tuple[tuple[str, ...], ServiceExplanation]] = {}

    def synced(self) -> bool:
        return all(inf.has_synced() for inf in self.informers.values())

    def _store(self, resource: str) -> Any:
        return self.informers[resource].store

    # -- reads -----------------------------------------------------------------------------

    def namespaces(self) -> list[str]:
        # Every namespaced object's namespace exists as an object: no need to scan the
        # Services (that made the index page quadratic in Services).
        return sorted(name_of(ns) for ns in self._store("namespaces").list())

    def services(self, namespace: str) -> list[Obj]:
        found: list[Obj] = self._store("services").by_index(NAMESPACE_INDEX, namespace)
        return found

    def service(self, namespace: str, name: str) -> Obj | None:
        found: Obj | None = self._store("services").get(f"{namespace}/{name}")
        return found

    def slices(self, namespace: str, service: str) -> list[Obj]:
        found: list[Obj] = self._store("endpointslices").by_index(
            SLICE_SERVICE_INDEX, f"{namespace}/{service}"
        )
        return found

    def service_objects(self, svc: Obj) -> Snapshot:
        """The doctor's snapshot of one Service, from the informer stores. Pods of other
        namespaces are looked up only when no pod of its own namespace matches (the
        doctor reports them only then, as ``sliceplane doctor`` gathers them)."""
        ns, name = namespace_of(svc), name_of(svc)
        pods_inf = self.informers["pods"]
        selector = (svc.get("spec") or {}).get("selector") or {}
        pods, matched = self._candidate_pods(ns, selector)
        elsewhere: list[Obj] = []
        if selector and not matched:
            sel = selector_from_set(selector)
            for other in self.namespaces():
                if other != ns:
                    elsewhere += select(pods_inf, other, sel)
        return Snapshot(
            namespace=ns,
            name=name,
            service=svc,
            pods=pods,
            nodes=self._store("nodes").list(),
            slices=self.slices(ns, name),
            endpoints=self._store("endpoints").get(f"{ns}/{name}"),
            events=self._store("events").by_index(NAMESPACE_INDEX, ns, ordered=False),
            services=self.services(ns),
            elsewhere_pods=elsewhere,
        )

    def _candidate_pods(
        self, namespace: str, selector: Mapping[str, str]
    ) -> tuple[list[Obj], bool]:
        """The pods that can matter to a Service, and whether any of them matches its
        selector: those sharing a label pair with its selector when some pod matches (the
        selected ones and the near misses), else the whole namespace (a typo'd selector
        shares nothing; its near misses are anywhere). Keeps a page of a 1,000-Service
        namespace from scanning every pod per Service."""
        store = self.informers["pods"].store
        if selector:
            keys: set[str] = set()
            selected: frozenset[str] | None = None
            for value in pair_keys(namespace, dict(selector)):
                hits: frozenset[str] = store.index_set(LABEL_INDEX, value)
                keys |= hits
                selected = hits if selected is None else selected & hits
            if selected:
                return [obj for k in sorted(keys) if (obj := store.get(k)) is not None], True
        pods: list[Obj] = store.by_index(NAMESPACE_INDEX, namespace)
        return pods, False

    def findings(self, objs: Snapshot) -> list[Finding]:
        """The doctor's findings, recomputed only when an object they read changed (the
        doctor replans the Service's slices: a quarter second at 1,000 pods)."""
        key, version = _service_key(objs), objects_version(objs)
        cached = self._findings.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        found = service_findings(objs)
        self._findings[key] = (version, found)
        return found

    def explanation(self, objs: Snapshot, nodes: dict[str, Obj]) -> ServiceExplanation:
        key, version = _service_key(objs), objects_version(objs)
        cached = self._explanations.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        assert objs.service is not None
        found = explain_service(objs.service, [*objs.pods, *objs.elsewhere_pods], nodes)
        self._explanations[key] = (version, found)
        return found

    def card(self, es: Obj) -> tuple[Fragment, model.SliceCard]:
        key = f"{namespace_of(es)}/{name_of(es)}"
        rv = resource_version_of(es)
        cached = self._cards.get(key)
        if cached is not None and cached[0] == rv:
            return cached[1], cached[2]
        card = model.slice_card(es)
        frag = render.slice_card(card)
        self._cards[key] = (rv, frag, card)
        return frag, card

    def forget_slice(self, es: Obj) -> None:
        self._cards.pop(f"{namespace_of(es)}/{name_of(es)}", None)

    # -- pages -----------------------------------------------------------------------------

    def fragments(self, page: Page) -> list[Fragment]:
        if page.kind == "service":
            return self.service_fragments(page.namespace, page.service)
        if page.kind == "namespace":
            return self.namespace_fragments(page.namespace)
        return self.index_fragments()

    def index_fragments(self) -> list[Fragment]:
        out = []
        for ns in self.namespaces():
            errors = warnings = 0
            services = self.services(ns)
            for svc in services:
                sev = worst(self.findings(self.service_objects(svc)))
                errors += sev == "error"
                warnings += sev == "warning"
            out.append(
                render.namespace_row(render.NamespaceRow(ns, len(services), errors, warnings))
            )
        return out

    def namespace_fragments(self, namespace: str) -> list[Fragment]:
        out = []
        for svc in sorted(self.services(namespace), key=name_of):
            objs = self.service_objects(svc)
            findings = self.findings(objs)
            row = model.service_row(svc, objs.slices)
            out.append(render.service_row(row, findings, worst(findings)))
        return out

    def service_fragments(self, namespace: str, name: str) -> list[Fragment]:
        svc = self.service(namespace, name)
        if svc is None:
            return [
                render.fragment(
                    "summary",
                    "summary-box",
                    "div",
                    f"<p>There is no Service {render.esc(name)} in namespace "
                    f"{render.esc(namespace)} (yet).</p>",
                )
            ]
        objs = self.service_objects(svc)
        findings = self.findings(objs)
        nodes = {name_of(n): n for n in objs.nodes}
        explanation = self.explanation(objs, nodes)
        row = model.service_row(svc, objs.slices)
        out = [
            render.service_summary(row, worst(findings), explanation.notes, explanation.hints),
            render.findings_list(findings),
        ]
        cards = []
        for es in sorted(objs.slices, key=name_of):
            frag, card = self.card(es)
            out.append(frag)
            cards.append(card)
        zones, node_names = model.zones_and_nodes(cards)
        out.append(render.filters(zones, node_names))
        excluded = [
            model.ExcludedPod(
                name=v.name,
                published=v.published,
                reasons=tuple((r["code"], r["message"]) for r in v.reasons),
                namespace=v.namespace if v.namespace != namespace else "",
            )
            for v in explanation.pods
            if not v.receives_traffic and not all(r["code"] == INCLUDED for r in v.reasons)
        ]
        out.append(render.excluded_list(excluded))
        out.append(render.legacy_endpoints(model.legacy_endpoints(objs.endpoints), name))
        out.append(render.events_table(model.event_rows(self._events_about(objs, explanation))))
        return out

    def _events_about(self, objs: Snapshot, explanation: Any) -> list[Obj]:
        ns = objs.namespace
        names = {objs.name}
        names |= {name_of(es) for es in objs.slices}
        names |= {
            v.name
            for v in explanation.pods
            if v.namespace == ns and all(r["code"] != NOT_SELECTED for r in v.reasons)
        }
        for es in objs.slices:
            for ep in es.get("endpoints") or ():
                ref = ep.get("targetRef") or {}
                if ref.get("name"):
                    names.add(str(ref["name"]))
        store = self._store("events")
        out: list[Obj] = []
        for n in names:
            out += store.by_index(EVENT_OBJECT_INDEX, f"{ns}/{n}", ordered=False)
        return out

    def page_html(self, page: Page) -> str:
        frags = self.fragments(page)
        query = {"ns": page.namespace, "svc": page.service}
        stream = "/events?" + urlencode({k: v for k, v in query.items() if v})
        if page.kind == "service":
            crumbs = [
                ("Namespaces", "/"),
                (page.namespace, render.namespace_url(page.namespace)),
                (page.service, render.service_url(page.namespace, page.service)),
            ]
            body = render.service_body(frags)
            title = f"Service {page.namespace}/{page.service}"
        elif page.kind == "namespace":
            crumbs = [("Namespaces", "/"), (page.namespace, render.namespace_url(page.namespace))]
            body = render.namespace_body(frags)
            title = f"Services in {page.namespace}"
        else:
            crumbs = [("Namespaces", "/")]
            body = render.index_body(frags)
            title = "Namespaces"
        return render.page(title, crumbs, body, stream)


def _service_key(snap: Snapshot) -> str:
    return f"{snap.namespace}/{snap.name}"


def objects_version(objs: Snapshot) -> tuple[str, ...]:
    """The resourceVersions of every object a Service's health is judged from: equal
    tuples mean equal inputs (objects in informer caches are replaced, never changed)."""
    out = [resource_version_of(objs.service), resource_version_of(objs.endpoints), "|"]
    for group in (objs.slices, objs.pods, objs.elsewhere_pods, objs.nodes, objs.events):
        out += sorted(resource_version_of(o) + name_of(o) for o in group)
        out.append("|")
    return tuple(out)
