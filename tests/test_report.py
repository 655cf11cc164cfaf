"""`trajrec report`: quality measurements, grades under a lab's policy, sidecars, --json and exit codes, on bundles
made through the real writers, and read straight from a real S3 store; the policy and the measurements' rules on
their own."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trajrec
from recorder.cli import main
from recorder.sealing.synthetic import SyntheticSpec, synthesize_bundle
from tests.helpers.s3 import aws_isolated_fixture, cli_env_fixture, fresh_bucket, put_bundle, s3_server_fixture  # noqa: F401
from trajrec import format as fmt
from trajrec.manifest import schema_errors
from trajrec.quality.metrics import QualityRules, _black, _frozen, _idle
from trajrec.quality.policy import DEFAULT, PolicyError, Rule, load_policy, policy_from
from trajrec.screen import ScreenProfile
from trajrec.timeline import Span

S = 1_000_000_000
LENIENT = '[[rule]]\nmetric = "frames.max_gap_s"\nmax = 5\n'


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A folder of three bundles: 12 s with audio ("voiced"), 12 s without ("silent"), and one whose video is cut
    short ("broken"); and their names."""
    root = tmp_path_factory.mktemp("report")
    names = {}
    for kind, spec in (
        ("voiced", SyntheticSpec(duration_s=12.0, width=320, height=240, pause=True, seed=1)),
        ("silent", SyntheticSpec(duration_s=12.0, width=320, height=240, audio=False, seed=2)),
        ("broken", SyntheticSpec(duration_s=3.0, width=320, height=240, seed=3)),
    ):
        bundle, _ = synthesize_bundle(root, spec)
        names[kind] = bundle.name
    video = root / names["broken"] / fmt.VIDEO
    video.write_bytes(video.read_bytes()[:2000])
    return root, names


@pytest.fixture
def folder(made: tuple[Path, dict[str, str]]) -> Path:
    return made[0]


