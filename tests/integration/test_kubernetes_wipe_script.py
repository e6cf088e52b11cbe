"""The wipe Job's script run for real with busybox (what the Job's image runs; the test cluster has no kubelet to run
it): a filesystem claim's files are gone and its space is zeros, a block device is zeros end to end, the report is
what the wiper parses, and a failure says what failed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.kubernetes.wipe_job import FILL_FILE, SAMPLE_BYTES, SCRIPT, samples_from

MIB = 1 << 20


@pytest.fixture(scope="module")
def busybox_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PATH of busybox applets only, as in the Job's image (Debian's ``busybox`` package)."""
    busybox = shutil.which("busybox")
    if busybox is None:
        message = "busybox is not installed (apt-get install busybox): the wipe script cannot be run"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    bin_dir = tmp_path_factory.mktemp("busybox-bin")
    subprocess.run([busybox, "--install", "-s", str(bin_dir)], check=True)
    return bin_dir


def run(bin_dir: Path, tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    out = tmp / "termination-log"
    (tmp / "scratch").mkdir(exist_ok=True)
    values = {
        "PATH": str(bin_dir),
        "OUT": str(out),
        "TMPDIR": str(tmp / "scratch"),
        "DEVICE": "/nonexistent",
        "ROOT": "/nonexistent",
        "FILL": FILL_FILE,
        "CAPACITY": "0",
        "SAMPLES": "8",
        "SAMPLE_BYTES": str(SAMPLE_BYTES),
        **env,
    }
    done = subprocess.run(
        [str(bin_dir / "sh"), "-c", SCRIPT], env=values, capture_output=True, text=True, check=False, timeout=120
    )
    return done, out.read_text() if out.exists() else ""


def test_filesystem_claim_files_removed_and_space_zeroed(busybox_bin: Path, tmp_path: Path) -> None:
    """Every file (hidden ones and directories too) is removed and the fill file is zeros up to the capacity."""
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "secret.db").write_bytes(os.urandom(300_000))
    (data / ".hidden").write_bytes(b"password=hunter2")
    (data / "sub" / "more").write_bytes(os.urandom(1000))
    done, message = run(busybox_bin, tmp_path, MODE="filesystem", ROOT=str(data), CAPACITY=str(3 * MIB))
    assert done.returncode == 0, done.stderr
    assert [p.name for p in data.iterdir()] == [FILL_FILE]
    fill = (data / FILL_FILE).read_bytes()
    assert len(fill) == 3 * MIB and fill.count(0) == len(fill)
    samples, facts = samples_from(message)
    assert facts["mode"] == "filesystem" and facts["size"] == 3 * MIB
    assert len(samples) == 8 and samples[0].offset == 0 and samples[-1].offset == 3 * MIB - SAMPLE_BYTES
    assert all(s.sha256 == s.expected_sha256 for s in samples)


def test_a_failure_is_said_in_the_termination_message(busybox_bin: Path, tmp_path: Path) -> None:
    done, message = run(busybox_bin, tmp_path, MODE="filesystem", ROOT=str(tmp_path / "missing"))
    assert done.returncode != 0
    assert message.startswith("yunguan-wipe: cannot enter the volume")


def test_block_claim_device_zeroed_end_to_end(busybox_bin: Path, tmp_path: Path) -> None:
    """A loop device over a file of random bytes stands for the attached block volume."""
    losetup = shutil.which("losetup")
    if os.geteuid() != 0 or losetup is None:
        pytest.skip("a loop device needs root and losetup")
    image = tmp_path / "disk.img"
    image.write_bytes(os.urandom(2 * MIB + 4096))
    device = subprocess.run(
        [losetup, "--find", "--show", str(image)], capture_output=True, text=True, check=True
    ).stdout.strip()
    try:
        done, message = run(busybox_bin, tmp_path, MODE="block", DEVICE=device, SAMPLES="4")
    finally:
        subprocess.run([losetup, "-d", device], check=True)
    assert done.returncode == 0, done.stderr
    assert image.read_bytes().count(0) == 2 * MIB + 4096
    samples, facts = samples_from(message)
    assert facts["mode"] == "block" and facts["size"] == 2 * MIB + 4096
    assert all(s.sha256 == s.expected_sha256 for s in samples) and len(samples) == 4
