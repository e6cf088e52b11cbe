"""The packs' own suites (policies/tests/<pack>.cases.yaml) through the case runner: every threshold's edge, the
escalation timelines and deadlines; and the runner itself reports a wrong expectation and a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.policy.cases import CaseFileError, read_cases, run_cases
from controlplane.policy.packs import pack_names

SUITES = Path(__file__).resolve().parents[2] / "policies" / "tests"


def outcomes(path: Path) -> list[tuple[str, str, tuple[str, ...]]]:
    cases, pack, calendar = read_cases(path)
    return [(path.stem, o.name, o.problems) for o in run_cases(cases, pack, calendar)]


ALL = [o for name in pack_names() for o in outcomes(SUITES / f"{name}.cases.yaml")]


def test_every_shipped_pack_has_a_suite() -> None:
    """One case file per pack; the packs with thresholds test an edge of each."""
    assert sorted(p.name for p in SUITES.glob("*.cases.yaml")) == [f"{n}.cases.yaml" for n in pack_names()]
    counts = {name: sum(1 for o in ALL if o[0] == f"{name}.cases") for name in pack_names()}
    assert counts["suining"] >= 40 and counts["bozhou"] >= 30 and counts["chongqing"] >= 15


@pytest.mark.parametrize(("suite", "name", "problems"), ALL, ids=[f"{o[0]}: {o[1]}" for o in ALL])
def test_case(suite: str, name: str, problems: tuple[str, ...]) -> None:
    """Each case of each pack's suite gives the verdicts and dates it expects."""
    assert problems == (), f"{suite}: {name}"


def test_a_wrong_expectation_is_reported(tmp_path: Path) -> None:
    """A case expecting a finding at exactly 10% fails, saying what it got and why."""
    path = tmp_path / "wrong.cases.yaml"
    path.write_text(
        "pack: suining\ncases:\n  - name: wrong\n    period: 2026-10\n    system: {stable_since: 2026-01-01}\n"
        "    scope: system\n    month: {cpu_percent: 10}\n    expect: {suining-14-low-cpu: finding}\n"
        "deadlines:\n  - {event: 2026-02-12, after: {working_days: 5}, deadline: 2026-02-25}\n",
        encoding="utf-8",
    )
    case, deadline = outcomes(path)
    assert case[2] == (
        "suining-14-low-cpu: expected finding, got clear (system 2026-10: cpu_percent mean 10.00% not < 10.00%)",
    )
    assert deadline[2] == ("deadline expected 2026-02-25, got 2026-02-26",)


def test_a_bad_case_file_names_file_line_and_field(tmp_path: Path) -> None:
    """An unknown verdict, a bad month and an unknown key are each named with their line."""
    path = tmp_path / "bad.cases.yaml"
    path.write_text(
        "pack: suining\ncases:\n  - name: x\n    period: 2026-13\n    expect: {suining-14-low-cpu: broken}\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseFileError) as err:
        read_cases(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{path}:4: cases.0.period: Value error, not a month: '2026-13' (write 2026-10)"
    assert lines[1].startswith(f"{path}:5: cases.0.expect.suining-14-low-cpu")
    path.write_text(
        "pack: suining\ncases:\n  - {name: x, period: 2026-10, 2026-X1: {}, expect: {a-b: clear}}\n", encoding="utf-8"
    )
    with pytest.raises(CaseFileError, match=r"bad.cases.yaml:3: case x: unknown key '2026-X1'"):
        read_cases(path)
