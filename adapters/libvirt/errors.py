"""The libvirt adapter's own errors, so the core and the CLI never see ``libvirt.libvirtError``::

    LibvirtAdapterError
    ├── HostUnreachableError   the link could not be opened (or is waiting out its reconnect backoff)
    ├── HostTimeoutError       the host did not answer within the sweep's per-host timeout
    └── HostCallError          a call on an open link failed (the link is then treated as broken)

Messages name the host and the call, carry libvirt's error code, and never a credential: URIs are shown without
their query string (it may name key files) and without a password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_MESSAGE = 300


class LibvirtAdapterError(Exception):
    """Something went wrong talking to a hypervisor."""


class HostUnreachableError(LibvirtAdapterError):
    """The host's link is down."""


class HostTimeoutError(LibvirtAdapterError):
    """The host took longer than the per-host timeout."""


class HostCallError(LibvirtAdapterError):
    """A call on the host failed."""


def shown_uri(uri: str) -> str:
    """The URI without user password and query (``pkipath``, ``keyfile`` and the like stay out of logs)."""
    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return f"{parts.scheme}://{netloc}{parts.path}"


def describe(exc: BaseException) -> str:
    """libvirt's message with its code, truncated."""
    code = getattr(exc, "get_error_code", None)
    text = str(exc).strip() or type(exc).__name__
    if callable(code):
        text = f"{text} (code {code()})"
    return text[:MAX_MESSAGE]
