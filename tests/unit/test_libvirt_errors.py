"""What the libvirt adapter lets into a message about a host: never a password or the URI's query."""

from __future__ import annotations

from adapters.libvirt.errors import shown_uri


def test_shown_uri_drops_password_and_query() -> None:
    """A SASL password in the URI and the key paths of its query never reach a log line."""
    uri = "qemu+tls://admin:s3cret@10.1.2.3:16514/system?pkipath=/etc/pki/yunguan&no_verify=0"
    assert shown_uri(uri) == "qemu+tls://admin@10.1.2.3:16514/system"
    assert "s3cret" not in shown_uri(uri)


def test_shown_uri_keeps_a_local_uri_readable() -> None:
    """Local and test URIs come out as the operator wrote them."""
    assert shown_uri("qemu:///system") == "qemu:///system"
    assert shown_uri("test+tcp://127.0.0.1/var/tmp/host-01.xml") == "test+tcp://127.0.0.1/var/tmp/host-01.xml"