@pytest.fixture
def names(made: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return made[1]


def _copy(folder: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "bundles"
    shutil.copytree(folder, dst)
    return dst


def test_report_grades_measures_and_writes_sidecars(folder: Path, tmp_path: Path, capsys: Any) -> None:
    bundles = _copy(folder, tmp_path)
    code = main(["report", "--json", str(bundles)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1  # the silent bundle fails the default policy, the broken one is unreadable
    broken = next(e for e in doc["bundles"] if "error" in e)
    voiced = next(e for e in doc["bundles"] if "error" not in e and e["quality"]["voice"] is not None)
    silent = next(e for e in doc["bundles"] if "error" not in e and e["quality"]["voice"] is None)
    assert doc["summary"] | {"seconds": 0} == {"bundles": 3, "pass": 1, "warn": 0, "fail": 1, "unreadable": 1,
                                               "seconds": 0}  # fmt: skip
    assert voiced["grade"] == "pass" and voiced["reasons"] == []
    q = voiced["quality"]
    with trajrec.open(voiced["location"]) as b:
        assert q["session_id"] == b.session_id and q["manifest_sha256"] == b.manifest_sha256
        frames, markers = len(b.frame_times()), [m for m in b.markers() if m.kind == fmt.MarkerKind.STEP]
        paused = sum(p.ns for p in b.pauses())
    assert q["frames"]["count"] == frames and sum(q["frames"]["histogram"]["counts"]) == frames - 1 - 1  # one pause
    assert q["paused_s"] == round(paused / S, 3) and q["pauses"]["count"] == 1
    assert [m["text"] for m in q["markers"]] == [m.text for m in markers]
    assert 0 < q["narration"]["coverage"] <= 1 and q["active_s"] <= q["duration_s"] - q["paused_s"]
    assert silent["grade"] == "fail" and any("narration.present" in r for r in silent["reasons"])
    assert silent["quality"]["voice"] is None and silent["quality"]["narration"]["present"] is False
    assert "error" in broken and "video" in broken["error"]
    for entry in (voiced, silent):  # sidecars beside the bundles, private, following their schema
        side = Path(entry["location"] + ".quality.json")
        assert stat.S_IMODE(side.stat().st_mode) == 0o600
        data = json.loads(side.read_text())
        assert schema_errors(data, "quality.schema.json") == [] and data["quality"] == entry["quality"]
    assert not Path(broken["location"] + ".quality.json").exists()
    assert sorted(p.name for p in Path(voiced["location"]).rglob("*.quality.json")) == []  # never inside a bundle


def test_sidecars_are_reused_until_the_bundle_changes(
    folder: Path, names: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    one = _copy(folder, tmp_path) / names["voiced"]
    assert main(["report", "-q", str(one)]) == 0
    side = Path(f"{one}.quality.json")
    data = json.loads(side.read_text())
    data["quality"]["active_s"] = 4242.0  # the next run reads it instead of measuring again
    side.write_text(json.dumps(data))
    capsys.readouterr()
    main(["report", "--json", str(one)])
    assert json.loads(capsys.readouterr().out)["bundles"][0]["quality"]["active_s"] == 4242.0
    main(["report", "--json", "--fresh", str(one)])
    assert json.loads(capsys.readouterr().out)["bundles"][0]["quality"]["active_s"] < 100
    data["quality"]["manifest_sha256"] = "0" * 64  # a sidecar of another bundle (or of this one before an edit)
    side.write_text(json.dumps(data))
    main(["report", "--json", str(one)])
    assert json.loads(capsys.readouterr().out)["bundles"][0]["quality"]["active_s"] < 100
    os.unlink(side)
    assert main(["report", "--no-sidecars", "-q", str(one)]) == 0 and not side.exists()


def test_policies_decide_the_grade_and_the_exit_code(
    folder: Path, names: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    bundles = _copy(folder, tmp_path)
    voiced, silent = str(bundles / names["voiced"]), str(bundles / names["silent"])
    lenient = tmp_path / "lenient.toml"
    lenient.write_text(LENIENT)
    assert main(["report", "--policy", str(lenient), "-q", voiced, silent]) == 0
    picky = tmp_path / "picky.yaml"
    picky.write_text("name: picky\nrule:\n  - metric: narration.coverage\n    min: 1.01\n    grade: warn\n"
                     "    why: talk all the time\n    missing: pass\n")  # fmt: skip
    capsys.readouterr()
    assert main(["report", "--policy", str(picky), voiced, silent]) == 0  # warnings pass...
    out = capsys.readouterr().out
    assert "WARN" in out and "talk all the time" in out and "(picky)" in out
    assert main(["report", "--policy", str(picky), "--strict", "-q", voiced]) == 1  # ...unless --strict
    for text, why in (
        ("[[rule]]\nmetric = 'x'\n", "rule/0"),  # no bound
        ("[[rule]]\nmetric = 'Bad Path'\nmin = 1\n", "does not match"),
        ("rule = [", "not a policy file"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        capsys.readouterr()
        assert main(["report", "--policy", str(bad), voiced]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and why in err and "Traceback" not in err
    assert main(["report", "--policy", str(tmp_path / "missing.toml"), voiced]) == 2
    assert main(["report", str(tmp_path / "nothing-here")]) == 2


def test_report_reads_bundles_straight_from_the_store(
    folder: Path, names: dict[str, str], s3_server: Any, cli_env: None, tmp_path: Path, capsys: Any
) -> None:
    bucket = fresh_bucket(s3_server)
    client = s3_server.client()
    for kind in ("voiced", "silent"):
        put_bundle(client, bucket, "lab", folder / names[kind])
    sides = tmp_path / "sides"
    sides.mkdir()
    code = main(["report", "--json", "--sidecars", str(sides), f"s3://{bucket}/lab"])
    doc = json.loads(capsys.readouterr().out)
    grades = {e["quality"]["session_id"]: e["grade"] for e in doc["bundles"]}
    assert code == 1 and grades == {names["voiced"]: "pass", names["silent"]: "fail"}
    assert sorted(p.name for p in sides.iterdir()) == sorted(f"{names[k]}.quality.json" for k in ("voiced", "silent"))
    assert main(["report", "-q", "--sidecars", str(tmp_path), str(folder / names["voiced"])]) == 0
    remote = json.loads((sides / f"{names['voiced']}.quality.json").read_text())
    here = json.loads((tmp_path / f"{names['voiced']}.quality.json").read_text())
    assert here["quality"] == remote["quality"]  # the same bytes measure the same, read from disk or the store


def test_policy_rules() -> None:
    q: dict[str, Any] = {"a": {"b": 0.2}, "spans": [[1, 2], [3, 4]], "status": "recovered", "voice": None}
    assert Rule("a.b", min=0.1).check(q) is None
    assert Rule("a.b", min=0.3, why="more").check(q) == "a.b 0.2 < 0.3: more"
    assert Rule("spans", max=1).check(q) == "spans 2 > 1"  # a list counts its items
    assert Rule("status", equals="complete").check(q) == "status is recovered, not complete"
    assert Rule("status", one_of=("complete", "recovered")).check(q) is None
    assert Rule("voice.peak_dbfs", min=-30).check(q) == "voice.peak_dbfs is not measured"
    p = policy_from({"name": "lab", "rule": [
        {"metric": "a.b", "min": 0.3, "grade": "warn", "why": "louder"},
        {"metric": "voice.peak_dbfs", "min": -30, "missing": "pass"},
        {"metric": "spans", "max": 1, "why": "fewer"},
    ]})  # fmt: skip
    g = p.grade(q)
    assert g.grade == "fail" and g.reasons == ["fail: spans 2 > 1: fewer", "warn: a.b 0.2 < 0.3: louder"]
    assert g.advice == ["fewer", "louder"]
    assert policy_from({"rule": [{"metric": "a.b", "max": 1}]}).grade(q).grade == "pass"
    with pytest.raises(PolicyError, match="equals"):
        policy_from({"rule": [{"metric": "a", "equals": {"x": 1}}]})
    assert DEFAULT.rules and all(r.grade in ("warn", "fail") for r in DEFAULT.rules)


def test_yaml_and_toml_policies_are_the_same(tmp_path: Path) -> None:
    (tmp_path / "p.toml").write_text('name = "n"\n[[rule]]\nmetric = "a"\nmin = 1\ngrade = "warn"\n')
    (tmp_path / "p.yml").write_text("name: n\nrule:\n  - {metric: a, min: 1, grade: warn}\n")
    assert load_policy(tmp_path / "p.toml") == load_policy(tmp_path / "p.yml")


def test_idle_black_and_frozen_rules() -> None:
    # activity at 0.5, 1, 8 and 9 s of a 20 s session paused over 12-14 s: idle 1-8 s and 9-12 + 14-20 s (each >= 5?)
    activity = np.asarray([0.5, 1, 8, 9], dtype=np.float64) * S
    idle = _idle(activity.astype(np.int64), 0, 20 * S, [Span(12 * S, 14 * S)], 5 * S)
    assert idle == [Span(1 * S, 8 * S), Span(14 * S, 20 * S)]  # 9-12 s is 3 s once the pause is cut out
    t = (np.arange(100) * S // 10).astype(np.int64)  # 10 fps over 10 s
    changes = np.full(100, 5.0)
    changes[20:60] = 0.0  # still from frame 19 to 59 (4 s)
    brightness = np.full(100, 120.0)
    brightness[70:90] = 3.0  # black for 2 s
    p = ScreenProfile(changes, brightness, np.where(brightness < 10, 1.0, 40.0))
    rules = QualityRules(frozen_ns=3 * S, black_ns=1 * S)
    assert _black(p, t, 0, rules) == [[7.0, 9.0]]

    def press(at: float) -> fmt.InputEvent:
        return fmt.InputEvent(0, int(at * S), fmt.EventKind.KEY_DOWN, key="a")

    assert _frozen(p, t, [press(2.5), press(3), press(4)], 0, rules) == [[1.9, 5.9]]
    assert _frozen(p, t, [press(2.5), press(3)], 0, rules) == []  # two presses: the expert may just be reading
    assert _frozen(p, t, [press(2.5), press(3), press(4)], 0, QualityRules(frozen_ns=5 * S)) == []


def test_out_writes_rows_as_they_come_and_keeps_none(
    folder: Path, names: dict[str, str], tmp_path: Path, capsys: Any
) -> None:
    import pyarrow.parquet as pq

    bundles = _copy(folder, tmp_path)
    main(["report", "--json", "--no-sidecars", str(bundles)])
    whole = {e["location"]: e for e in json.loads(capsys.readouterr().out)["bundles"]}
    out = tmp_path / "quality.parquet"
    code = main(["report", "--json", "--no-sidecars", "--out", str(out), str(bundles)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1 and "bundles" not in doc and doc["summary"]["out"] == str(out)
    assert doc["summary"] | {"seconds": 0, "out": ""} == {"bundles": 3, "pass": 1, "warn": 0, "fail": 1,
                                                         "unreadable": 1, "seconds": 0, "out": ""}  # fmt: skip
    rows = {r["location"]: r for r in pq.read_table(out).to_pylist()}
    assert rows.keys() == whole.keys()
    for location, e in whole.items():
        r = rows[location]
        assert (r["grade"], r["reasons"], r["error"]) == (e.get("grade"), e.get("reasons", []), e.get("error"))
        assert (json.loads(r["quality"]) if r["quality"] else None) == e.get("quality")
    assert main(["report", "--out", str(tmp_path / "no" / "such.parquet"), str(bundles)]) == 2
