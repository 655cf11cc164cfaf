"""The demo: a real recording on this machine, end to end. Run by scripts/demo.sh after setup.

With a display (DISPLAY set) it records this screen (and the default microphone) after asking; without one
it starts a private Xvfb display and a virtual microphone and records a short scripted session on them (a
real terminal, typed commands, a window dragged, a click, spoken narration from espeak-ng). Then, either
way: `trajrec validate --deep`, `trajrec upload` to the embedded store, `trajrec download` into a fresh
folder, validate again, compare byte for byte, and print the summary and where everything is.

Everything runs with a private home under the output folder (settings, upload queue, embedded store,
logs), so the demo never touches the expert's own queue or a lab's store. Everything it starts, it stops,
Ctrl+C included. Exit codes: 0 done, 1 a step failed, 2 usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' harness: Xvfb and the virtual microphone, as the tests start them
from tests.helpers.harness import HarnessError  # noqa: E402

TRAJREC = [sys.executable, "-m", "recorder.cli"]
HEADLESS_TOOLS = ("Xvfb", "xdpyinfo", "xdotool", "xterm", "pulseaudio", "pactl", "paplay", "espeak-ng")
NARRATION = [  # (seconds into the session, words): what the expert says while working
    (0.5, "I am listing the documentation folders."),
    (5.5, "Now I move the terminal out of the way."),
    (10.0, "And check the disk space."),
]


class DemoError(Exception):
    """A step failed: the message says which and why."""


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(args: list[str], env: dict[str, str], what: str, capture: bool = False) -> str:
    """Run one trajrec command, its output shown (or captured); a failure ends the demo with its message."""
    r = subprocess.run(args, env=env, text=True, stdout=subprocess.PIPE if capture else None)
    if r.returncode != 0:
        raise DemoError(f"{what} failed (exit {r.returncode}): {' '.join(args[2:])}")
    return r.stdout or ""


# --- recording -------------------------------------------------------------------------------------------
class Recording:
    """`trajrec record` as a child in its own session: Ctrl+C at the terminal reaches the demo, which stops
    the recording first (SIGINT: it seals) and only then the display and the microphone."""

    def __init__(self, env: dict[str, str], out: Path, seconds: float, audio: bool) -> None:
        args = [*TRAJREC, "record", "--consent", "--duration", str(seconds), "--out", str(out), "--no-queue"]
        args += ["--task-id", "demo", "--title", "Demo: a short terminal session", "--expert", "demo"]
        if not audio:
            args.append("--no-audio")
        self.proc = subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()  # "recording <id> ...": capture runs from here on
        if not line.startswith("recording "):
            rest = self.proc.stderr.read()
            self.proc.wait()
            hint = " (no microphone? run the demo with --no-audio)" if audio and "audio" in line + rest else ""
            raise DemoError(f"trajrec record did not start: {(line + rest).strip()}{hint}")
        print(line.rstrip(), flush=True)

    def marker(self) -> None:
        self.proc.send_signal(signal.SIGUSR2)

    def finish(self, timeout: float = 120) -> Path:
        out, err = self.proc.communicate(timeout=timeout)
        if err.strip():
            print(err.rstrip(), file=sys.stderr)
        if self.proc.returncode != 0 or not out.strip():
            raise DemoError(f"trajrec record failed (exit {self.proc.returncode})")
        return Path(out.strip().splitlines()[-1])

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stopped early (Ctrl+C, a failed step): SIGINT, so the recording is sealed all the same, before the
        display and the microphone go away."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.communicate()


# --- the scripted session (headless) ------------------------------------------------------------------------
def scripted_session(env: dict[str, str], sink: str | None, rec: Recording, workdir: Path) -> None:
    from tests.helpers.desk import Desk, speak

    desk = Desk(env, workdir)
    stop = threading.Event()
    start = time.monotonic()
    narration = (env, sink, NARRATION, workdir, start, stop)
    voice = threading.Thread(target=speak, args=narration, daemon=True) if sink else None
    try:
        if voice is not None:
            voice.start()
        desk.click_in()
        desk.type("ls /usr/share/doc | tail -n 12\n")
        rec.marker()
        time.sleep(max(0.0, start + 5.5 - time.monotonic()))
        desk.drag_to(420, 220)
        desk.click_in()
        time.sleep(max(0.0, start + 10.0 - time.monotonic()))
        desk.type("df -h / | tail -n 1\n")
        rec.marker()
        desk.glide(1200, 680, 0.6)  # out of the way while reading
    finally:
        stop.set()
        if voice is not None:
            voice.join(10)
        desk.close()


@contextlib.contextmanager
def private_desktop(workdir: Path, audio: bool) -> Iterator[tuple[dict[str, str], str | None]]:
    """A private Xvfb display (1280x720) and, with audio, a virtual microphone: their environment and sink."""
    from tests.helpers.harness import virtual_mic, xvfb

    with xvfb(1280, 720) as display, contextlib.ExitStack() as stack:
        env = {**os.environ, **display.env}
        sink = None
        if audio:
            mic = stack.enter_context(virtual_mic(workdir / "pulse"))
            env.update(mic.env)
            sink = mic.sink
        say(f"private display {display.name} (Xvfb 1280x720)" + (", virtual microphone" if audio else ""))
        yield env, sink


# --- after the recording ----------------------------------------------------------------------------------
def check_bundle(bundle: Path, env: dict[str, str], dest: Path) -> None:
    step("Validate the bundle (every frame and sample decoded)")
    run([*TRAJREC, "validate", "--deep", "--progress", "never", str(bundle)], env, "validation")

    step("Upload it to the embedded store (a local S3-compatible server the uploader starts itself)")
    report = json.loads(run([*TRAJREC, "upload", "--json", "--progress", "never", str(bundle)], env, "upload", True))
    rows = [b for b in report["bundles"] if b["session_id"] == bundle.name]
    if not rows or rows[0]["state"] != "done":
        raise DemoError(f"upload did not finish: {rows}")
    url = str(rows[0]["dest"])
    say(f"uploaded and verified at {url}/{bundle.name}")

    step("Download it into a fresh folder, as a lab would, and validate it again")
    run([*TRAJREC, "download", "--match", bundle.name, "--progress", "never", url, str(dest)], env, "download")
    got = dest / bundle.name
    run([*TRAJREC, "validate", "--deep", "--progress", "never", str(got)], env, "validation of the download")

    step("Compare byte for byte")
    files = sorted(p.relative_to(bundle) for p in bundle.rglob("*") if p.is_file())
    if files != sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file()):
        raise DemoError(f"the download holds other files than the recording: see {got}")
    differ = [str(p) for p in files if not filecmp.cmp(bundle / p, got / p, shallow=False)]
    if differ:
        raise DemoError(f"the download differs from the recording: {', '.join(differ)}")
    say(f"{len(files)} files identical")

    step("What was recorded")
    run([*TRAJREC, "info", str(bundle)], env, "info")


def where(bundle: Path, dest: Path, env: dict[str, str]) -> None:
    step("Where everything is")
    rows = [
        ("the bundle", bundle),
        ("its downloaded copy", dest / bundle.name),
        ("the embedded store's files", Path(env["TRAJREC_DATA_DIR"]) / "store"),
        ("the upload queue", Path(env["TRAJREC_DATA_DIR"]) / "uploads.sqlite"),
        ("logs", Path(env["TRAJREC_LOG_DIR"])),
    ]
    for label, path in rows:
        print(f"  {label:28} {path}")
    print(f"\nLook inside: .venv/bin/trajrec info {bundle}   (or open it in Python: trajrec.open(...))")


# --- main --------------------------------------------------------------------------------------------------
def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="scripts/demo.sh",
        description="Record a real session on this machine, then validate, upload to the embedded store, "
        "download, validate again and compare. With DISPLAY set it records this screen (after asking); "
        "without one, a scripted session on a private Xvfb display with a virtual microphone.",
    )
    p.add_argument("out", nargs="?", default="demo", help="output folder (default ./demo)")
    p.add_argument("--seconds", type=float, default=20.0, help="how long to record (default 20)")
    p.add_argument("--no-audio", action="store_true", help="record without a microphone")
    p.add_argument("--yes", action="store_true", help="do not wait for Enter before recording this screen")
    p.add_argument("--headless", action="store_true", help="use a private display even when DISPLAY is set")
    args = p.parse_args(argv)
    if not 5 <= args.seconds <= 600:
        p.error("--seconds must be between 5 and 600")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    out = Path(args.out).resolve()
    home = out / "home"  # the demo's own settings, queue, embedded store and logs
    for d in (out, home / "config", home / "data", home / "logs"):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    run_dir = out / "runs" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.getpid()}"  # this run's scratch and download
    run_dir.mkdir(parents=True, mode=0o700)
    env = {
        **os.environ,
        "TRAJREC_CONFIG_DIR": str(home / "config"),
        "TRAJREC_DATA_DIR": str(home / "data"),
        "TRAJREC_LOG_DIR": str(home / "logs"),
    }
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        env.pop(name, None)  # the embedded store, whatever this shell points at
    headless = args.headless or not os.environ.get("DISPLAY")
    try:
        if headless:
            missing = [t for t in HEADLESS_TOOLS if shutil.which(t) is None]
            if missing:
                raise DemoError(f"missing {', '.join(missing)}: run scripts/setup.sh as root (it installs them)")
            step(f"Record a scripted {args.seconds:g} s session on a private display")
            with private_desktop(run_dir, not args.no_audio) as (desk_env, sink):
                rec_env = {**env, **desk_env}
                with Recording(rec_env, out / "recordings", args.seconds, not args.no_audio) as rec:
                    scripted_session(rec_env, sink, rec, run_dir)
                    bundle = rec.finish()
        else:
            mic = "without a microphone" if args.no_audio else "and the default microphone"
            step(f"Record this screen ({os.environ['DISPLAY']}) {mic} for {args.seconds:g} s")
            say("everything on the screen, every key and click, and what the microphone hears will be recorded")
            if not args.yes:
                input("demo: press Enter to start (Ctrl+C to cancel) ")
            with Recording(env, out / "recordings", args.seconds, not args.no_audio) as rec:
                bundle = rec.finish(timeout=args.seconds + 120)
        say(f"sealed {bundle}")
        check_bundle(bundle, env, run_dir / "downloaded")
        where(bundle, run_dir / "downloaded", env)
        return 0
    except KeyboardInterrupt:
        sealed = sorted((out / "recordings").glob("*/manifest.json"))
        kept = f"; the last recording is sealed in {sealed[-1].parent}" if sealed else ""
        print(f"\ndemo: interrupted; everything it started is stopped{kept}", file=sys.stderr)
        return 130
    except (DemoError, HarnessError, subprocess.TimeoutExpired) as e:
        print(f"demo: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
