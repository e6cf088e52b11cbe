"""Which project a domain belongs to, from the metadata Nova (or an operator) writes into the domain."""

from __future__ import annotations

import pytest

from adapters.libvirt.collector import owner_from_metadata

NOVA = """<instance{ns}><name>vm</name><owner>
<user uuid="u-1">alice</user><project uuid="{project}">finance</project></owner></instance>"""


@pytest.mark.parametrize("ns", ["", ' xmlns="http://openstack.org/xmlns/libvirt/nova/1.1"'])
def test_nova_instance_metadata_names_the_project(ns: str) -> None:
    """libvirt returns Nova's element with or without its namespace; the project uuid is read either way."""
    assert owner_from_metadata(NOVA.format(ns=ns, project="p-42"), None).group_id == "p-42"


def test_nova_instance_without_owner_is_still_the_clouds() -> None:
    """A Nova instance whose owner cannot be read is the cloud's (empty group), not an unknown domain."""
    assert owner_from_metadata("<instance><name>vm</name></instance>", None).group_id == ""


def test_yunguan_metadata_maps_a_non_nova_domain() -> None:
    """A hand-made VM the department approved carries <resource group=...> in the yunguan namespace."""
    assert owner_from_metadata(None, '<resource group="proj-x"/>').group_id == "proj-x"


def test_a_domain_with_no_metadata_is_unknown() -> None:
    """Neither Nova's nor our metadata: unknown to the cloud (None), which the sweep reports."""
    assert owner_from_metadata(None, None).group_id is None
