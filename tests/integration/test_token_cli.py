"""`yunguan token create | list | revoke` on SQLite and PostgreSQL: the token printed once and kept only as its
SHA-256, scopes checked, every creation and revocation in the operation log without the token."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from controlplane.cli.app import app
from controlplane.store.engine import make_engine
from controlplane.store.tables import api_tokens, audit_events

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    config = tmp_path / "yunguan.yaml"
    config.write_text(
        (EXAMPLES / "yunguan.yaml").read_text(encoding="utf-8") + f"database:\n  url: {db_url}\n", encoding="utf-8"
    )
    monkeypatch.setenv("YUNGUAN_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("YUNGUAN_CONFIG", str(config))
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, ["--lang", "en", *args], catch_exceptions=False)

    assert run("db", "upgrade").exit_code == 0
    assert run("ledger", "import", str(EXAMPLES / "ledger-demo.csv")).exit_code == 0
    return run


def test_create_list_revoke(cli, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """The token is stdout's only line, stored as SHA-256; list shows it without the secret; revoke ends it."""
    made = cli("token", "create", "--role", "vendor", "--vendor", "本地测试云", "--expires", "30", "--name", "ci")
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip()
    assert re.fullmatch(r"yg_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", token)
    token_id = token.split("_")[1]
    assert f"token {token_id} created (vendor: 本地测试云" in made.stderr
    assert "shown only this once" in made.stderr
    unit = cli("token", "create", "--role", "unit", "--unit", "市公安局")
    assert unit.exit_code == 0, unit.stderr
    listed = json.loads(cli("token", "list", "-o", "json").stdout)
    first = listed[0]
    assert (first["id"], first["role"], first["scope"], first["status"], first["name"]) == (
        token_id, "vendor", "本地测试云", "active", "ci"
    )  # fmt: skip
    assert token not in json.dumps(listed)
    revoked = cli("token", "revoke", token_id)
    assert revoked.exit_code == 0
    assert f"token {token_id} (ci) revoked; a running agent refuses it within 5 s" in revoked.stderr
    assert json.loads(cli("token", "list", "-o", "json").stdout)[0]["status"] == "revoked"
    again = cli("token", "revoke", token_id)
    assert again.exit_code == 3 and "already revoked" in again.stderr
    engine = make_engine(db_url)
    with engine.connect() as conn:
        stored = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).mappings().one()
        logged = conn.execute(
            select(audit_events.c.action, audit_events.c.target, audit_events.c.after).where(
                audit_events.c.action.like("token.%")
            )
        ).all()
    engine.dispose()
    assert stored["secret_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(v) for v in stored.values())
    assert [(a, t) for a, t, _ in logged] == [
        ("token.create", f"token:{token_id}"),
        ("token.create", f"token:{unit.stdout.strip().split('_')[1]}"),
        ("token.revoke", f"token:{token_id}"),
    ]
    assert all(token not in after for _, _, after in logged)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--role", "vendor"], "a vendor token needs --vendor"),
        (["--role", "vendor", "--vendor", "nobody"], "no cloud of vendor 'nobody'"),
        (["--role", "unit", "--unit", "不存在的局"], "no department '不存在的局'"),
        (["--role", "admin", "--unit", "市公安局"], "--unit is only for unit tokens"),
        (["--role", "admin", "--expires", "4000"], "above api.token_max_days"),
    ],
)
def test_bad_scopes_are_refused(cli, args: list[str], why: str) -> None:  # type: ignore[no-untyped-def]
    """A vendor token without its vendor, an unknown unit, a scope on the wrong role, too long a life: exit 3."""
    refused = cli("token", "create", *args)
    assert refused.exit_code == 3
    assert why in refused.stderr
    assert refused.stdout == ""
