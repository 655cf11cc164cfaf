"""`trajrec scan` and `trajrec.scan`: secrets planted in received bundles are found (typed, and on screen by OCR) in
a folder and on a real S3-compatible store, with exit codes like validate's; the bundles are never changed.

A sealed bundle has its typed secrets redacted already, so "typed" plants are written into events.parquet (as a
recorder older than the scanner would have left them); on-screen plants are typed into the synthetic desktop,
whose terminal shows them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import trajrec
from recorder.cli import main
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from tests.helpers.bundles import edit_manifest, rewrite_table
from tests.helpers.s3 import (
    aws_isolated_fixture,  # noqa: F401  (pytest fixture)
    cli_env_fixture,  # noqa: F401  (pytest fixture)
    fresh_bucket,
    put_bundle,
    s3_server_fixture,  # noqa: F401  (pytest fixture)
)
from trajrec import format as fmt

AWS_KEY = "AKIAZ3MHT5QW7XJ2KLPB"
MS = 1_000_000


def plant_typed(bundle: Path, text: str, at_ns: int) -> None:
    """Key events typing `text` at `at_ns`, in place of the events around it in events.parquet (resealed)."""

    def change(rows: list[dict[str, Any]]) -> None:
        lo, hi = at_ns - 200 * MS, at_ns + len(text) * 40 * MS + 200 * MS
        rows[:] = [r for r in rows if not lo <= r["t_ns"] <= hi] or rows[:1]  # the planted text alone there
        for i, ch in enumerate(text):
            for dt, kind in ((0, "key_down"), (20 * MS, "key_up")):
                rows.append(
                    {
                        **{k: None for k in rows[0]},
                        "seq": 0,
                        "t_ns": at_ns + i * 40 * MS + dt,
                        "kind": kind,
                        "key": ch,
                        "char": ch,
                        "scancode": 200 + i % 50,
                        "modifiers": [],
                        "redacted": False,
                    }
                )
        rows.sort(key=lambda r: (r["t_ns"], r["seq"]))
        for n, r in enumerate(rows):
            r["seq"] = n

    rewrite_table(bundle, fmt.EVENTS, change)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """clean/, typed/ (an AWS key and a lab's ticket number typed), broken/ (its manifest cut short)."""
    root = tmp_path_factory.mktemp("scan")
    made = tmp_path_factory.mktemp("scan-src")
    spec = SyntheticSpec(duration_s=4.0, width=320, height=240, audio=False)
    clean, _ = synthesize_bundle(made, spec, session_id="20261203T100000Z-00000001")
    typed, _ = synthesize_bundle(made, spec, session_id="20261203T100000Z-00000002")
    broken, _ = synthesize_bundle(made, spec, session_id="20261203T100000Z-00000003")
    with trajrec.open(typed) as b:
        t0 = b.end_ns - 3_000 * MS
    plant_typed(typed, f"aws {AWS_KEY} ok", t0)
    plant_typed(typed, "see MRN-204817", t0 + 1_500 * MS)
    edit_manifest(typed, lambda m: m["task"].update(secret_patterns=[r"MRN-\d{6}"]))  # the lab's, in the task
    (broken / fmt.MANIFEST).write_text((broken / fmt.MANIFEST).read_text()[:100])
    for b in (clean, typed, broken):
        shutil.copytree(b, root / b.name)
    return root


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def test_scan_a_folder_finds_the_typed_secrets_and_changes_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = digest(folder)
    code = main(["scan", "--no-screen", "--json", "--pattern", r"MRN-\d{6}", str(folder)])
    out = capsys.readouterr().out
    assert code == 1
    got = {Path(r["location"]).name[-1]: r for r in json.loads(out)["bundles"]}
    assert got["1"]["result"] == "clean" and got["1"]["findings"] == []
    assert got["3"]["result"] == "unreadable" and got["3"]["error"]
    typed = got["2"]
    assert typed["result"] == "secrets"
    assert [(f["source"], f["kind"]) for f in typed["findings"]] == [
        ("typed", "AWS Access Key"),
        ("typed", "Lab pattern 1"),
    ]
    assert all(0 < f["start_s"] < f["end_s"] for f in typed["findings"])
    assert AWS_KEY not in out and "204817" not in out  # a finding never holds the secret
    assert digest(folder) == before

    typed_only = str(folder / "20261203T100000Z-00000002")
    assert main(["scan", "--no-screen", "--json", typed_only]) == 1  # the bundle's own patterns: not unless asked
    assert [f["kind"] for f in json.loads(capsys.readouterr().out)["bundles"][0]["findings"]] == ["AWS Access Key"]
    assert main(["scan", "--no-screen", "--json", "--task-patterns", typed_only]) == 1
    kinds = [f["kind"] for f in json.loads(capsys.readouterr().out)["bundles"][0]["findings"]]
    assert kinds == ["AWS Access Key", "Lab pattern 1"]

    assert main(["scan", "--no-screen", str(folder / "20261203T100000Z-00000001")]) == 0
    assert "1 bundle scanned: 1 clean" in capsys.readouterr().out
    assert main(["scan", "--no-screen", "--pattern", "(unclosed", str(folder)]) == 2
    assert "not a valid regular expression" in capsys.readouterr().err


def test_scan_reads_bundles_straight_from_the_store(
    folder: Path, s3_server: Any, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    for b in sorted(folder.iterdir())[:2]:  # the clean and the typed one
        put_bundle(client, bucket, "lab", b)
    code = main(["scan", "--no-screen", "--json", f"s3://{bucket}/lab"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [r["result"] for r in doc["bundles"]] == ["clean", "secrets"]
    assert [f["kind"] for f in doc["bundles"][1]["findings"]] == ["AWS Access Key"]  # no --pattern this time
    assert main(["scan", "--no-screen", f"s3://{bucket}/lab/20261203T100000Z-00000001"]) == 0


def test_scan_reads_the_screen_for_secrets_sealing_could_not_see(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The synthetic session's clicks and window changes cut the key's typing into pieces, so no stretch of typed
    text holds it whole (nothing typed is found, nor redacted); the terminal shows it whole: OCR finds it."""
    spec = SyntheticSpec(duration_s=10.0, width=1280, height=720, audio=False, text=f"export KEY={AWS_KEY}\n")
    synthesize_bundle(tmp_path / "in", spec)
    assert main(["scan", "--no-screen", str(tmp_path / "in")]) == 0
    capsys.readouterr()
    code = main(["scan", "--json", str(tmp_path / "in")])
    out = capsys.readouterr().out
    assert code == 1
    (report,) = json.loads(out)["bundles"]
    assert report["screen_scanned"] is True
    found = [f for f in report["findings"] if f["kind"] == "AWS Access Key"]
    assert found and all(f["source"] == "screen" and len(f["box"]) == 4 for f in found)
    assert AWS_KEY not in out
