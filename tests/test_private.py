"""Private by default: whatever the umask `trajrec` starts with, what it writes about an expert (bundles, the
upload queue, logs, the embedded store's objects, downloads) is 0700/0600, and its folders made earlier under a
looser umask are tightened."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.s3, pytest.mark.slow]


def loose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`trajrec ARGS` started under umask 022, as from a default login shell."""
    return subprocess.run(
        [sys.executable, "-m", "recorder.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=lambda: os.umask(0o022),
    )


def open_to_others(root: Path) -> list[str]:
    """Every file or folder under `root` (itself included) that group or others may read, write or enter."""
    wrong = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            wrong.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return wrong


def test_everything_written_is_private_whatever_the_umask(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for name in ("config", "data", "logs"):
        (home / name).mkdir(parents=True, mode=0o755)
        (home / name).chmod(0o755)  # made earlier under a looser umask
    env = {
        **os.environ,
        "TRAJREC_CONFIG_DIR": str(home / "config"),
        "TRAJREC_DATA_DIR": str(home / "data"),
        "TRAJREC_LOG_DIR": str(home / "logs"),
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)
    r = loose("sample", str(home / "data" / "bundles"), "--duration", "2", env=env)
    assert r.returncode == 0, r.stderr
    bundle = Path(r.stdout.strip().splitlines()[-1])
    r = loose("upload", "--progress", "never", str(bundle), env=env)
    assert r.returncode == 0, r.stderr
    r = loose("download", "--progress", "never", "s3://trajectories", str(tmp_path / "downloads"), env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "downloads" / bundle.name / "manifest.json").is_file()
    stored = list((home / "data" / "store").rglob("*"))
    assert any(p.name == "manifest.json" for p in stored), "the embedded store holds the bundle's objects"
    assert list((home / "logs").iterdir()), "a log was written"
    wrong = [w for root in [*home.iterdir(), tmp_path / "downloads"] for w in open_to_others(root)]
    assert wrong == [], "\n".join(wrong)
