"""The footprint's own filter: an answer is kept only when its owner field names the project, and an answer without
that field is refused (a service that ignored the project filter never puts another project's resource in a plan)."""

from __future__ import annotations

import pytest

from adapters.openstack.footprint import PROJECT_ID, owned_by


def test_only_the_projects_own_items_are_kept() -> None:
    """Items of another project are dropped whatever the service answered."""
    items = [{"id": "1", "tenant_id": "a"}, {"id": "2", "tenant_id": "b"}, {"id": "3", "tenant_id": "a"}]
    assert [i["id"] for i in owned_by(items, "tenant_id", "a", "servers")] == ["1", "3"]


def test_an_answer_without_the_owner_field_is_refused() -> None:
    """No owner field (an old microversion, a proxy that strips it): an error naming the listing and the field."""
    with pytest.raises(KeyError, match="volumes: answer has no os-vol-tenant-attr:tenant_id"):
        owned_by([{"id": "1"}], "os-vol-tenant-attr:tenant_id", "a", "volumes")


def test_project_ids_are_keystones_32_hex_digits() -> None:
    """Only a Keystone-shaped id is kept as an id once Keystone no longer knows it; a name never is."""
    assert PROJECT_ID.match("ad7f788f027e4d0e9d23fee925870b7d")
    assert not PROJECT_ID.match("sys-a")
    assert not PROJECT_ID.match("AD7F788F027E4D0E9D23FEE925870B7D0")
