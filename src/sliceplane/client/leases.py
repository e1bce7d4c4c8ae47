"""Leader election's :class:`~sliceplane.machinery.leaderelection.LeaseClient` over the
shared :class:`~sliceplane.client.client.Client`.

Why: :class:`~sliceplane.machinery.leaderelection.LeaderElector` only needs get/create/update
of one ``coordination.k8s.io/v1`` Lease and is written against a small protocol so its unit
tests can fake the transport. This adapter is the real transport: the same HTTP client every
component uses, so errors arrive as :mod:`sliceplane.api.errors` classes (``AlreadyExists``
on create races, ``Conflict`` on a stale ``metadata.resourceVersion``, ``NotFound`` when the
Lease was deleted), which is what the elector expects.
"""

from __future__ import annotations

from typing import Any

from sliceplane.api import errors
from sliceplane.api.meta import meta_of
from sliceplane.client.client import Client

LEASES = "leases"


class ClientLeaseClient:
    """Lease get/create/update through :class:`Client` (implements ``LeaseClient``)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or ``None`` if it does not exist."""
        try:
            obj: dict[str, Any] = await self._client.get(LEASES, name, namespace)
        except errors.NotFound:
            return None
        return obj

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create the Lease in ``metadata.namespace``; raises ``AlreadyExists`` if taken."""
        namespace = meta_of(obj).get("namespace")
        return await self._client.create(LEASES, obj, namespace)

    async def update(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace the Lease; the server checks ``metadata.resourceVersion`` (``Conflict``)."""
        return await self._client.update(LEASES, obj)
