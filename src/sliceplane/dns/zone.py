"""The cluster DNS zone: an immutable snapshot of what DNS may answer from, built
incrementally from API objects.

The resolver (:mod:`sliceplane.dns.resolver`) reads only a :class:`Zone`; nothing in it
is ever mutated after it is published, so a query in flight keeps a consistent view while
the informers move on. :class:`ZoneBuilder` keeps the mutable working copy: informer
handlers feed it API objects (Services, EndpointSlices, Namespaces and, in ``verified``
pod mode only, Pods) and :meth:`ZoneBuilder.snapshot` publishes a new :class:`Zone` when
anything changed (one shallow copy of the indexes, however many events came in since).

What is kept follows CoreDNS's kubernetes plugin (``plugin/kubernetes/object/*.go``):

* a Service keeps its type, cluster IPs (``clusterIP`` when ``clusterIPs`` is empty), the
  ExternalName and its ports (one port ``-1`` when it has none, so A records still exist);
* an EndpointSlice keeps its ports (one port ``-1`` when it has none) and the addresses of
  its *ready* endpoints (``ready`` absent counts as ready; the EndpointSlice controller
  already marks every endpoint ready for ``publishNotReadyAddresses``), each with the
  endpoint's hostname and the name of its target object (only when shorter than 64);
* a slice belongs to the Service named by its ``kubernetes.io/service-name`` label;
* Pods: IPs of pods not terminating and not in phase Succeeded, Failed or Unknown.

Everything here is pure: objects in, frozen values out. Keys are ``(namespace, name)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from sliceplane.api.meta import Obj, meta_of
from sliceplane.api.wellknown import LABEL_SERVICE_NAME

NO_PORT = -1
"""The port of a Service or slice without ports (CoreDNS's ``Port: -1``): A/AAAA records
exist for it, SRV records do not."""

Key = tuple[str, str]
K = TypeVar("K")

RECORD = "sliceplane.dns/record"
"""Where an object cut down by :mod:`sliceplane.dns.compact` carries the record this module
made of it already (``*_from_object`` hand that back instead of reading the object again),
so the informer's copy and the zone share one record instead of holding the fields twice."""
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    protocol: str
    port: int


_NO_PORTS = (Port("", "", NO_PORT),)


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str
    cluster_ips: tuple[str, ...]
    external_name: str
    ports: tuple[Port, ...]

    @property
    def headless(self) -> bool:
        return bool(self.cluster_ips) and self.cluster_ips[0] == "None"

    @property
    def is_external_name(self) -> bool:
        return self.type == "ExternalName"


@dataclass(frozen=True, slots=True)
class Address:
    ip: str
    hostname: str = ""
    target_name: str = ""


@dataclass(frozen=True, slots=True)
class Slice:
    namespace: str
    name: str
    service: str
    """The Service it belongs to (its ``kubernetes.io/service-name`` label)."""
    ports: tuple[Port, ...]
    addresses: tuple[Address, ...]
    """Ready endpoints' addresses, in the slice's order."""


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    ips: tuple[str, ...]


def _empty() -> Mapping[Any, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Zone:
    """One consistent view of the cluster for answering queries. Never mutated."""

    services: Mapping[Key, Service] = field(default_factory=_empty)
    slices: Mapping[Key, tuple[Slice, ...]] = field(default_factory=_empty)
    """Per Service key, its slices (sorted by slice name)."""
    services_by_ip: Mapping[str, tuple[Service, ...]] = field(default_factory=_empty)
    slices_by_ip: Mapping[str, tuple[Slice, ...]] = field(default_factory=_empty)
    namespaces: frozenset[str] = frozenset()
    pods_by_ip: Mapping[str, tuple[Pod, ...]] = field(default_factory=_empty)
    serial: int = 0
    """The SOA serial: the Unix time of the last change (CoreDNS's ``Modified``)."""
    synced: bool = True
    """False until every informer has listed once; name errors are then SERVFAIL."""


# -- object conversion (pure) -------------------------------------------------------------


_shared_port_tuples: dict[tuple[Port, ...], tuple[Port, ...]] = {}


def _ports(raw: Any, proto_default: str = "") -> tuple[Port, ...]:
    if not raw:
        return _NO_PORTS
    out = []
    for p in raw:
        port = p.get("port")
        out.append(
            Port(
                name=p.get("name") or "",
                protocol=p.get("protocol") or proto_default,
                port=int(port) if port is not None else NO_PORT,
            )
        )
    ports = tuple(out)
    # most Services share one of a handful of port sets: keep one copy of each
    try:
        shared = _shared_port_tuples.get(ports)
    except TypeError:  # an unhashable value (not what an API server sends)
        return ports
    if shared is not None:
        return shared
    if len(_shared_port_tuples) < 4096:
        _shared_port_tuples[ports] = ports
    return ports


def service_from_object(obj: Obj) -> Service:
    if RECORD in obj:
        return obj[RECORD]  # type: ignore[no-any-return]
    meta = meta_of(obj)
    spec = obj.get("spec") or {}
    ips = spec.get("clusterIPs") or []
    if not ips:
        ips = [spec.get("clusterIP") or ""]
    return Service(
        namespace=meta.get("namespace") or "",
        name=meta.get("name") or "",
        type=spec.get("type") or "ClusterIP",
        cluster_ips=tuple(ips),
        external_name=spec.get("externalName") or "",
        ports=_ports(spec.get("ports")),
    )


def slice_from_object(obj: Obj) -> Slice:
    if RECORD in obj:
        return obj[RECORD]  # type: ignore[no-any-return]
    meta = meta_of(obj)
    labels = meta.get("labels") or {}
    addresses: list[Address] = []
    for ep in obj.get("endpoints") or []:
        ready = (ep.get("conditions") or {}).get("ready")
        if ready is False:
            continue
        target = (ep.get("targetRef") or {}).get("name") or ""
        if len(target) >= 64:
            target = ""
        hostname = ep.get("hostname") or ""
        for ip in ep.get("addresses") or []:
            addresses.append(Address(ip=ip, hostname=hostname, target_name=target))
    return Slice(
        namespace=meta.get("namespace") or "",
        name=meta.get("name") or "",
        service=labels.get(LABEL_SERVICE_NAME) or "",
        ports=_ports(obj.get("ports")),
        addresses=tuple(addresses),
    )


_GONE_PHASES = frozenset({"Succeeded", "Failed", "Unknown"})


def pod_from_object(obj: Obj) -> Pod | None:
    """The pod's IPs, or None for a pod CoreDNS does not index (terminating, or in a
    final or unknown phase)."""
    if RECORD in obj:
        return obj[RECORD]  # type: ignore[no-any-return]
    meta = meta_of(obj)
    status = obj.get("status") or {}
    if meta.get("deletionTimestamp") or status.get("phase") in _GONE_PHASES:
        return None
    ips = tuple(p.get("ip") for p in status.get("podIPs") or [] if p.get("ip"))
    return Pod(namespace=meta.get("namespace") or "", name=meta.get("name") or "", ips=ips)


def _key(obj: Obj) -> Key:
    meta = meta_of(obj)
    return (meta.get("namespace") or "", meta.get("name") or "")


# -- snapshots that cost the changes, not the size ------------------------------------------

_GONE: Any = object()


class Layered(Mapping[Any, Any]):
    """A read-only mapping: ``base`` with ``delta`` over it (``_GONE`` values deleted).

    Neither dict is ever changed once a snapshot holds it. A zone of 10,000 Services used
    to copy every index on each published change (6 ms here, on the path from a slice
    update to its first answer); a snapshot now copies only the changes since the last
    compaction, and the builder folds them into a new base once they outgrow an eighth of
    it (amortised O(1) per change)."""

    __slots__ = ("_base", "_delta")

    def __init__(self, base: dict[Any, Any], delta: dict[Any, Any]) -> None:
        self._base = base
        self._delta = delta

    def get(self, key: Any, default: Any = None) -> Any:
        value = self._delta.get(key, _GONE)
        if value is _GONE:
            if key in self._delta:
                return default
            return self._base.get(key, default)
        return value

    def __getitem__(self, key: Any) -> Any:
        value = self.get(key, _GONE)
        if value is _GONE:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[Any]:
        delta = self._delta
        for key in self._base:
            if key not in delta:
                yield key
        for key, value in delta.items():
            if value is not _GONE:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


class _Versioned(Generic[K, V]):
    """The builder's working copy of one index, handing out :class:`Layered` snapshots."""

    __slots__ = ("_base", "_delta", "current")

    def __init__(self) -> None:
        self.current: dict[K, V] = {}
        self._base: dict[K, V] = {}
        self._delta: dict[K, V] = {}

    def get(self, key: K, default: Any = None) -> Any:
        return self.current.get(key, default)

    def __setitem__(self, key: K, value: V) -> None:
        self.current[key] = value
        self._delta[key] = value

    def pop(self, key: K, default: Any = None) -> Any:
        if key not in self.current:
            return default
        self._delta[key] = _GONE
        return self.current.pop(key)

    def snapshot(self) -> Mapping[K, V]:
        if len(self._delta) > max(64, len(self._base) // 8):
            self._base = dict(self.current)
            self._delta = {}
        if not self._delta:
            return MappingProxyType(self._base)
        return Layered(self._base, dict(self._delta))


# -- the builder ----------------------------------------------------------------------------


def _index_add(index: _Versioned[str, Any], ips: tuple[str, ...], item: Any) -> None:
    for ip in dict.fromkeys(ips):
        index[ip] = (*index.get(ip, ()), item)


def _index_remove(index: _Versioned[str, Any], ips: tuple[str, ...], item: Any) -> None:
    for ip in dict.fromkeys(ips):
        rest = tuple(x for x in index.get(ip, ()) if x is not item)
        if rest:
            index[ip] = rest
        else:
            index.pop(ip, None)


@dataclass
class ZoneBuilder:
    """The mutable working copy behind :class:`Zone` snapshots.

    Feed it objects with the ``put_*``/``delete_*`` methods (informer handlers do), call
    :meth:`snapshot` to get the current zone. ``now`` stamps the SOA serial of a change.
    """

    now: Callable[[], float] | None = None
    """A callable returning the Unix time (injected; ``time.time`` in the server)."""
    _services: _Versioned[Key, Service] = field(default_factory=_Versioned)
    _slices: dict[Key, Slice] = field(default_factory=dict)
    _by_service: dict[Key, dict[str, Slice]] = field(default_factory=dict)
    _slices_of: _Versioned[Key, tuple[Slice, ...]] = field(default_factory=_Versioned)
    _svc_by_ip: _Versioned[str, tuple[Service, ...]] = field(default_factory=_Versioned)
    _slice_by_ip: _Versioned[str, tuple[Slice, ...]] = field(default_factory=_Versioned)
    _namespaces: set[str] = field(default_factory=set)
    _pods: dict[Key, Pod] = field(default_factory=dict)
    _pod_by_ip: _Versioned[str, tuple[Pod, ...]] = field(default_factory=_Versioned)
    _serial: int = 0
    _synced: bool = False
    _current: Zone | None = None
    changes: int = 0
    """How many changes have been applied (for metrics and tests)."""

    def _changed(self) -> None:
        self._current = None
        self.changes += 1
        if self.now is not None:
            self._serial = int(self.now())

    # Services
    def put_service(self, obj: Obj) -> None:
        svc = service_from_object(obj)
        key = (svc.namespace, svc.name)
        old = self._services.get(key)
        if old == svc:
            return
        if old is not None:
            _index_remove(self._svc_by_ip, old.cluster_ips, old)
        self._services[key] = svc
        _index_add(self._svc_by_ip, svc.cluster_ips, svc)
        self._changed()

    def delete_service(self, obj: Obj) -> None:
        old = self._services.pop(_key(obj), None)
        if old is not None:
            _index_remove(self._svc_by_ip, old.cluster_ips, old)
            self._changed()

    # EndpointSlices
    def put_slice(self, obj: Obj) -> None:
        new = slice_from_object(obj)
        key = (new.namespace, new.name)
        old = self._slices.get(key)
        if old == new:
            return
        if old is not None:
            self._unlink_slice(old)
        self._slices[key] = new
        if new.service:
            skey = (new.namespace, new.service)
            group = self._by_service.setdefault(skey, {})
            group[new.name] = new
            self._slices_of[skey] = tuple(group[n] for n in sorted(group))
        _index_add(self._slice_by_ip, tuple(a.ip for a in new.addresses), new)
        self._changed()

    def delete_slice(self, obj: Obj) -> None:
        old = self._slices.pop(_key(obj), None)
        if old is not None:
            self._unlink_slice(old)
            self._changed()

    def _unlink_slice(self, old: Slice) -> None:
        if old.service:
            skey = (old.namespace, old.service)
            group = self._by_service.get(skey)
            if group is not None:
                group.pop(old.name, None)
                if group:
                    self._slices_of[skey] = tuple(group[n] for n in sorted(group))
                else:
                    del self._by_service[skey]
                    self._slices_of.pop(skey, None)
        _index_remove(self._slice_by_ip, tuple(a.ip for a in old.addresses), old)

    # Namespaces
    def put_namespace(self, obj: Obj) -> None:
        name = meta_of(obj).get("name") or ""
        if name and name not in self._namespaces:
            self._namespaces.add(name)
            self._changed()

    def delete_namespace(self, obj: Obj) -> None:
        name = meta_of(obj).get("name") or ""
        if name in self._namespaces:
            self._namespaces.discard(name)
            self._changed()

    # Pods (verified mode only)
    def put_pod(self, obj: Obj) -> None:
        pod = pod_from_object(obj)
        if pod is None:
            self.delete_pod(obj)
            return
        key = (pod.namespace, pod.name)
        old = self._pods.get(key)
        if old == pod:
            return
        if old is not None:
            _index_remove(self._pod_by_ip, old.ips, old)
        self._pods[key] = pod
        _index_add(self._pod_by_ip, pod.ips, pod)
        self._changed()

    def delete_pod(self, obj: Obj) -> None:
        old = self._pods.pop(_key(obj), None)
        if old is not None:
            _index_remove(self._pod_by_ip, old.ips, old)
            self._changed()

    def mark_synced(self) -> None:
        if not self._synced:
            self._synced = True
            self._current = None

    def snapshot(self) -> Zone:
        """The current zone; a new one only when something changed since the last."""
        if self._current is None:
            self._current = Zone(
                services=self._services.snapshot(),
                slices=self._slices_of.snapshot(),
                services_by_ip=self._svc_by_ip.snapshot(),
                slices_by_ip=self._slice_by_ip.snapshot(),
                namespaces=frozenset(self._namespaces),
                pods_by_ip=self._pod_by_ip.snapshot(),
                serial=self._serial,
                synced=self._synced,
            )
        return self._current


def zone_from_objects(
    *,
    services: Sequence[Obj] = (),
    slices: Sequence[Obj] = (),
    namespaces: Sequence[str] = (),
    pods: Sequence[Obj] = (),
    serial: int = 0,
) -> Zone:
    """A zone from lists of objects (tests, the doctor): namespaces by name."""
    b = ZoneBuilder()
    for ns in namespaces:
        b.put_namespace({"metadata": {"name": ns}})
    for s in services:
        b.put_service(s)
    for sl in slices:
        b.put_slice(sl)
    for p in pods:
        b.put_pod(p)
    b._serial = serial
    b.mark_synced()
    return b.snapshot()
