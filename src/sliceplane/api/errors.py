"""One error tree for the whole project, mapped both ways to ``meta/v1`` Status.

The API server raises these; the client parses a Status body back into the same class,
so code on either side of the wire can ``except NotFound`` without caring which server
answered (the embedded one or a real kube-apiserver).
"""

from __future__ import annotations

from typing import Any, ClassVar

from sliceplane.api.field import ErrorList, FieldError, aggregate_message


def qualified_resource(resource: str, group: str) -> str:
    """``endpointslices.discovery.k8s.io`` or ``services`` (core group)."""
    return f"{resource}.{group}" if group else resource


def qualified_kind(kind: str, group: str) -> str:
    """``EndpointSlice.discovery.k8s.io`` or ``Service`` (core group)."""
    return f"{kind}.{group}" if group else kind


class StatusError(Exception):
    """Base: an API failure that travels as a ``Status`` object."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:  # upstream's generic errors carry an empty ``{}``
            status["details"] = self.details
        return status

    @staticmethod
    def from_status(status: dict[str, Any], http_code: int | None = None) -> StatusError:
        """Rebuild the most specific error class for a Status body."""
        reason = str(status.get("reason") or "")
        code = int(status.get("code") or http_code or 500)
        message = str(status.get("message") or "")
        details = status.get("details")
        cls = _BY_REASON.get(reason) or _BY_CODE.get(code) or StatusError
        err = cls.__new__(cls)
        StatusError.__init__(err, message, details)
        if isinstance(err, Invalid):
            err.causes = list((details or {}).get("causes") or [])
        if cls is StatusError:
            err.__dict__["code"] = code
            err.__dict__["reason"] = reason or "Unknown"
        return err

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


def _details(name: str, group: str, kind: str) -> dict[str, Any]:
    # StatusDetails.name is omitempty upstream: an empty name is left out.
    d: dict[str, Any] = {"name": name} if name else {}
    if group:
        d["group"] = group
    d["kind"] = kind
    return d


class BadRequest(StatusError):
    code = 400
    reason = "BadRequest"


class Unauthorized(StatusError):
    code = 401
    reason = "Unauthorized"

    def __init__(self, message: str = "Unauthorized") -> None:
        super().__init__(message)


class Forbidden(StatusError):
    code = 403
    reason = "Forbidden"


class NotFound(StatusError):
    code = 404
    reason = "NotFound"

    @classmethod
    def generic(cls) -> NotFound:
        """A path under a served group version that names nothing (upstream
        ``NewGenericServerResponse``: empty ``details``)."""
        return cls("the server could not find the requested resource", {})

    @classmethod
    def for_object(cls, resource: str, group: str, name: str) -> NotFound:
        return cls(
            f'{qualified_resource(resource, group)} "{name}" not found',
            _details(name, group, resource),
        )


class MethodNotAllowed(StatusError):
    code = 405
    reason = "MethodNotAllowed"

    @classmethod
    def generic(cls) -> MethodNotAllowed:
        """A method the path is not served for (upstream ``NewMethodNotSupported`` with
        no group or kind: empty ``details``)."""
        return cls("the server does not allow this method on the requested resource", {})


class NotAcceptable(StatusError):
    code = 406
    reason = "NotAcceptable"


class Conflict(StatusError):
    code = 409
    reason = "Conflict"

    @classmethod
    def modified(cls, resource: str, group: str, name: str) -> Conflict:
        return cls(
            f'Operation cannot be fulfilled on {qualified_resource(resource, group)} "{name}": '
            "the object has been modified; please apply your changes to the latest version "
            "and try again",
            _details(name, group, resource),
        )

    @classmethod
    def with_reason(cls, resource: str, group: str, name: str, why: str) -> Conflict:
        return cls(
            f"Operation cannot be fulfilled on {qualified_resource(resource, group)} "
            f'"{name}": {why}',
            _details(name, group, resource),
        )


class AlreadyExists(Conflict):
    reason = "AlreadyExists"

    @classmethod
    def for_object(cls, resource: str, group: str, name: str) -> AlreadyExists:
        return cls(
            f'{qualified_resource(resource, group)} "{name}" already exists',
            _details(name, group, resource),
        )


class Gone(StatusError):
    code = 410
    reason = "Gone"


class Expired(Gone):
    """A resourceVersion older than the retained history: the client must relist."""

    reason = "Expired"


class RequestEntityTooLarge(StatusError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(StatusError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(StatusError):
    code = 422
    reason = "Invalid"

    causes: list[dict[str, Any]]

    def __init__(self, kind: str, group: str, name: str, errs: ErrorList) -> None:
        self.errors: ErrorList = list(errs)
        self.causes = [
            {"reason": e.type.value, "message": e.body(), "field": e.field} for e in errs
        ]
        details = _details(name, group, kind)
        details["causes"] = self.causes
        super().__init__(
            f'{qualified_kind(kind, group)} "{name}" is invalid: {aggregate_message(errs)}',
            details,
        )

    @classmethod
    def single(cls, kind: str, group: str, name: str, err: FieldError) -> Invalid:
        return cls(kind, group, name, [err])


class TooManyRequests(StatusError):
    code = 429
    reason = "TooManyRequests"


class InternalError(StatusError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(StatusError):
    code = 503
    reason = "ServiceUnavailable"


class Timeout(StatusError):
    code = 504
    reason = "Timeout"


_BY_REASON: dict[str, type[StatusError]] = {
    c.reason: c
    for c in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        Conflict,
        AlreadyExists,
        Gone,
        Expired,
        RequestEntityTooLarge,
        UnsupportedMediaType,
        Invalid,
        TooManyRequests,
        InternalError,
        ServiceUnavailable,
        Timeout,
    )
}
_BY_CODE: dict[int, type[StatusError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    406: NotAcceptable,
    409: Conflict,
    410: Gone,
    413: RequestEntityTooLarge,
    415: UnsupportedMediaType,
    422: Invalid,
    429: TooManyRequests,
    500: InternalError,
    503: ServiceUnavailable,
    504: Timeout,
}
