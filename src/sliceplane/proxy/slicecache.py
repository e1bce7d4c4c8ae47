"""The per-Service merge of EndpointSlices (kube-proxy's ``endpointslicecache.go``).

Promises, each from upstream:

* slices are grouped by (namespace, ``kubernetes.io/service-name`` label); a slice without
  the label, or of another address type than the proxy's family, is ignored;
* ports with no name (nil) or no/zero port number are ignored; the endpoint list of a
  Service port is the union over its slices, one entry per ``IP:port`` where the IP is
  ``addresses[0]`` in canonical form (other addresses ignored);
* nil ``ready``/``serving`` mean true, nil ``terminating`` means false;
* the same ``IP:port`` seen twice: a later copy replaces the earlier one unless it is
  terminating, so the non-terminating copy wins;
* each endpoint list is sorted by its ``IP:port`` string (so ``10.0.0.10:80`` comes before
  ``10.0.0.2:80``); slices are visited in name order, which makes the result deterministic
  (upstream's map order is not);
* an update equal to what is stored is not a change; removing an unknown slice is not a
  change; :meth:`checkout` names the Services whose endpoints may have changed since the
  last call and the ``endpoints.kubernetes.io/last-change-trigger-time`` of each change.

Only the fields routing needs are kept, so an unrelated slice change (a label) compares
equal and triggers nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sliceplane.api.meta import Obj, labels_of, meta_of
from sliceplane.api.wellknown import LABEL_HEADLESS, LABEL_SERVICE_NAME, LABEL_SERVICE_PROXY_NAME
from sliceplane.endpointbase.triggertime import trigger_time_of
from sliceplane.proxy.model import Endpoint, Family, ServiceName, ServicePortName, canonical_ip

EndpointsMap = dict[ServicePortName, tuple[Endpoint, ...]]


@dataclass(frozen=True, slots=True)
class _SliceEndpoint:
    ip: str
    node_name: str
    ready: bool
    serving: bool
    terminating: bool
    zone_hints: frozenset[str] | None
    node_hints: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class _SliceInfo:
    ports: tuple[tuple[str, str, int], ...]  # (name, protocol, port)
    endpoints: tuple[_SliceEndpoint, ...]


def _hint_names(hints: Any, key: str) -> frozenset[str] | None:
    if not hints:  # most endpoints carry no hints: skip building an empty set
        return None
    values = hints.get(key) or ()
    names = frozenset(str(v.get("name") or "") for v in values)
    return names or None


def _slice_info(es: Obj) -> _SliceInfo:
    ports: list[tuple[str, str, int]] = []
    for p in es.get("ports") or ():
        name = p.get("name")
        number = p.get("port")
        if name is None or not number:
            continue
        ports.append((str(name), str(p.get("protocol") or "TCP"), int(number)))
    eps: list[_SliceEndpoint] = []
    for ep in es.get("endpoints") or ():
        addresses = ep.get("addresses") or ()
        if not addresses:
            continue
        ip = canonical_ip(str(addresses[0]))
        if ip is None:
            continue
        cond = ep.get("conditions") or {}
        hints = ep.get("hints")
        eps.append(
            _SliceEndpoint(
                ip=ip,
                node_name=str(ep.get("nodeName") or ""),
                ready=cond.get("ready") is not False,
                serving=cond.get("serving") is not False,
                terminating=cond.get("terminating") is True,
                zone_hints=_hint_names(hints, "forZones"),
                node_hints=_hint_names(hints, "forNodes"),
            )
        )
    return _SliceInfo(tuple(sorted(ports, key=lambda p: p[2])), tuple(eps))


def _keys(es: Obj) -> tuple[ServiceName, str] | None:
    meta = meta_of(es)
    svc = labels_of(es).get(LABEL_SERVICE_NAME)
    ns, name = meta.get("namespace"), meta.get("name")
    if not svc or not ns or not name:
        return None
    return ServiceName(str(ns), str(svc)), str(name)


class EndpointSliceCache:
    """Slices per Service, the merged endpoints map, and what changed since checkout."""

    def __init__(self, node_name: str, family: Family) -> None:
        self.node_name = node_name
        self.family = family
        self._slices: dict[ServiceName, dict[str, _SliceInfo]] = {}
        self._merged: dict[ServiceName, EndpointsMap] = {}
        self._changed: set[ServiceName] = set()
        self._trigger_times: dict[ServiceName, list[datetime]] = {}

    def _accepts(self, es: Obj) -> bool:
        return es.get("addressType") == ("IPv6" if self.family == 6 else "IPv4")

    def update(self, es: Obj) -> bool:
        """Record an added or updated slice; True when it changes the Service."""
        keys = _keys(es)
        if keys is None or not self._accepts(es):
            return False
        svc, name = keys
        info = _slice_info(es)
        slices = self._slices.setdefault(svc, {})
        if slices.get(name) == info:
            return False
        slices[name] = info
        self._mark(svc, trigger_time_of(es))
        return True

    def delete(self, es: Obj) -> bool:
        keys = _keys(es)
        if keys is None:
            return False
        svc, name = keys
        slices = self._slices.get(svc)
        if not slices or name not in slices:
            return False
        del slices[name]
        if not slices:
            del self._slices[svc]
        self._mark(svc, None)
        return True

    def _mark(self, svc: ServiceName, when: datetime | None) -> None:
        self._changed.add(svc)
        self._merged.pop(svc, None)
        if when is not None:
            self._trigger_times.setdefault(svc, []).append(when)

    def checkout(self) -> tuple[set[ServiceName], dict[ServiceName, list[datetime]]]:
        """Services changed since the last checkout, and their trigger times."""
        changed, self._changed = self._changed, set()
        times, self._trigger_times = self._trigger_times, {}
        return changed, times

    def endpoints(self, svc: ServiceName) -> EndpointsMap:
        """The merged endpoints of one Service, per Service port (memoised)."""
        got = self._merged.get(svc)
        if got is None:
            got = merge_slices(self._slices.get(svc, {}), svc, self.node_name)
            self._merged[svc] = got
        return got

    def services(self) -> list[ServiceName]:
        return sorted(self._slices)

    def endpoints_map(self) -> EndpointsMap:
        out: EndpointsMap = {}
        for svc in self.services():
            out.update(self.endpoints(svc))
        return out


def merge_slices(
    slices: Mapping[str, _SliceInfo], svc: ServiceName, node_name: str
) -> EndpointsMap:
    # Written for the first sync, which merges every Service's slices at once (100,000
    # endpoints at 10,000 Services): the key is built here rather than by
    # ``Endpoint.__post_init__``, and the sort compares (key, endpoint) pairs, keys being
    # unique, instead of calling a key function per endpoint.
    by_port: dict[ServicePortName, dict[str, Endpoint]] = {}
    for slice_name in sorted(slices):
        info = slices[slice_name]
        for port_name, protocol, number in info.ports:
            spn = ServicePortName(svc, port_name, protocol)
            seen = by_port.setdefault(spn, {})
            suffix = f":{number}"
            for e in info.endpoints:
                ip = e.ip
                key = f"[{ip}]{suffix}" if ":" in ip else ip + suffix
                if key in seen and e.terminating:
                    continue  # the non-terminating copy of an IP:port wins
                seen[key] = Endpoint(
                    ip,
                    number,
                    e.ready,
                    e.serving,
                    e.terminating,
                    bool(node_name) and e.node_name == node_name,
                    e.zone_hints,
                    e.node_hints,
                    e.node_name,
                    key,
                )
    return {
        spn: tuple([ep for _, ep in sorted(eps.items())]) for spn, eps in by_port.items() if eps
    }


def slice_accepted_by_labels(es: Obj) -> bool:
    """kube-proxy's watch selector: no ``service-proxy-name`` and no ``headless`` label."""
    labels = labels_of(es)
    return LABEL_SERVICE_PROXY_NAME not in labels and LABEL_HEADLESS not in labels


PROXY_LABEL_SELECTOR = f"!{LABEL_SERVICE_PROXY_NAME},!{LABEL_HEADLESS}"
"""The same test as the label selector both of kube-proxy's informers are given."""
