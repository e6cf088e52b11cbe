"""The OpenStack adapter's own small error tree; SDK and transport errors are mapped here, cause chained.

    OpenStackError
    ├── OpenStackUnavailable   the cloud did not answer (connection refused, timeout, 5xx after retries)
    ├── OpenStackAuthError     credentials or scope refused (401/403)
    ├── OpenStackNotFound      the resource is gone (404)
    ├── OpenStackConflict      the resource is busy or changed under us (409)
    └── OpenStackBadAnswer     an answer the adapter does not understand (unexpected shape, microversion)

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


class OpenStackUnavailable(OpenStackError):
    pass


class OpenStackAuthError(OpenStackError):
    pass


class OpenStackNotFound(OpenStackError):
    pass


class OpenStackConflict(OpenStackError):
    pass


class OpenStackBadAnswer(OpenStackError):
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
        raise OpenStackNotFound(f"{what}: not found: {_short(exc)}") from exc
    except sdk.ConflictException as exc:
        raise OpenStackConflict(f"{what}: conflict: {_short(exc)}") from exc
    except (sdk.ForbiddenException, ksa.Unauthorized, ksa.Forbidden) as exc:
        raise OpenStackAuthError(f"{what}: refused: {_short(exc)}") from exc
    except sdk.HttpException as exc:
        status = getattr(exc, "status_code", None)
        if status is not None and status >= 500:
            raise OpenStackUnavailable(f"{what}: HTTP {status}: {_short(exc)}") from exc
        raise OpenStackBadAnswer(f"{what}: HTTP {status}: {_short(exc)}") from exc
    except (
        ksa.ConnectFailure,
        ksa.ConnectTimeout,
        ksa.RetriableConnectionFailure,
        ksa.DiscoveryFailure,
        rq.ConnectionError,
        rq.Timeout,
    ) as exc:
        raise OpenStackUnavailable(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
    except (sdk.SDKException, ksa.ClientException) as exc:
        raise OpenStackBadAnswer(f"{what}: {type(exc).__name__}: {_short(exc)}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise OpenStackBadAnswer(f"{what}: unexpected answer: {type(exc).__name__}: {_short(exc)}") from exc
