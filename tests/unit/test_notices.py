"""Notices without a network: the HMAC signature, the zh/en text (system, unit, evidence, window, deadline,
articles), the annotation text, the ``notices:`` settings, and the webhook's retries through an injected transport
and sleep."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from controlplane.clock import FixedClock
from controlplane.config import ConfigError, load_settings
from controlplane.policy.notices.settings import EmailSettings, NoticeSettings, WebhookSettings
from controlplane.policy.notices.text import mark, render
from controlplane.policy.notices.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSender,
    body_bytes,
    sign,
    signature_valid,
)
from controlplane.redaction import Redactor

CST = dt.timezone(dt.timedelta(hours=8))

SNAPSHOT: dict[str, Any] = {
    "finding_id": 7,
    "key": "suining/suining-14-low-cpu/SN-OA/os-1/SN-OA",
    "pack": "suining",
    "rule_id": "suining-14-low-cpu",
    "citation": "Suining art. 14",
    "system": "SN-OA",
    "system_name": "协同办公",
    "unit": "市大数据中心",
    "cloud": "os-1",
    "scope_kind": "system",
    "scope_id": "SN-OA",
    "outcome": "downsize",
    "state": "reminded",
    "period": "2026-06",
    "window_start": "2026-05-31T16:00:00+00:00",
    "window_end": "2026-06-30T16:00:00+00:00",
    "evidence": [
        {
            "metric": "cpu_percent",
            "aggregate": "mean",
            "window_start": "2026-05-31T16:00:00+00:00",
            "window_end": "2026-06-30T16:00:00+00:00",
            "value": 4.25,
            "comparison": "lt",
            "threshold": 10.0,
            "met": True,
            "samples": 720,
            "estimated": 0,
            "missing": 0,
        }
    ],
    "reason": "",
    "kind": "reminded",
    "deadline": "2026-08-20",
    "step_citation": "Chongqing art. 17",
    "next_step": "urged",
}


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    """sha256=<hex> of HMAC-SHA256 over exactly the bytes sent; any change to the body or key fails it."""
    body = body_bytes({"b": 1, "a": "云"})
    assert body == '{"a":"云","b":1}'.encode()
    expected = "sha256=" + hmac.new(b"s3cret-key", body, hashlib.sha256).hexdigest()
    assert sign("s3cret-key", body) == expected
    assert signature_valid("s3cret-key", body, expected)
    assert not signature_valid("s3cret-key", body + b" ", expected)
    assert not signature_valid("other-key", body, expected)
    assert not signature_valid("s3cret-key", body, None)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_reminder_names_system_unit_evidence_deadline_and_articles(lang: str) -> None:
    """Both languages name the system, its unit, the number and its window, the deadline and both articles."""
    rendered = render(SNAPSHOT, lang)  # type: ignore[arg-type]
    text = rendered.subject + "\n" + rendered.body
    for needle in ("协同办公", "市大数据中心", "4.2%", "10.0%", "2026-06-01", "2026-06-30", "2026-08-20"):
        assert needle in text, needle
    assert "Suining art. 14" in rendered.subject
    assert "Chongqing art. 17" in rendered.body
    assert "720" in rendered.body
    if lang == "zh":
        assert rendered.subject.startswith("【提醒】")
        assert "CPU利用率平均" in rendered.body
        assert "请在 2026-08-20（含）前自行核减资源配置" in rendered.body
    else:
        assert rendered.subject.startswith("[Reminder]")
        assert "CPU use mean 4.2% < 10.0% (2026-06-01 to 2026-06-30, 720 samples)" in rendered.body


def test_each_kind_has_its_own_text() -> None:
    """Urging, enforceable and maintenance notices say what comes next; maintenance names the day and action."""
    urged = render({**SNAPSHOT, "kind": "urged", "deadline": "2026-02-26"}, "en")
    assert urged.subject.startswith("[Urging]")
    assert "by 2026-02-26 (inclusive)" in urged.body
    enforceable = render({**SNAPSHOT, "kind": "enforceable", "deadline": None}, "zh")
    assert "管理部门现可直接核减资源配置" in enforceable.body
    maintenance = render(
        {
            **SNAPSHOT,
            "kind": "maintenance",
            "action": {"zh": "将云主机 web-1 调整为 m1.small 规格", "en": "resize server web-1 to m1.small"},
            "action_day": "2026-07-24",
            "step_citation": "Jiuquan art. 13",
        },
        "en",
    )
    assert "2026-07-24" in maintenance.subject
    assert "resize server web-1 to m1.small" in maintenance.body
    assert "Jiuquan art. 13" in maintenance.body


def test_a_reminder_without_urging_says_the_department_may_act_directly() -> None:
    """An escalation whose next step is enforceable (Suining 14: notify, then carry out) says so, not 'urge'."""
    direct = render({**SNAPSHOT, "next_step": "enforceable", "step_citation": "Suining art. 14"}, "en")
    assert "after that the management department may reduce the allocation directly (Suining art. 14)" in direct.body
    assert "urge" not in direct.body


def test_annotation_names_the_finding_and_reads_on_one_line() -> None:
    """The namespace annotation / project property: yunguan.io/notice-finding-<id>, one line of text."""
    noted = mark(SNAPSHOT, "en")
    assert noted.key == "finding-7"
    assert noted.name == "yunguan.io/notice-finding-7"
    assert noted.annotations() == {"finding-7": noted.text}
    assert "\n" not in noted.text
    assert "Suining art. 14" in noted.text
    assert "2026-08-20" in noted.text


def _settings(tmp_path: Path, **notices: Any) -> NoticeSettings:
    config = tmp_path / "yunguan.yaml"
    config.write_text(json.dumps({"notices": notices}), encoding="utf-8")
    return load_settings(config, state_dir=tmp_path).notices


def test_settings_merge_unit_overrides_over_the_default_relay(tmp_path: Path) -> None:
    """A unit's e-mail keys override the default relay's; its language overrides the default language."""
    notices = _settings(
        tmp_path,
        language="zh",
        email={"host": "smtp.gov", "from": "yunguan@gov.cn", "to": ["ops@gov.cn"]},
        units={"市民政局": {"language": "en", "email": {"to": ["it@mz.gov.cn"], "port": 2525}}},
    )
    default = notices.relay("市大数据中心")
    assert default is not None
    assert (default.host, default.port, default.to) == ("smtp.gov", 25, ("ops@gov.cn",))
    assert default.sender == "yunguan@gov.cn"
    unit = notices.relay("市民政局")
    assert unit is not None
    assert (unit.host, unit.port, unit.to) == ("smtp.gov", 2525, ("it@mz.gov.cn",))
    assert notices.language_of("市民政局") == "en"
    assert notices.language_of("市大数据中心") == "zh"


def test_settings_refuse_incomplete_mail_and_bad_urls(tmp_path: Path) -> None:
    """E-mail without host/from/to, a non-http webhook and a bad address are refused, naming the key."""
    with pytest.raises(ConfigError, match=r"notices: .*email needs host, from and to"):
        _settings(tmp_path, email={"host": "smtp.gov"})
    with pytest.raises(ConfigError, match=r"notices\.webhook\.url.*http"):
        _settings(tmp_path, webhook={"url": "ftp://x", "secret_file": "/nonexistent"})
    with pytest.raises(ValidationError, match="not an e-mail address"):
        EmailSettings.model_validate({"to": ["not an address"]})


def test_secrets_are_read_from_files_for_the_redactor_and_urls_shown_without_them(tmp_path: Path) -> None:
    """The webhook key, the SMTP password and a URL's query are secrets; the shown URL has none of them."""
    (tmp_path / "hook.key").write_text("hook-secret-123\n", encoding="utf-8")
    (tmp_path / "smtp.pass").write_text("mail-pass-456\n", encoding="utf-8")
    settings = load_settings(
        None,
        state_dir=tmp_path,
        notices={
            "webhook": {"url": "https://u:pw99@hooks.gov/in?token=tok-789", "secret_file": str(tmp_path / "hook.key")},
            "email": {
                "host": "smtp.gov",
                "from": "a@gov.cn",
                "to": ["b@gov.cn"],
                "username": "yunguan",
                "password_file": str(tmp_path / "smtp.pass"),
            },
        },
    )
    secrets = settings.secret_values()
    for secret in ("hook-secret-123", "mail-pass-456", "token=tok-789", "pw99"):
        assert secret in secrets
    assert settings.notices.webhook is not None
    assert settings.notices.webhook.shown_url() == "https://hooks.gov/in"


