"""The OpenStack wiper's pure rules: the footprint's own owner filter (an answer is kept only when its owner field
names the project, and an answer without that field is refused, so a service that ignored the project filter never
puts another project's resource in a plan), and what deleting a volume achieves (NIST SP 800-88 category)."""

from __future__ import annotations

import pytest

from adapters.openstack.footprint import PROJECT_ID, owned_by
from adapters.openstack.wipe import FIXED_KEY_ID, volume_erasure
from controlplane.termination.ports import Category, Method


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


KEY = "6f1d9a4e-2b7c-4e8f-9a1d-3c5e7f9b1d2f"


def test_an_encrypted_volume_with_its_own_key_is_crypto_erased() -> None:
    """Deleting it deletes its key: crypto-erase, purge, the key named."""
    method, category, detail = volume_erasure(
        {"encrypted": True, "encryption_key_id": KEY, "volume_type": "luks", "status": "available"}
    )
    assert (method, category) == (Method.CRYPTO_ERASE, Category.PURGE)
    assert KEY in detail


def test_the_fixed_shared_key_is_no_crypto_erase() -> None:
    """ConfKeyManager's key (Cinder hides its id, or shows the all-zero id) is never deleted: attested, and said."""
    for volume in ({"encrypted": True}, {"encrypted": True, "encryption_key_id": FIXED_KEY_ID}):
        method, category, detail = volume_erasure(volume)
        assert (method, category) == (Method.BACKEND_CLEAR, Category.ATTESTED)
        assert FIXED_KEY_ID in detail
        assert "never deleted" in detail


def test_a_plain_volume_is_the_backends_clear_as_attested() -> None:
    """No encryption: the backend's volume_clear as the vendor attests it, the lower assurance recorded."""
    method, category, detail = volume_erasure({"encrypted": False, "encryption_key_id": None})
    assert (method, category) == (Method.BACKEND_CLEAR, Category.ATTESTED)
    assert detail == "deleted; backend volume_clear as attested by the vendor (lower assurance)"
