"""Nova's and Cinder's marker pagination on the raw JSON answers.

The big listings (servers, volumes, snapshots) are read as the services' own JSON through the SDK's authenticated
session instead of as SDK resource objects: building and reading those costs several milliseconds per server,
which at 10,000 servers is most of a reconcile. The SDK still does authentication, the catalog, endpoint and
microversion negotiation, and error mapping.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from adapters.openstack.errors import OpenStackBadAnswerError


def pages(proxy: Any, path: str, key: str, params: Mapping[str, Any], microversion: str | None = None) -> Iterator[Any]:
    """Every item of a collection: ask page after page with the last item's id as the marker while the service
    says there is a next page (`<key>_links` rel=next, given when a page is full)."""
    from openstack import exceptions

    query = dict(params)
    markers: set[str] = set()
    while True:
        response = proxy.get(path, params=query, microversion=microversion)
        exceptions.raise_from_response(response)
        try:
            body = response.json()
            items = body[key]
            links = body.get(f"{key}_links") or []
            more = bool(items) and any(link.get("rel") == "next" for link in links)
            marker = str(items[-1]["id"]) if more else ""
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise OpenStackBadAnswerError(f"{path}: not a {key} page: {type(exc).__name__}") from exc
        yield from items
        if not more:
            return
        if marker in markers:
            raise OpenStackBadAnswerError(f"{path}: the service paged back to marker {marker}")
        markers.add(marker)
        query["marker"] = marker
