"""The Kubernetes adapter's own small error tree; client and transport errors are mapped here, cause chained.

    KubernetesError
    ├── KubernetesUnavailableError  the apiserver did not answer (connection refused, timeout, 5xx, 429 after retries)
    ├── KubernetesAuthError         credentials refused or the role does not allow it (401/403)
    ├── KubernetesNotFoundError     the object is gone (404)
    ├── KubernetesConflictError     changed under us: stale resourceVersion, or already exists (409)
    ├── KubernetesGoneError         a continue token or watch resourceVersion expired (410): list again
    └── KubernetesBadAnswerError    an answer the adapter does not understand, or a request the server refused (400/422)

Messages are truncated and carry no credentials: they can reach a log and the operation log.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from controlplane.redaction import Redactor

_MAX = 300
_redact = Redactor()


class KubernetesError(Exception):
    """Something went wrong talking to a Kubernetes apiserver."""

    status: int | None = None


class KubernetesUnavailableError(KubernetesError):
    pass


class KubernetesAuthError(KubernetesError):
    pass


class KubernetesNotFoundError(KubernetesError):
    pass


class KubernetesConflictError(KubernetesError):
    pass


class KubernetesGoneError(KubernetesError):
    pass


class KubernetesBadAnswerError(KubernetesError):
    pass


def _short(text: str) -> str:
    text = _redact.text(" ".join(text.split()))
    return text if len(text) <= _MAX else text[:_MAX] + "…"


def _reason(body: object) -> str:
    """The apiserver's Status message when the body is one, else the body itself."""
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    try:
        status = json.loads(raw)
    except ValueError:
        return _short(raw)
    return _short(str(status.get("message") or raw)) if isinstance(status, dict) else _short(raw)


_BY_STATUS: dict[int, type[KubernetesError]] = {
    401: KubernetesAuthError,
    403: KubernetesAuthError,
    404: KubernetesNotFoundError,
    409: KubernetesConflictError,
    410: KubernetesGoneError,
    429: KubernetesUnavailableError,
}


def error_for(what: str, status: int, body: object) -> KubernetesError:
    kind = _BY_STATUS.get(status) or (KubernetesUnavailableError if status >= 500 else KubernetesBadAnswerError)
    error = kind(f"{what}: HTTP {status}: {_reason(body)}")
    error.status = status
    return error


@contextlib.contextmanager
def translated(what: str) -> Iterator[None]:
    """Map whatever the client raises while doing ``what`` into the adapter's tree."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3 import exceptions as u3

    try:
        yield
    except KubernetesError:
        raise
    except ApiException as exc:
        raise error_for(what, int(exc.status or 0), exc.body or exc.reason) from exc
    except (u3.HTTPError, OSError) as exc:
        raise KubernetesUnavailableError(f"{what}: {type(exc).__name__}: {_short(str(exc))}") from exc
    except ConfigException as exc:
        raise KubernetesBadAnswerError(f"{what}: configuration: {_short(str(exc))}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise KubernetesBadAnswerError(f"{what}: unexpected answer: {type(exc).__name__}: {_short(str(exc))}") from exc