class FakeTransport:
    """Answers with scripted statuses (an exception instance is raised instead), recording each request."""

    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, bytes, dict[str, str], float]] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
        self.requests.append((url, body, dict(headers), timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _sender(transport: FakeTransport, sleeps: list[float], retries: int = 3) -> WebhookSender:
    settings = WebhookSettings(
        url="https://hooks.gov/in?token=tok-789", secret_file=Path("/unused"), retries=retries, backoff_s=2
    )
    clock = FixedClock(dt.datetime(2026, 7, 20, 1, 0, tzinfo=dt.UTC))
    return WebhookSender(
        settings, "k3y-secret", clock=clock, sleep=sleeps.append, redactor=Redactor(["tok-789"]), post=transport
    )


def test_webhook_retries_server_errors_with_doubling_backoff() -> None:
    """A refused connection, a 503 and a 429 are retried after 2, 4, 8 s; the same signed body every time."""
    transport = FakeTransport([ConnectionRefusedError("refused"), 503, 429, 204])
    sleeps: list[float] = []
    result = _sender(transport, sleeps).send({"notice": 1}, "42")
    assert (result.ok, result.tries, result.detail) == (True, 4, "HTTP 204")
    assert sleeps == [2, 4, 8]
    bodies = {r[1] for r in transport.requests}
    assert len(bodies) == 1
    headers = transport.requests[0][2]
    assert signature_valid("k3y-secret", bodies.pop(), headers[SIGNATURE_HEADER])
    assert headers[TIMESTAMP_HEADER] == str(int(dt.datetime(2026, 7, 20, 1, 0, tzinfo=dt.UTC).timestamp()))
    assert headers["X-Yunguan-Delivery"] == "42"


def test_webhook_gives_up_on_a_client_error_and_after_its_retries_without_secrets() -> None:
    """A 400 is final at once; repeated timeouts end after the retries; errors show no token or key."""
    sleeps: list[float] = []
    result = _sender(FakeTransport([400]), sleeps).send({}, "1")
    assert (result.ok, result.tries, sleeps) == (False, 1, [])
    assert result.detail == "POST https://hooks.gov/in: HTTP 400"
    transport = FakeTransport([TimeoutError("timed out: tok-789 k3y-secret")] * 3)
    result = _sender(transport, sleeps, retries=2).send({}, "1")
    assert (result.ok, result.tries) == (False, 3)
    assert "tok-789" not in result.detail
    assert "k3y-secret" not in result.detail
    assert "TimeoutError" in result.detail
