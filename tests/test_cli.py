"""`trajrec` as a user meets it: help, exit codes, one-line errors, JSON, folders of bundles, Ctrl+C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorder.cli import main
from recorder.sealing.synthetic import SyntheticTruth
from tests.helpers.bundles import edit_manifest
from trajrec import format as fmt

TRAJREC = [sys.executable, "-m", "recorder.cli"]


def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRAJREC, *args], capture_output=True, text=True, timeout=timeout, env={**os.environ, "COLUMNS": "200"}
    )


@pytest.mark.slow
def test_help_lists_subcommands() -> None:
    r = run("--help")
    assert r.returncode == 0
    for command in ("validate", "info", "sample"):
        assert command in r.stdout
    r = run("validate", "--help")
    assert r.returncode == 0 and "--deep" in r.stdout and "--jobs" in r.stdout and "Exit codes" in r.stdout


def test_valid_bundle_exits_0_with_a_summary(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, _ = sample
    r = run("validate", str(bundle))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 bundle: 1 valid, 0 invalid" in r.stdout
    assert r.stderr == ""


def test_invalid_bundle_exits_1_with_one_line_per_problem(bundle: Path) -> None:
    (bundle / fmt.WINDOWS).unlink()
    (bundle / "stray.txt").write_text("x")
    r = run("validate", str(bundle))
    assert r.returncode == 1
    problems = [line for line in r.stdout.splitlines() if line.startswith(str(bundle) + ":")]
    assert len(problems) == 2
    assert any(f"error file-missing {fmt.WINDOWS}:" in p for p in problems)
    assert any("error file-extra stray.txt:" in p for p in problems)
    assert "Traceback" not in r.stdout + r.stderr


@pytest.mark.slow
def test_json_report(bundle: Path, sample: tuple[Path, SyntheticTruth]) -> None:
    edit_manifest(bundle, lambda m: m.update(status="recovered"))
    good, _ = sample
    r = run("validate", "--json", "--deep", str(good), str(bundle))
    assert r.returncode == 0  # warnings alone leave a bundle valid
    doc = json.loads(r.stdout)
    assert doc["summary"]["bundles"] == 2 and doc["summary"]["valid"] == 2 and doc["summary"]["with_warnings"] == 1
    assert doc["deep"] is True
    b = doc["bundles"][1]
    assert b["path"] == str(bundle) and b["warnings"] == 1
    assert b["findings"] == [
        {
            "code": "status-recovered",
            "severity": "warning",
            "path": "manifest.json",
            "message": b["findings"][0]["message"],
        }
    ]
    strict = run("validate", "--json", "--strict", str(bundle))
    assert strict.returncode == 1 and json.loads(strict.stdout)["summary"]["invalid"] == 1


def test_folder_of_bundles_and_tars(bundle: Path, tmp_path: Path, sample: tuple[Path, SyntheticTruth]) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copytree(sample[0], folder / sample[0].name)
    shutil.make_archive(str(folder / "second"), "tar", root_dir=bundle.parent, base_dir=bundle.name)
    (folder / "README.txt").write_text("not a bundle")
    r = run("validate", "--json", "-j", "2", str(folder))
    doc = json.loads(r.stdout)
    assert [Path(b["path"]).name for b in doc["bundles"]] == [sample[0].name, "second.tar"]
    assert r.returncode == 0


@pytest.mark.slow
def test_usage_errors_exit_2_with_one_line(tmp_path: Path) -> None:
    r = run("validate", str(tmp_path / "missing"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no such file or directory" in r.stderr
    r = run("validate", "s3://bucket/a//b")  # a malformed store URL: nothing is asked of any store
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "s3://" in r.stderr
    r = run("validate", "--jobs", "0", str(tmp_path))
    assert r.returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("validate").returncode == 2


@pytest.mark.slow
def test_info_and_bad_bundle_errors(sample: tuple[Path, SyntheticTruth], tmp_path: Path) -> None:
    bundle, truth = sample
    r = run("info", str(bundle))
    assert r.returncode == 0 and truth.session_id in r.stdout and "frames" in r.stdout
    assert f"elements  {len(truth.elements)}" in r.stdout
    assert "privacy   password fields recognised; 0 keys redacted, 0 frames masked, 0 gaps" in r.stdout
    assert json.loads(run("info", "--json", str(bundle)).stdout)["session_id"] == truth.session_id
    r = run("info", str(tmp_path))
    assert r.returncode == 3 and r.stderr.startswith("trajrec info: ") and r.stderr.count("\n") == 1


def test_sample_command_writes_a_valid_bundle(tmp_path: Path) -> None:
    r = run("sample", str(tmp_path), "--duration", "2", "--size", "320x240", "--no-audio")
    assert r.returncode == 0, r.stderr
    bundle = Path(r.stdout.strip())
    assert bundle.parent == tmp_path
    assert main(["validate", "--deep", "-q", str(bundle)]) == 0
    assert run("sample", str(tmp_path), "--size", "big").returncode == 2


@pytest.mark.slow
def test_ctrl_c_exits_130(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, _ = sample
    # many deep validations in a row: long enough to be interrupted
    with subprocess.Popen(
        [*TRAJREC, "validate", "--deep", "-j", "1", *[str(bundle)] * 1000],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        time.sleep(2.0)
        assert proc.poll() is None, "finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "Traceback" not in err and "interrupted" in err


def test_log_file_in_log_dir(
    sample: tuple[Path, SyntheticTruth], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAJREC_LOG_DIR", str(tmp_path / "logs"))
    r = subprocess.run([*TRAJREC, "info", str(tmp_path / "nope")], capture_output=True, text=True, env={**os.environ})
    assert r.returncode == 3
    log = (tmp_path / "logs" / "trajrec.log").read_text()
    assert "failed:" in log and "nope" in log


@pytest.mark.slow
def test_repair_command(tmp_path: Path) -> None:
    from recorder.sealing.synthetic import SyntheticSpec, synthesize_live

    synthesize_live(tmp_path / "live", SyntheticSpec(duration_s=2, width=320, height=240), session_id="s1", stop=False)
    r = run("repair", str(tmp_path / "live"), "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()) == tmp_path / "out" / "s1"
    v = run("validate", "--json", str(tmp_path / "out" / "s1"))
    assert v.returncode == 0
    assert [f["code"] for f in json.loads(v.stdout)["bundles"][0]["findings"]] == ["status-recovered"]
    r = run("repair", str(tmp_path / "nothing"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    r = run("repair", str(tmp_path / "out"))  # not a live directory
    assert r.returncode == 3 and "not a live session directory" in r.stderr


@pytest.mark.slow
def test_closed_pipe_is_quiet(sample: tuple[Path, SyntheticTruth]) -> None:
    bundle, _ = sample
    cmd = " ".join([*TRAJREC, "validate", "--json", *[str(bundle)] * 50]) + " | head -c 10"
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr and "Error" not in r.stderr


@pytest.mark.slow
def test_progress_bar_on_a_terminal(sample: tuple[Path, SyntheticTruth]) -> None:
    """Under a pseudo-terminal (script(1)) the bar is drawn on stderr; with output piped it is not."""
    bundle, _ = sample
    cmd = " ".join([*TRAJREC, "validate", "--deep", *[str(bundle)] * 40])
    r = subprocess.run(
        ["script", "-qec", cmd, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120", "TERM": "xterm"},
    )
    assert r.returncode == 0
    assert "/40 bundles" in r.stdout and "validate" in r.stdout  # the bar's own text, drawn while it ran
    piped = run("validate", "--deep", *[str(bundle)] * 3)
    assert "\x1b[" not in piped.stdout + piped.stderr and "/3 bundles" not in piped.stderr


@pytest.mark.slow
def test_debug_shows_tracebacks_only_when_asked(tmp_path: Path) -> None:
    plain = run("info", str(tmp_path / "nope"))
    debug = run("--debug", "info", str(tmp_path / "nope"))
    assert "Traceback" not in plain.stderr and plain.returncode == 3
    assert "Traceback" in debug.stderr and debug.returncode != 0


def test_lab_install_needs_no_gui_or_capture_packages() -> None:
    from importlib.metadata import requires

    core = [r for r in requires("trajectory-recorder") or [] if "extra ==" not in r]
    names = {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in core}
    assert {"av", "pyarrow", "numpy", "soundfile", "jsonschema"} <= names
    assert not names & {
        "pyside6",
        "pyside6-essentials",
        "mss",
        "pynput",
        "sounddevice",
        "opencv-python",
        "opencv-python-headless",
    }
