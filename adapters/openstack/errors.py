"""The OpenStack adapter's own small error tree; SDK and transport errors are mapped here, cause chained.

    OpenStackError
    ├── OpenStackUnavailableError   the cloud did not answer (connection refused, timeout, 5xx after retries)
    ├── OpenStackAuthError     credentials or scope refused (401/403)
    ├── OpenStackNotFoundError      the resource is gone (404)
    ├── OpenStackConflictError      the resource is busy or changed under us (409)
    └── OpenStackBadAnswerError     an answer the adapter does not understand (unexpected shape, microversion)

Messages are truncated and carry no credentials: they can reach a log and the operation log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from keystoneauth1 import exceptions as ksa
from openstack import exceptions as sdk
from requests import exceptions as rq

from controlplane.redaction import Redactor

_MAX = 300
_redact = Redactor()


class OpenStackError(Exception):
    """Something went wrong talking to an OpenStack cloud."""


class OpenStackUnavailableError(OpenStackError):
    pass


class OpenStackAuthError(OpenStackError):
    pass


class OpenStackNotFoundError(OpenStackError):
    pass


class OpenStackConflictError(OpenStackError):
    pass


class OpenStackBadAnswerError(OpenStackError):
    pass


def _short(exc: BaseException) -> str:
    text = _redact.text(" ".join(str(exc).split()))
    return text if len(text) <= _MAX else text[:_MAX] + "…"


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Map whatever the SDK raises while doing ``what`` into the adapter's tree."""
    try:
        yield
    except OpenStackError:
        raise
    except sdk.NotFoundException as exc:
        raise OpenStackNotFoundError(f"{what}: not found: {_short(exc)}") from exc
    except sdk.ConflictException as exc:
        raise OpenStackConflictError(f"{what}: conflict: {_short(exc)}") from exc
    except (sdk.ForbiddenException, ksa.Unauthorized, ksa.Forbidden) as exc:
        raise OpenStackAuthError(f"{what}: refused: {_short(exc)}") from exc
    except sdk.HttpException as exc:
        status = getattr(exc, "status_code", None)
        if status is not None and status >= 500:
            raise OpenStackUnavailableError(f"{what}: HTTP {status}: {_short(exc)}") from exc
        raise OpenStackBadAnswerError(f"{what}: HTTP {status}: {_short(exc)}") from exc
    except (
        ksa.ConnectFailure,
        ksa.ConnectTimeout,
        ksa.RetriableConnectionFailure,
        ksa.DiscoveryFailure,
        rq.ConnectionError,
        rq.Timeout,
    ) as exc:
        raise OpenStackUnavailableError(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
    except (sdk.SDKException, ksa.ClientException) as exc:
        raise OpenStackBadAnswerError(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OpenStackBadAnswerError(f"{what}: unexpected answer: {type(exc).__name__}: {_short(exc)}") from exc
