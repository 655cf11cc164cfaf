"""`trajrec export --format steps|hf`: step folders and Parquet shards from bundles made through the real writers,
read back as a lab would (the real `datasets` library, PIL), resumed after kill -9, from a real S3 store, with an
invalid bundle in the batch and a destination that cannot be written."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import trajrec
from recorder.cli import main
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from tests.helpers.s3 import aws_isolated_fixture, cli_env_fixture, fresh_bucket, put_bundle, s3_server_fixture  # noqa: F401
from trajrec import format as fmt
from trajrec.actions import Action
from trajrec.export.pyautogui import code
from trajrec.manifest import schema_errors

TRAJREC = [sys.executable, "-m", "recorder.cli"]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Three sound bundles (10, 8, 6 s) and one whose events table is damaged (it does not validate)."""
    root = tmp_path_factory.mktemp("export")
    names = {}
    for kind, spec in (
        ("a", SyntheticSpec(duration_s=10.0, width=320, height=240, pause=True, seed=1)),
        ("b", SyntheticSpec(duration_s=8.0, width=320, height=240, audio=False, seed=2)),
        ("c", SyntheticSpec(duration_s=6.0, width=320, height=240, seed=3)),
        ("bad", SyntheticSpec(duration_s=3.0, width=320, height=240, seed=4)),
    ):
        bundle, _ = synthesize_bundle(root, spec)
        names[kind] = bundle.name
    events = root / names["bad"] / fmt.EVENTS
    events.write_bytes(events.read_bytes()[:100])
    return root, names


def _sound(root: Path, names: dict[str, str]) -> list[str]:
    return [str(root / names[k]) for k in ("a", "b", "c")]


def _one_done(dest: Path) -> bool:
    return dest.is_dir() and any((p / "meta.json").exists() for p in dest.iterdir() if not p.name.startswith("."))


