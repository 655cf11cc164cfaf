"""The packaging files, checked fast (the build, the smoke test of the built package and the fresh-venv installs
are heavy and run on their own: `bash scripts/package.sh`)."""

from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from recorder.commands import record
from recorder.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SCRIPTS = ("build.sh", "smoke.sh", "clean_machine.sh", "check_installs.sh", "install.sh")


def test_spec_builds_both_entry_points() -> None:
    spec = (PACKAGING / "trajrec.spec").read_text()
    ast.parse(spec)  # valid Python
    assert 'name="trajrec"' in spec and "console=True" in spec
    assert 'name="trajrec-gui"' in spec and "console=False" in spec
    assert "COLLECT(cli, gui," in spec  # one folder, shared libraries
    entries = {p.stem: p.read_text() for p in (PACKAGING / "entry").glob("*.py")}
    assert "from recorder.cli import main" in entries["trajrec"]
    assert "from recorder.app.main import main" in entries["trajrec_gui"]
    # the same entry points as the pip install's
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'trajrec = "recorder.cli:main"' in pyproject and 'trajrec-gui = "recorder.app.main:main"' in pyproject
    # rclone is shipped and found through the runtime hook
    assert '(rclone_binary(), "bin")' in spec
    hook = (PACKAGING / "rthooks" / "trajrec_env.py").read_text()
    assert '"TRAJREC_RCLONE"' in hook and '"bin", "rclone"' in hook


def test_desktop_entry() -> None:
    path = PACKAGING / "trajrec.desktop"
    if shutil.which("desktop-file-validate"):
        r = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "error" not in r.stdout
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    entry.read(path)
    d = entry["Desktop Entry"]
    assert d["Type"] == "Application" and d["Name"] == "Trajectory Recorder"
    assert d["Exec"].split()[0] == "trajrec-gui" and d["Icon"] == "trajrec" and d["Terminal"] == "false"
    assert d["Categories"].endswith(";")


def test_install_sh_installs_and_uninstalls(tmp_path: Path) -> None:
    """install.sh on a stand-in for an unpacked package: copies it to PREFIX/opt/trajrec, links both programs into
    PREFIX/bin, installs the menu entry with the installed program's path and the icon; --uninstall undoes it."""
    pkg = tmp_path / "unpacked" / "trajrec"
    (pkg / "_internal").mkdir(parents=True)
    for name in ("trajrec", "trajrec-gui"):
        (pkg / name).write_text("#!/bin/sh\necho 'trajrec 9.9.9'\n")
        (pkg / name).chmod(0o755)
    (pkg / "share" / "applications").mkdir(parents=True)
    shutil.copy(PACKAGING / "trajrec.desktop", pkg / "share" / "applications")
    (pkg / "share" / "icons" / "hicolor" / "scalable" / "apps").mkdir(parents=True)
    shutil.copy(PACKAGING / "trajrec.svg", pkg / "share" / "icons" / "hicolor" / "scalable" / "apps")
    shutil.copy(PACKAGING / "install.sh", pkg / "install.sh")
    prefix = tmp_path / "home with space" / ".local"
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    for _ in range(2):  # a second install replaces the first
        r = subprocess.run([str(pkg / "install.sh"), "--prefix", str(prefix)], capture_output=True, text=True, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
    app = prefix / "opt" / "trajrec"
    assert "Trajectory Recorder 9.9.9 installed in" in r.stdout
    assert (prefix / "bin" / "trajrec").resolve() == (app / "trajrec").resolve()
    assert (prefix / "bin" / "trajrec-gui").resolve() == (app / "trajrec-gui").resolve()
    assert (prefix / "share" / "icons" / "hicolor" / "scalable" / "apps" / "trajrec.svg").is_file()
    desktop = prefix / "share" / "applications" / "trajrec.desktop"
    assert f'Exec="{app}/trajrec-gui"' in desktop.read_text().splitlines()
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(["desktop-file-validate", str(desktop)], capture_output=True, text=True)
        assert v.returncode == 0, v.stdout + v.stderr
    assert not list((prefix / "opt").glob(".trajrec*"))  # no staging leftovers

    r = subprocess.run(
        [str(app / "install.sh"), "--prefix", str(prefix), "--uninstall"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 0
    assert not app.exists() and not desktop.exists() and not (prefix / "bin" / "trajrec").exists()


def test_icon_svg() -> None:
    svg = ET.parse(PACKAGING / "trajrec.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.tag == f"{ns}svg" and svg.get("viewBox") == "0 0 64 64"
    rect = svg.find(f"{ns}rect")
    circle = svg.find(f"{ns}circle")
    assert rect is not None and circle is not None
    assert rect.get("fill") == "#0f6b63" and rect.get("rx") == "14"  # the app's accent, as in app_icon()
    assert circle.get("fill") == "#ffffff" and (circle.get("cx"), circle.get("cy")) == ("32", "32")


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_are_executable_and_parse(name: str) -> None:
    path = PACKAGING / name
    assert os.access(path, os.X_OK), f"{path} is not executable"
    r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert path.read_text().startswith("#!/usr/bin/env bash\n")


def test_package_script() -> None:
    path = ROOT / "scripts" / "package.sh"
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    text = path.read_text()
    for step in (
        "packaging/build.sh",
        "packaging/smoke.sh",
        "packaging/clean_machine.sh",
        "packaging/check_installs.sh",
    ):
        assert step in text


def test_licence_files() -> None:
    licences = PACKAGING / "licenses"
    for name in ("Apache-2.0.txt", "GPL-2.0.txt", "GPL-3.0.txt", "LGPL-2.1.txt", "LGPL-3.0.txt", "rclone-MIT.txt"):
        assert (licences / name).stat().st_size > 1000, name
    notices = (PACKAGING / "THIRD-PARTY-NOTICES.md.in").read_text()
    for word in ("x264", "x265", "GPL", "LGPL-3.0", "rclone", "PortAudio", "@ffmpeg@", "@python_table@"):
        assert word in notices


def test_capture_without_desktop_extra_is_a_one_line_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a lab's core install shows for `trajrec record` and `trajrec gui` (checked for real by
    packaging/check_installs.sh in a fresh venv)."""
    import importlib.util

    from recorder.cli import main

    real = importlib.util.find_spec
    hidden = {"mss", "pynput", "PySide6"}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name in hidden else real(name, *a))
    monkeypatch.setenv("DISPLAY", ":0")
    with pytest.raises(UsageError, match=r"mss, pynput missing\): pip install 'trajectory-recorder\[desktop\]'"):
        record.require_capture()
    assert main(["record", "--consent", "--duration", "1"]) == 2
    assert main(["gui"]) == 2


def test_record_help_names_the_desktop_extra() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "record", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert r.returncode == 0
    assert "pip install 'trajectory-recorder[desktop]'" in " ".join(r.stdout.split())
