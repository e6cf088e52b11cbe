"""What an OpenStack cloud holds for a system's projects, as termination's wipe targets in phase order: servers (1),
volume snapshots (2), volumes (3), images the projects own (server snapshots among them) and volume backups (4).

Every listing is asked at admin scope for all projects with the project's filter, and every answer is filtered
again by its owner field: a service that ignored the filter must not put another project's resources in the plan.
Hidden images (``os_hidden``) are asked for separately, since Glance leaves them out of a plain listing. Any
listing that fails makes the whole footprint incomplete with the reason; never a partial plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any

from adapters.openstack.convert import GIB
from adapters.openstack.errors import OpenStackError, translated
from adapters.openstack.inventory import NOVA_VERSION
from adapters.openstack.paging import pages
from controlplane.termination.ports import FootprintListing, TargetKind, WipeTarget

CINDER_VERSION = "3.64"  # >= 3.18 shows a backup's project, >= 3.64 a volume's encryption_key_id
PHASE = {TargetKind.SERVER: 1, TargetKind.SNAPSHOT: 2, TargetKind.VOLUME: 3, TargetKind.IMAGE: 4, TargetKind.BACKUP: 4}
PROJECT_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_projects(identity: Any, groups: Sequence[str]) -> tuple[list[tuple[str, str, str]], list[str]]:
    """(group as asked, id, name) of each group given by project id or name, and the groups that could not be
    resolved. An id that Keystone no longer knows is kept (its servers and volumes may have outlived the project);
    a name is not."""
    found: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for group in groups:
        try:
            with translated(f"find project {group}"):
                project = identity.find_project(group, ignore_missing=True)
        except OpenStackError as exc:
            problems.append(str(exc))
            continue
        if project is not None:
            found.append((group, project.id, project.name or ""))
        elif PROJECT_ID.match(group):
            found.append((group, group, ""))
        else:
            problems.append(f"project {group!r}: no such project id or name")
    return found, problems


def owned_by(items: Iterable[dict[str, Any]], owner_key: str, project_id: str, what: str) -> list[dict[str, Any]]:
    out = []
    for item in items:
        if owner_key not in item:
            raise KeyError(f"{what}: answer has no {owner_key}")
        if item[owner_key] == project_id:
            out.append(item)
    return out


def _target(cloud: str, kind: TargetKind, item: dict[str, Any], group: str, size: int, **attributes: str) -> WipeTarget:
    return WipeTarget(
        cloud=cloud,
        kind=kind,
        id=str(item["id"]),
        name=item.get("name") or "",
        group=group,
        size_bytes=size,
        phase=PHASE[kind],
        attributes={k: v for k, v in attributes.items() if v},
    )


def _servers(conn: Any, cloud: str, project_id: str, query: dict[str, Any]) -> list[WipeTarget]:
    listed = pages(conn.compute, "/servers/detail", "servers", query | {"project_id": project_id}, NOVA_VERSION)
    return [
        _target(
            cloud,
            TargetKind.SERVER,
            s,
            project_id,
            0,
            status=s.get("status") or "",
            host=s.get("OS-EXT-SRV-ATTR:hypervisor_hostname") or "",
        )
        for s in owned_by(listed, "tenant_id", project_id, "servers")
    ]


def _volumes(conn: Any, cloud: str, project_id: str, query: dict[str, Any]) -> list[WipeTarget]:
    listed = pages(conn.block_storage, "/volumes/detail", "volumes", query | {"project_id": project_id}, CINDER_VERSION)
    return [
        _target(
            cloud,
            TargetKind.VOLUME,
            v,
            project_id,
            int(v.get("size") or 0) * GIB,
            status=v.get("status") or "",
            volume_type=v.get("volume_type") or "",
            encrypted="true" if v.get("encrypted") else "false",
            encryption_key_id=v.get("encryption_key_id") or "",
            attached_to=",".join(a.get("server_id") or "" for a in v.get("attachments") or []),
        )
        for v in owned_by(listed, "os-vol-tenant-attr:tenant_id", project_id, "volumes")
    ]


def _copies(conn: Any, cloud: str, project_id: str, query: dict[str, Any], kind: TargetKind) -> list[WipeTarget]:
    """Volume snapshots or backups: copies of a volume's data, each its own target."""
    key, owner = {
        TargetKind.SNAPSHOT: ("snapshots", "os-extended-snapshot-attributes:project_id"),
        TargetKind.BACKUP: ("backups", "os-backup-project-attr:project_id"),
    }[kind]
    listed = pages(conn.block_storage, f"/{key}/detail", key, query | {"project_id": project_id}, CINDER_VERSION)
    return [
        _target(
            cloud,
            kind,
            c,
            project_id,
            int(c.get("size") or 0) * GIB,
            status=c.get("status") or "",
            volume=c.get("volume_id") or "",
        )
        for c in owned_by(listed, owner, project_id, key)
    ]


def _images(conn: Any, cloud: str, project_id: str, page_size: int) -> list[WipeTarget]:
    found: dict[str, WipeTarget] = {}
    for hidden in (False, True):
        query: dict[str, Any] = {"owner": project_id, "limit": page_size} | ({"is_hidden": True} if hidden else {})
        listed = [
            {
                "id": i.id,
                "name": i.name,
                "owner": i.owner,
                "size": i.size,
                "status": i.status,
                "visibility": i.visibility,
                "kind": (i.properties or {}).get("image_type"),
            }
            for i in conn.image.images(**query)
        ]
        for item in owned_by(listed, "owner", project_id, "images"):
            found[item["id"]] = _target(
                cloud,
                TargetKind.IMAGE,
                item,
                project_id,
                int(item["size"] or 0),
                status=item["status"] or "",
                image_type=item["kind"] or "",
                visibility=item["visibility"] or "",
            )
    return list(found.values())


def list_footprint(conn: Any, cloud: str, groups: Sequence[str], *, page_size: int = 1000) -> FootprintListing:
    """Everything the projects hold, ordered by phase, with each project asked by name resolved to its id (the
    targets' group); incomplete with the reasons when any listing failed."""
    projects, problems = resolve_projects(conn.identity, groups)
    resolved = {asked: project_id for asked, project_id, _ in projects if asked != project_id}
    names = {project_id: name for _, project_id, name in projects}  # a project asked twice is listed once
    query = {"all_tenants": "True", "limit": page_size}
    targets: list[WipeTarget] = []
    for project_id, name in names.items():
        shown = f"{name} ({project_id})" if name else project_id
        listings: list[tuple[str, Callable[[], list[WipeTarget]]]] = [
            ("servers", partial(_servers, conn, cloud, project_id, query)),
            ("volume snapshots", partial(_copies, conn, cloud, project_id, query, TargetKind.SNAPSHOT)),
            ("volumes", partial(_volumes, conn, cloud, project_id, query)),
            ("images", partial(_images, conn, cloud, project_id, page_size)),
            ("volume backups", partial(_copies, conn, cloud, project_id, query, TargetKind.BACKUP)),
        ]
        for what, listing in listings:
            try:
                with translated(f"list {what} of project {shown}"):
                    targets.extend(listing())
            except OpenStackError as exc:
                problems.append(str(exc))
    if problems:
        return FootprintListing(targets=(), complete=False, reason="; ".join(problems))
    targets.sort(key=lambda t: (t.phase, t.group, t.kind.value, t.id))
    return FootprintListing(targets=tuple(targets), complete=True, resolved=resolved)