def _tree(dest: Path) -> dict[str, str]:
    return {str(p.relative_to(dest)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(dest.rglob("*"))
            if p.is_file()}  # fmt: skip


def test_steps_export_matches_the_bundles(made: tuple[Path, dict[str, str]], tmp_path: Path, capsys: Any) -> None:
    root, names = made
    dest = tmp_path / "out"
    code_ = main(["export", "--format", "steps", "--json", str(dest), str(root)])
    doc = json.loads(capsys.readouterr().out)
    assert code_ == 1  # the damaged bundle was left out, the others exported
    results = {Path(r["location"]).name: r for r in doc["bundles"]}
    assert results[names["bad"]]["result"] == "invalid" and results[names["bad"]]["problems"]
    assert doc["summary"]["exported"] == 3 and doc["summary"]["invalid"] == 1
    assert sorted(p.name for p in dest.iterdir()) == sorted(names[k] for k in ("a", "b", "c"))  # no partial folder
    folder = dest / names["a"]
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and stat.S_IMODE((folder / "meta.json").stat().st_mode) == 0o600
    steps = [json.loads(line) for line in (folder / "steps.jsonl").read_text().splitlines()]
    meta = json.loads((folder / "meta.json").read_text())
    with trajrec.open(root / names["a"]) as b:
        actions = b.actions()
        assert meta["source"] == {"session_id": b.session_id, "manifest_sha256": b.manifest_sha256,
                                  "status": "complete", "format_version": b.manifest["format_version"],
                                  "recorder": b.manifest["recorder"]}  # fmt: skip
        assert meta["task"]["instruction"] == b.manifest["task"]["instruction"]
        assert meta["expert"] == b.manifest["task"]["expert"]
        voice = b.voiceover()
        assert voice is not None and [(n["start_ns"], n["end_ns"]) for n in meta["narration"]] == voice.spans
        assert [s["structured"] for s in steps] == [a.to_json() for a in actions]
        for s in steps:
            assert s["t_ns"] == s["structured"]["start_ns"] and s["utc"] == fmt.utc_iso(b.utc_ns(s["t_ns"]))
            assert schema_errors(s["structured"], "action.schema.json") == []
            said = [meta["narration"][i]["start_ns"] for i in s["narration"]]
            assert said == [a for a, _ in s["structured"]["narration"]]
            ast.parse(s["action"])  # valid Python
            if s["x"] is not None:
                assert f"x={s['x']:.4f}" in s["action"] and 0 <= s["x"] <= 1
        seen = sorted({s["structured"][k] for s in steps for k in ("frame_before", "frame_after")})
        assert sorted(p.name for p in (folder / "frames").iterdir()) == [f"{i:06d}.png" for i in seen]
        for i in seen[:: max(1, len(seen) // 5)]:  # lossless: the PNG is the decoded frame, pixel for pixel
            with Image.open(folder / "frames" / f"{i:06d}.png") as png:
                assert np.array_equal(np.asarray(png.convert("RGB")), b.frame(i))
    kinds = {s["kind"] for s in steps}
    assert {"click", "type", "scroll", "marker"} <= kinds
    again = main(["export", "--format", "steps", "-q", str(dest), *_sound(root, names)])
    assert again == 0 and "0 exported, 3 already there" in capsys.readouterr().out


def test_options_downscale_and_leave_out(made: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    root, names = made
    dest = tmp_path / "small"
    assert main(["export", "--format", "steps", "-q", "--image", "webp", "--max-width", "160", "--no-moves",
                 "--no-markers", str(dest), str(root / names["c"])]) == 0  # fmt: skip
    steps = [json.loads(line) for line in (dest / names["c"] / "steps.jsonl").read_text().splitlines()]
    assert steps and not {"move", "marker"} & {s["kind"] for s in steps}
    with Image.open(dest / names["c"] / steps[0]["screenshot_before"]) as shot:
        assert shot.format == "WEBP" and shot.size == (160, 120)


def test_hf_export_loads_with_datasets(made: tuple[Path, dict[str, str]], tmp_path: Path, capsys: Any) -> None:
    import datasets

    root, names = made
    dest = tmp_path / "hf"
    assert main(["export", "--format", "hf", "-q", str(dest), *_sound(root, names)]) == 0
    steps_dest = tmp_path / "steps"
    assert main(["export", "--format", "steps", "-q", str(steps_dest), *_sound(root, names)]) == 0
    capsys.readouterr()
    ds = datasets.load_dataset("parquet", data_files=str(dest / "data" / "*.parquet"), split="train")
    assert isinstance(ds.features["image_before"], datasets.Image)
    expected = {k: [json.loads(line) for line in (steps_dest / names[k] / "steps.jsonl").read_text().splitlines()]
                for k in ("a", "b", "c")}  # fmt: skip
    assert len(ds) == sum(len(v) for v in expected.values())
    by_bundle: dict[str, list[dict[str, Any]]] = {}
    for row in ds:
        by_bundle.setdefault(row["session_id"], []).append(row)
    with trajrec.open(root / names["a"]) as b:
        rows = sorted(by_bundle[names["a"]], key=lambda r: r["step"])
        for row, s in zip(rows, expected["a"], strict=True):
            keys = ("step", "action", "t_ns", "kind")
            assert [row[k] for k in keys] == [s[k] for k in keys]
            assert json.loads(row["structured"]) == s["structured"]
            assert row["instruction"] == b.manifest["task"]["instruction"]
        row = rows[len(rows) // 2]
        i = json.loads(row["structured"])["frame_before"]
        assert np.array_equal(np.asarray(row["image_before"].convert("RGB")), b.frame(i))
    assert all(not r["narration_start_s"] for r in by_bundle[names["b"]])  # no audio: no narration
    card = (dest / "README.md").read_text()
    assert "| `image_before` |" in card and "data_files" in card and "3 recordings" in card
    provenance = [json.loads(line) for line in (dest / "provenance.jsonl").read_text().splitlines()]
    assert sorted(p["session_id"] for p in provenance) == sorted(names[k] for k in ("a", "b", "c"))
    assert len(datasets.load_dataset(str(dest), split="train")) == len(ds)  # the card's configs work too
    assert main(["export", "--format", "hf", str(dest), *_sound(root, names)]) == 0
    assert "3 already there" in capsys.readouterr().out


def test_an_export_killed_midway_resumes_to_the_same_result(
    made: tuple[Path, dict[str, str]], tmp_path: Path, capsys: Any
) -> None:
    root, names = made
    bundles = _sound(root, names)
    clean = tmp_path / "clean"
    assert main(["export", "--format", "steps", "-q", str(clean), *bundles]) == 0
    dest = tmp_path / "killed"
    proc = subprocess.Popen([*TRAJREC, "export", "--format", "steps", "-q", str(dest), *bundles],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _one_done(dest):
        time.sleep(0.002)  # the first bundle is done: kill while the next one is being written
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    visible = [p for p in dest.iterdir() if not p.name.startswith(".")]
    assert all((p / "meta.json").is_file() for p in visible)  # a visible folder is always a finished one
    assert 1 <= len(visible) < 3
    capsys.readouterr()
    assert main(["export", "--format", "steps", "--json", str(dest), *bundles]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["resumed"] == len(visible) and summary["exported"] == 3 - len(visible)
    assert _tree(dest) == _tree(clean)  # no leftovers, nothing missing, identical bytes


def test_invalid_fail_stops_and_an_unwritable_destination_ends_the_run(
    made: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, names = made
    r = subprocess.run([*TRAJREC, "export", "--format", "steps", "--invalid", "fail", str(tmp_path / "f"),
                        str(root / names["bad"]), str(root / names["c"])], capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 1 and "did not validate" in r.stderr and "Traceback" not in r.stderr

    def small_files() -> None:  # a destination that fills up: no file may grow past 4 kB
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_000, 4_000))

    for form in ("steps", "hf"):
        dest = tmp_path / f"full-{form}"
        env = {**os.environ, "TRAJREC_LOG_DIR": str(tmp_path / f"logs-{form}")}  # its own log, still small
        r = subprocess.run([*TRAJREC, "export", "--format", form, str(dest), str(root / names["a"])],
                           capture_output=True, text=True, preexec_fn=small_files, env=env)  # fmt: skip
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 3, r.stderr
        assert len(lines) == 1 and "cannot write the export" in lines[0] and "run the same command again" in lines[0]
        leftovers = [p for p in dest.rglob("*") if p.is_file() and p.suffix in (".parquet", ".json", ".jsonl")]
        assert leftovers == []  # nothing that looks finished


def test_export_reads_bundles_straight_from_the_store(
    made: tuple[Path, dict[str, str]], s3_server: Any, cli_env: None, tmp_path: Path
) -> None:
    root, names = made
    bucket = fresh_bucket(s3_server)
    put_bundle(s3_server.client(), bucket, "lab", root / names["a"])
    assert main(["export", "--format", "steps", "-q", str(tmp_path / "s3"), f"s3://{bucket}/lab"]) == 0
    assert main(["export", "--format", "steps", "-q", str(tmp_path / "local"), str(root / names["a"])]) == 0
    assert _tree(tmp_path / "s3") == _tree(tmp_path / "local")


def test_pyautogui_code_is_data_never_code() -> None:
    hostile = "x')\nimport os; os.system('rm -rf /') #"
    for a in (
        Action("type", 0, 1, text=hostile),
        Action("marker", 0, 0, text=hostile),
        Action("hotkey", 0, 1, keys=("ctrl", hostile)),
        Action("click", 0, 1, x=1, y=2, button=hostile),
    ):
        tree = ast.parse(code(a, (0.5, 0.25)))
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
        assert all(isinstance(c.func, ast.Attribute) and getattr(c.func.value, "id", "") == "pyautogui" for c in calls)
        assert not [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    double = code(Action("click", 0, 1, button="left", count=2), (0.5, 0.25))
    assert double == "pyautogui.doubleClick(x=0.5000, y=0.2500)"
    assert code(Action("click", 0, 1, button="right"), (0.1, 0.2)) == "pyautogui.rightClick(x=0.1000, y=0.2000)"
    assert code(Action("scroll", 0, 1, dy=3, dx=-1), (0.1, 0.2)) == (
        "pyautogui.scroll(-3, x=0.1000, y=0.2000)\npyautogui.hscroll(-1, x=0.1000, y=0.2000)"
    )
    assert code(Action("hotkey", 0, 1, keys=("ctrl", "shift", "t")), None) == "pyautogui.hotkey('ctrl', 'shift', 't')"
    assert code(Action("hotkey", 0, 1, keys=("escape",)), None) == "pyautogui.press('esc')"
    assert code(Action("drag", 0, 1, button="left"), (0.1, 0.2), (0.3, 0.4)) == (
        "pyautogui.moveTo(x=0.1000, y=0.2000)\npyautogui.dragTo(x=0.3000, y=0.4000, button='left')"
    )


def test_export_out_rows(made: tuple[Path, dict[str, str]], tmp_path: Path, capsys: Any) -> None:
    import pyarrow.parquet as pq

    root, names = made
    out = tmp_path / "exported.parquet"
    assert main(["export", "--format", "steps", "--json", "--out", str(out), str(tmp_path / "d"), str(root)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "bundles" not in doc and doc["summary"]["exported"] == 3 and doc["summary"]["invalid"] == 1
    rows = {Path(r["location"]).name: r for r in pq.read_table(out).to_pylist()}
    assert rows[names["bad"]]["result"] == "invalid" and rows[names["bad"]]["problems"]
    assert all(rows[names[k]]["result"] == "exported" and rows[names[k]]["steps"] > 0 for k in ("a", "b", "c"))
    assert sum(r["steps"] or 0 for r in rows.values()) == doc["summary"]["steps"]
