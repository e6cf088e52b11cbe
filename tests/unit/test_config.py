"""Configuration: embedded defaults, YAML with env overrides, errors that name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.config import ConfigError, load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "yunguan.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_need_no_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With no config the store is SQLite in the state dir."""
    monkeypatch.delenv("YUNGUAN_CONFIG", raising=False)
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path))
    settings = load_settings()
    assert settings.database_url() == f"sqlite:///{tmp_path / 'yunguan.db'}"
    assert settings.audit.retention_days >= 365


def test_retention_under_a_year_is_refused_citing_the_rule(tmp_path: Path) -> None:
    """Suining 31: a retention of 100 days is refused with the file, the key and the article."""
    path = write(tmp_path, "audit:\n  retention_days: 100\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    message = str(err.value)
    assert str(path) in message
    assert "audit.retention_days" in message
    assert "Suining art. 31" in message


def test_unknown_key_is_named(tmp_path: Path) -> None:
    """A typo in a key is an error naming it, not silently ignored."""
    path = write(tmp_path, "audit:\n  retension_days: 400\n")
    with pytest.raises(ConfigError, match=r"audit\.retension_days"):
        load_settings(path)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    """Broken YAML points at file:line."""
    path = write(tmp_path, "audit:\n  retention_days: [400\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:\d+: not valid YAML"):
        load_settings(path)


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """YUNGUAN_AUDIT__RETENTION_DAYS beats the file's value."""
    path = write(tmp_path, "audit:\n  retention_days: 400\n")
    monkeypatch.setenv("YUNGUAN_AUDIT__RETENTION_DAYS", "500")
    assert load_settings(path).audit.retention_days == 500


def test_database_url_is_secret(tmp_path: Path) -> None:
    """The database URL never shows in the settings' repr, and its password is known to the redactor."""
    path = write(tmp_path, "database:\n  url: postgresql://yg:S3cretPw@127.0.0.1/yunguan\n")
    settings = load_settings(path)
    assert "S3cretPw" not in repr(settings)
    assert "S3cretPw" in settings.secret_values()


def test_duplicate_cloud_names_are_refused(tmp_path: Path) -> None:
    """Two clouds with one name would make the ledger ambiguous."""
    cloud = "{name: a, kind: openstack, vendor: v, zone: internet}"
    path = write(tmp_path, f"clouds:\n  - {cloud}\n  - {cloud}\n")
    with pytest.raises(ConfigError, match="repeated: a"):
        load_settings(path)
