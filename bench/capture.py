"""Benchmark `trajrec record` against `ffmpeg -f x11grab ... -preset ultrafast` on the same scripted desktop.

On a fresh Xvfb 1920x1080 display with three real xterms (no window manager), a deterministic script types
commands into the terminals with `xdotool type` (about 10 keys/s), drags and raises the windows, glides the
mouse, pages through `less`, and pauses to "read" for ~2.5 s at a time. While the script runs, both recorders
capture the whole display at 30 fps:

- ours:   `trajrec record --consent --no-audio --fps 30 --duration SECONDS --out DIR`, run through a thin shim
          that calls the same `recorder.cli.main` and, at stop, dumps the screen source's counters (grabs, sent,
          late ticks) and per-thread CPU to a JSON file (`--plain` runs the `trajrec` console script instead,
          without those counters);
- ffmpeg: `ffmpeg -f x11grab -framerate 30 -video_size 1920x1080 -i $DISPLAY -c:v libx264 -preset ultrafast
          -t SECONDS -y out.mp4` (ffmpeg picks yuv444p for x11grab's RGB input; `--ffmpeg-pix-fmt yuv420p`
          forces ours' format).

Two variants (`--variants`): `simultaneous` runs both recorders on the same display in the same run (they
compete for the 2 cores and for the X server); `sequential` runs each alone on a fresh display with the
same script, one after the other. Each process's CPU (user+sys) comes from `os.wait4`, so Python start-up
and sealing are included in ours (the shim also reports the recording phase alone); peak RSS is VmHWM. The
X server's own CPU (it copies every grab) is reported per run, and so is the CPU of processes outside this
benchmark (a busy machine is flagged).

Readability: during each pause the script takes a lossless grab (mss), twice, to make sure the screen
was still; the frame of each video that best matches that instant is compared with it (PSNR over the whole
screen and over each terminal window, SSIM of luma over the windows, and, when `tesseract` is installed,
OCR character agreement with the lossless grab). Crops of the text are written to bench/.cache/capture/.

Every bundle must pass `trajrec validate --deep`; every ffmpeg output must decode with ffprobe. Prints
numbers, asserts nothing about speed.

    .venv/bin/python bench/capture.py [--seconds 60] [--fps 30] [--variants simultaneous,sequential]
                                      [--repeat 1] [--plain] [--ffmpeg-pix-fmt yuv420p] [--no-ocr] [--keep]
                                      [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(__file__).resolve().parent / ".cache" / "capture"
WIDTH, HEIGHT = 1920, 1080
MB = 1_000_000
CLK_TCK = os.sysconf("SC_CLK_TCK")
TARGET_MB_PER_HOUR = 300.0
VARIANTS = ("simultaneous", "sequential")


class BenchError(Exception):
    pass


# --- the shim our recorder runs under (same CLI, plus counters) ------------------------------------
def _thread_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every thread of this process, by native id, with the Python thread's name if any."""
    names = {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}
    out: dict[int, tuple[str, float]] = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        tid = int(task.name)
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        name = names.get(tid, f"native:{comm}")
        out[tid] = (name, (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return out


def trajrec_with_counters(counters_path: str, argv: list[str]) -> int:
    """Run `trajrec ARGV` in this process exactly as the console script does, and write what the CLI does not
    print (the screen source's grabs/sent/late counters, CPU by phase and by thread) to `counters_path`."""
    from recorder import cli
    from recorder.capture.screen import ScreenSource
    from recorder.session import Session

    info: dict[str, Any] = {}
    orig_start, orig_stop = Session.start, Session.stop
    at_start: dict[int, tuple[str, float]] = {}

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def start(self: Session) -> None:
        info["start_called_mono_ns"] = time.monotonic_ns()  # the screen source starts grabbing inside start()
        orig_start(self)
        info["started_mono_ns"] = time.monotonic_ns()
        info["cpu_at_start_s"] = cpu()
        at_start.update(_thread_cpu())

    def stop(self: Session) -> Path:
        info["stop_mono_ns"] = time.monotonic_ns()
        info["cpu_at_stop_s"] = cpu()
        info["vmhwm_at_stop_kb"] = vmhwm_kb("self")
        per_name: dict[str, float] = {}
        for tid, (name, seconds) in _thread_cpu().items():
            before = at_start.get(tid)
            spent = seconds - (before[1] if before is not None and before[0] == name else 0.0)
            per_name[name] = per_name.get(name, 0.0) + spent
        info["threads_recording_cpu_s"] = dict(sorted(per_name.items(), key=lambda kv: -kv[1]))
        screen = next((s for s in self.sources if isinstance(s, ScreenSource)), None)
        try:
            return orig_stop(self)
        finally:
            info["sealed_mono_ns"] = time.monotonic_ns()
            info["cpu_at_sealed_s"] = cpu()
            if screen is not None:
                info["screen"] = {"grabs": screen.grabs, "sent": screen.sent, "late": screen.late}
            info["frames_dropped"] = self.stats.frames_dropped
            Path(counters_path).write_text(json.dumps(info, indent=2) + "\n")

    Session.start = start  # type: ignore[method-assign]
    Session.stop = stop  # type: ignore[method-assign]
    if os.environ.get("TRAJREC_BENCH_GUARDS") == "off":  # bench/guards.py: the same recorder without its guards
        orig_init = Session.__init__

        def without_guards(self: Session, config: Any, *a: Any, **kw: Any) -> None:
            config.elements, config.deny = False, None
            orig_init(self, config, *a, **kw)
            self.input_guard.hold_ns = 0

        Session.__init__ = without_guards  # type: ignore[method-assign]
    code = cli.main(argv)
    if info:
        info["vmhwm_at_exit_kb"] = vmhwm_kb("self")  # the process's peak RSS, everything done but exiting
        Path(counters_path).write_text(json.dumps(info, indent=2) + "\n")
    return code


SHIM = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('bench_capture', {path!r})\n"
    "mod = importlib.util.module_from_spec(spec)\n"
    "sys.modules['bench_capture'] = mod\n"
    "spec.loader.exec_module(mod)\n"
    "sys.exit(mod.trajrec_with_counters(sys.argv[1], sys.argv[2:]))\n"
)


# --- processes ------------------------------------------------------------------------------------
def vmhwm_kb(pid: int | str) -> int | None:
    """Peak RSS of a process's current address space (VmHWM, kB), or None once it is gone.

    Not ru_maxrss from wait4: Linux carries the parent's RSS at fork into the child's ru_maxrss (exec only
    ever raises it), so every child of this benchmark would report at least the benchmark's own RSS."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def machine_busy_s() -> float:
    """CPU-seconds every core of the machine has been busy since boot (all processes), from /proc/stat."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def own_tree_cpu_s() -> float:
    """CPU-seconds of this process, of every child it reaped, and of every live descendant (with what those
    reaped): everything this benchmark runs (Xvfb, the xterms and their shells, xdotool, both recorders)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + reaped.ru_utime + reaped.ru_stime
    procs: dict[int, tuple[int, int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            procs[int(d.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))  # ppid, u+s+cu+cs
    mine = {os.getpid()}
    grew = True
    while grew:
        new = {pid for pid, (ppid, _) in procs.items() if ppid in mine and pid not in mine}
        mine |= new
        grew = bool(new)
    mine.discard(os.getpid())
    return total + sum(procs[pid][1] for pid in mine) / CLK_TCK


def proc_cpu_s(pid: int) -> float:
    """user+sys seconds of a running process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Child:
    """A subprocess reaped by os.wait4 in a thread, so its CPU (rusage) is exact; its peak RSS is VmHWM, read
    every 50 ms while it runs (a high-water mark itself: only a peak in its last 50 ms could be missed)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.cmd = cmd
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        self.launched = time.monotonic()
        self.ready_at: float | None = None
        self.exited: float | None = None
        self.exit_code: int | None = None
        self.rusage: resource.struct_rusage | None = None
        self.peak_rss_kb = 0
        self._reaper = threading.Thread(target=self._reap, name=f"reap-{name}", daemon=True)
        self._reaper.start()
        threading.Thread(target=self._watch_rss, name=f"rss-{name}", daemon=True).start()

    def _watch_rss(self) -> None:
        while self._reaper.is_alive():
            kb = vmhwm_kb(self.proc.pid)
            if kb is not None and self._reaper.is_alive():  # not a reused pid
                self.peak_rss_kb = max(self.peak_rss_kb, kb)
            time.sleep(0.05)

    def _reap(self) -> None:
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.exited = time.monotonic()
        self.rusage = ru
        self.exit_code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = self.exit_code  # Popen must not try to reap it again

    @property
    def running(self) -> bool:
        return self._reaper.is_alive()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for_stderr(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.stderr():
                self.ready_at = time.monotonic()
                return
            if not self.running:
                raise BenchError(f"{self.name} exited {self.exit_code} before starting: {self.stderr()[-800:]}")
            time.sleep(0.01)
        raise BenchError(f"{self.name} did not print {needle!r} within {timeout} s: {self.stderr()[-800:]}")

    def wait(self, timeout: float) -> int:
        self._reaper.join(timeout)
        if self.running:
            self.proc.send_signal(signal.SIGTERM)  # ours seals on SIGTERM; ffmpeg finishes its file
            self._reaper.join(30)
            if self.running:
                self.proc.kill()
                self._reaper.join(10)
            raise BenchError(f"{self.name} did not finish within {timeout:.0f} s: {self.stderr()[-800:]}")
        assert self.exit_code is not None
        return self.exit_code

    def stop(self) -> None:
        """On an error path: end this child (only this one, by pid) if it still runs."""
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
            self._reaper.join(20)
            if self.running:
                self.proc.kill()
                self._reaper.join(5)


def trajrec_cmd() -> list[str]:
    script = Path(sys.executable).parent / "trajrec"
    if script.exists():
        return [str(script)]
    found = shutil.which("trajrec")
    return [found] if found else [sys.executable, "-m", "recorder.cli"]


def run_checked(cmd: Sequence[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(cmd[:3])} ... exited {proc.returncode}: {proc.stderr.strip()[-800:]}")
    return proc.stdout


# --- the desktop and the script -------------------------------------------------------------------
@dataclass(frozen=True)
class Term:
    key: str
    title: str
    geometry: str  # COLSxROWS+X+Y
    args: tuple[str, ...]  # font and colours
    alt: tuple[int, int]  # where a drag takes it (and back again on the next drag)


TERMS = (
    # a modern dark terminal with an anti-aliased font: most of the typing happens here
    Term(
        "A",
        "termA",
        "104x30+48+56",
        ("-fa", "DejaVu Sans Mono", "-fs", "11", "-bg", "#1e1e1e", "-fg", "#d4d4d4", "-cr", "#d4d4d4"),
        (180, 140),
    ),
    # xterm's defaults: black on white, the 6x13 bitmap font, colourful `ls`
    Term("B", "termB", "92x32+1120+80", (), (1260, 330)),
    # a light theme reading a long file in `less`, paged through now and then
    Term(
        "C",
        "termC",
        "100x22+560+660",
        ("-fa", "DejaVu Sans Mono", "-fs", "10", "-bg", "#fdf6e3", "-fg", "#333333"),
        (900, 600),
    ),
)
# at most ~41 keys each, so that typing (~0.1 s a key: xdotool needs --delay 180 for that) ends well before the
# next pause to read
COMMANDS_A = (
    "ls -l /usr/share/doc | head -26",
    "sed -n 1,26p /usr/lib/python3.11/abc.py",
    "python3 -c 'import this' | head -24",
    "head -26 common-licenses/GPL-3",
    "cat /etc/os-release; wc -l /etc/services",
)
COMMANDS_B = (
    "ls --color=always -l /etc | head -28",
    "ls --color=always -C /usr/bin | head -28",
    "ls --color=always -la /usr/lib | head -28",
    "seq 1 28 | sed 's/^/item /'",
)
TYPE_DELAY_MS = 180  # xdotool type measured ~0.1 s per key with this
CYCLE_S = 20.0
BG_RGB = (0x2D, 0x4A, 0x6B)  # a plain blue-grey desktop


@dataclass
class Snapshot:
    kind: str  # "A" or "B": which terminal was just used
    t_ns: int  # monotonic, midpoint of the grab
    image: Any  # BGR uint8 (numpy), lossless
    static: bool  # a second grab 0.3 s later was identical
    pointer: tuple[int, int]
    rects: dict[str, tuple[int, int, int, int]]  # terminal key -> x, y, w, h (clipped to the screen)


class Desktop:
    """Three xterms on a bare X server, driven with XTEST (python-xlib) and `xdotool type`."""

    def __init__(self, display: str, workdir: Path) -> None:
        from Xlib import X  # type: ignore[import-untyped]
        from Xlib import display as xdisplay

        self.name = display
        self.env = {**os.environ, "DISPLAY": display}
        self.X = X
        self.d = xdisplay.Display(display)
        self.root = self.d.screen().root
        self.procs: list[subprocess.Popen[bytes]] = []
        self.windows: dict[str, Any] = {}
        self.pos: dict[str, tuple[int, int]] = {}
        self.home = {t.key: (int(t.geometry.split("+")[1]), int(t.geometry.split("+")[2])) for t in TERMS}
        self.log: list[tuple[float, str]] = []
        cmap = self.d.screen().default_colormap
        pixel = cmap.alloc_color(*(c * 257 for c in BG_RGB)).pixel
        self.root.change_attributes(background_pixel=pixel)
        self.root.clear_area()
        self._xterm_log = open(workdir / "xterm.log", "ab")  # noqa: SIM115 (closed in close())
        term_env = {**self.env, "PS1": r"dev@bench:\w$ ", "HISTFILE": "/dev/null", "LESSHISTFILE": "-", "TERM": "xterm"}
        for t in TERMS:
            cmd = [
                "xterm",
                "-title",
                t.title,
                "-geometry",
                t.geometry,
                "+sb",
                "-xrm",
                "XTerm*cursorBlink: false",
                *t.args,
                "-e",
                "bash",
                "--norc",
                "--noprofile",
                "-i",
            ]
            self.procs.append(
                subprocess.Popen(
                    cmd,
                    env=term_env,
                    cwd="/usr/share",
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=self._xterm_log,
                )
            )
        deadline = time.monotonic() + 15
        while len(self.windows) < len(TERMS):
            if time.monotonic() > deadline:
                raise BenchError(f"xterm windows did not appear within 15 s (have {sorted(self.windows)})")
            for w in self.root.query_tree().children:
                title = w.get_wm_name()
                for t in TERMS:
                    if title == t.title and w.get_attributes().map_state == X.IsViewable:
                        self.windows[t.key] = w
            time.sleep(0.05)
        for key, w in self.windows.items():
            g = w.get_geometry()
            self.pos[key] = (g.x, g.y)
        time.sleep(1.0)  # let bash print its first prompt
        self.type("C", "less -N /usr/share/common-licenses/GPL-3\n")
        self.focus("A")

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with contextlib.suppress(Exception):
            self.d.close()
        self._xterm_log.close()

    # actions
    def note(self, what: str) -> None:
        self.log.append((time.monotonic(), what))

    def rect(self, key: str) -> tuple[int, int, int, int]:
        g = self.windows[key].get_geometry()
        x0, y0 = max(0, g.x), max(0, g.y)
        x1, y1 = min(WIDTH, g.x + g.width + 2 * g.border_width), min(HEIGHT, g.y + g.height + 2 * g.border_width)
        return x0, y0, x1 - x0, y1 - y0

    def pointer(self) -> tuple[int, int]:
        p = self.root.query_pointer()
        return int(p.root_x), int(p.root_y)

    def glide(self, x: int, y: int, seconds: float = 0.4) -> None:
        """Move the pointer to x, y in a straight line at 60 Hz, as a hand would."""
        from Xlib.ext import xtest  # type: ignore[import-untyped]

        x0, y0 = self.pointer()
        steps = max(1, round(seconds * 60))
        for i in range(1, steps + 1):
            xtest.fake_input(self.d, self.X.MotionNotify, x=x0 + (x - x0) * i // steps, y=y0 + (y - y0) * i // steps)
            self.d.sync()
            time.sleep(seconds / steps)

    def raise_(self, key: str) -> None:
        self.windows[key].configure(stack_mode=self.X.Above)
        self.d.sync()

    def focus(self, key: str) -> None:
        self.windows[key].set_input_focus(self.X.RevertToParent, self.X.CurrentTime)
        self.d.sync()

    def drag(self, key: str, seconds: float = 0.8) -> None:
        """Drag a window (pointer on its top edge) between its home and its alternative position."""
        from Xlib.ext import xtest

        term = next(t for t in TERMS if t.key == key)
        x0, y0 = self.pos[key]
        x1, y1 = term.alt if (x0, y0) == self.home[key] else self.home[key]
        self.glide(x0 + 60, y0 + 6, 0.3)
        self.raise_(key)
        steps = max(1, round(seconds * 60))
        for i in range(1, steps + 1):
            x, y = x0 + (x1 - x0) * i // steps, y0 + (y1 - y0) * i // steps
            self.windows[key].configure(x=x, y=y)
            xtest.fake_input(self.d, self.X.MotionNotify, x=x + 60, y=y + 6)
            self.d.sync()
            time.sleep(seconds / steps)
        self.pos[key] = (x1, y1)
        self.note(f"drag {key} to {x1},{y1}")

    def type(self, key: str, text: str) -> None:
        x, y, w, h = self.rect(key)
        self.glide(x + w // 2, y + h // 2, 0.3)
        self.raise_(key)
        self.focus(key)
        self.note(f"type into {key}: {text.strip()}")
        subprocess.run(["xdotool", "type", "--delay", str(TYPE_DELAY_MS), "--", text], env=self.env, check=True)
        self.note(f"typed into {key}")

    def key(self, key: str, keysym: str) -> None:
        self.focus(key)
        self.note(f"key {keysym} in {key}")
        subprocess.run(["xdotool", "key", keysym], env=self.env, check=True)

    def park_pointer(self) -> None:
        self.glide(1860, 1040, 0.3)  # out of every window while reading

    def snapshot(self, kind: str, sct: Any) -> Snapshot:
        import numpy as np

        mon = {"left": 0, "top": 0, "width": WIDTH, "height": HEIGHT}
        t0 = time.monotonic_ns()
        shot = sct.grab(mon)
        t1 = time.monotonic_ns()
        first = np.array(shot, dtype=np.uint8)[:, :, :3].copy()
        time.sleep(0.3)
        again = np.array(sct.grab(mon), dtype=np.uint8)[:, :, :3]
        self.note(f"snapshot {kind}")
        return Snapshot(
            kind,
            (t0 + t1) // 2,
            first,
            bool(np.array_equal(first, again)),
            self.pointer(),
            {k: self.rect(k) for k in self.windows},
        )


def run_script(desk: Desktop, t0: float, seconds: float, snapshots: list[Snapshot]) -> None:
    """The scripted activity, on an absolute timeline from t0 (so every run sees the same thing at the same
    time). Snapshots are only taken while both recorders still record."""
    import mss

    end = t0 + seconds
    last_snap = end - 1.0

    def at(offset: float) -> bool:
        """Sleep until t0 + offset; False once the script is over."""
        target = t0 + offset
        if target >= end:
            return False
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return True

    with mss.MSS(display=desk.name) as sct:
        cycle = 0
        while True:
            base = cycle * CYCLE_S
            if not at(base):
                return
            desk.type("A", COMMANDS_A[cycle % len(COMMANDS_A)] + "\n")  # 0.3 s + <= 4.6 s
            if not at(base + 5.5):
                return
            desk.park_pointer()  # then 2.7 s of reading: still from ~5.8 to 8.5
            if at(base + 7.0) and t0 + base + 7.0 < last_snap:
                snapshots.append(desk.snapshot("A", sct))
            if not at(base + 8.5):
                return
            desk.drag("B")  # 1.1 s
            desk.type("B", COMMANDS_B[cycle % len(COMMANDS_B)] + "\n")  # 0.3 s + <= 4.6 s
            if not at(base + 14.6):
                return
            desk.park_pointer()  # still from ~14.9 to 17.3
            if at(base + 16.0) and t0 + base + 16.0 < last_snap:
                snapshots.append(desk.snapshot("B", sct))
            if not at(base + 17.3):
                return
            desk.drag("C")
            desk.key("C", "space")  # less pages forward
            if not at(base + 19.0):
                return
            desk.key("C", "space")
            cycle += 1


# --- one run --------------------------------------------------------------------------------------
@dataclass
class ToolRun:
    tool: str  # "trajrec" | "ffmpeg"
    variant: str
    wall_s: float = 0.0
    cpu_s: float = 0.0
    maxrss_mb: float = 0.0
    duration_s: float = 0.0  # recorded media time
    frames: int = 0
    dropped: int = 0  # frames lost after the grab (ours: encoder queue full; ffmpeg: drop=)
    missed: int = 0  # grab ticks that never happened (ours: late; ffmpeg: dup=, a copy stands in)
    grabs: int | None = None
    grab_fps: float | None = None
    video_bytes: int = 0
    total_bytes: int = 0
    rec_cpu_s: float | None = None  # ours: recording phase only (start returned .. stop called)
    startup_cpu_s: float | None = None
    seal_cpu_s: float | None = None
    threads_cpu_s: dict[str, float] = field(default_factory=dict)
    xserver_cpu_s: float | None = None  # X server CPU during the run (simultaneous: shared by both)
    background_cpu_s: float | None = None  # CPU of processes outside this benchmark during the run
    path: str = ""
    read: dict[str, Any] = field(default_factory=dict)
    pix_fmt: str = ""

    @property
    def minutes(self) -> float:
        return self.duration_s / 60

    def derived(self) -> dict[str, float | None]:
        return {
            "encoded_fps": self.frames / self.duration_s if self.duration_s else 0.0,
            "cpu_s_per_min": self.cpu_s / self.minutes if self.minutes else 0.0,
            "rec_cpu_s_per_min": self.rec_cpu_s / self.minutes if self.rec_cpu_s is not None else None,
            "video_mb_per_hour": self.video_bytes / MB / self.duration_s * 3600 if self.duration_s else 0.0,
            "total_mb_per_hour": self.total_bytes / MB / self.duration_s * 3600 if self.duration_s else 0.0,
            "xserver_cpu_s_per_min": self.xserver_cpu_s / self.minutes if self.xserver_cpu_s is not None else None,
            "background_cpu_s_per_min": (
                self.background_cpu_s / self.minutes if self.background_cpu_s is not None else None
            ),
        }


@contextlib.contextmanager
def display() -> Iterator[tuple[str, int]]:
    """A fresh Xvfb 1920x1080 (tests/helpers/harness.py's), and its server pid (from the lock file)."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers.harness import xvfb

    with xvfb(WIDTH, HEIGHT) as d:
        pid = int(Path(f"/tmp/.X{d.name.lstrip(':')}-lock").read_text().strip())
        yield d.name, pid


def start_ours(disp: str, args: argparse.Namespace, workdir: Path) -> Child:
    out = workdir / "bundles"
    record = [
        "record",
        "--consent",
        "--no-audio",
        "--fps",
        f"{args.fps:g}",
        "--duration",
        f"{args.seconds:g}",
        "--out",
        str(out),
    ]
    if args.plain:
        cmd = [*trajrec_cmd(), *record]
    else:
        cmd = [
            sys.executable,
            "-c",
            SHIM.format(path=str(Path(__file__).resolve())),
            str(workdir / "counters.json"),
            *record,
        ]
    return Child("trajrec", cmd, {**os.environ, "DISPLAY": disp}, workdir)


def start_ffmpeg(disp: str, args: argparse.Namespace, workdir: Path) -> Child:
    cmd = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-f",
        "x11grab",
        "-framerate",
        f"{args.fps:g}",
        "-video_size",
        f"{WIDTH}x{HEIGHT}",
        "-i",
        disp,
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        *(["-pix_fmt", args.ffmpeg_pix_fmt] if args.ffmpeg_pix_fmt else []),
        "-t",
        f"{args.seconds:g}",
        "-progress",
        str(workdir / "ffmpeg.progress"),
        "-y",
        str(workdir / "out.mp4"),
    ]
    return Child("ffmpeg", cmd, {**os.environ, "DISPLAY": disp}, workdir)


def ffprobe(path: Path) -> dict[str, Any]:
    out = run_checked(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames,pix_fmt,width,height:format=duration",
            "-of",
            "json",
            str(path),
        ]
    )
    doc: dict[str, Any] = json.loads(out)
    return doc


def finish_ours(child: Child, args: argparse.Namespace, workdir: Path, variant: str) -> tuple[ToolRun, dict[str, Any]]:
    code = child.wait(args.seconds + 300)
    if code != 0:
        raise BenchError(f"trajrec record exited {code}: {child.stderr()[-800:]}")
    bundle = Path(child.stdout_path.read_text().strip().splitlines()[-1])
    proc = subprocess.run(
        [*trajrec_cmd(), "validate", "--deep", "--json", "--progress", "never", str(bundle)],
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(proc.stdout)["bundles"][0]
    except (json.JSONDecodeError, KeyError, IndexError) as e:
        raise BenchError(f"trajrec validate --deep exited {proc.returncode}: {proc.stderr[-500:]}") from e
    if proc.returncode != 0 or not report["valid"]:
        raise BenchError(f"{bundle}: trajrec validate --deep failed: {[f['code'] for f in report['findings']]}")
    manifest = json.loads((bundle / "manifest.json").read_bytes())
    st = manifest["stats"]
    assert child.rusage is not None and child.exited is not None
    ru = child.rusage
    run = ToolRun(
        "trajrec",
        variant,
        wall_s=child.exited - child.launched,
        cpu_s=ru.ru_utime + ru.ru_stime,
        maxrss_mb=child.peak_rss_kb * 1024 / MB,
        duration_s=(st["duration_ns"] - st["paused_ns"]) / 1e9,
        frames=st["frames"],
        dropped=st["dropped_frames"],
        video_bytes=(bundle / "screen" / "video.mp4").stat().st_size,
        total_bytes=sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file()),
        path=str(bundle),
        pix_fmt=manifest["streams"]["screen"].get("pix_fmt", "yuv420p"),
    )
    counters: dict[str, Any] = {}
    if not args.plain:
        counters = json.loads((workdir / "counters.json").read_text())
        scr = counters.get("screen", {})
        rec_s = (counters["stop_mono_ns"] - counters["start_called_mono_ns"]) / 1e9
        run.grabs = scr.get("grabs")
        run.missed = scr.get("late", 0)
        run.grab_fps = run.grabs / rec_s if run.grabs is not None and rec_s > 0 else None
        run.rec_cpu_s = counters["cpu_at_stop_s"] - counters["cpu_at_start_s"]
        run.startup_cpu_s = counters["cpu_at_start_s"]
        run.seal_cpu_s = counters["cpu_at_sealed_s"] - counters["cpu_at_stop_s"]
        run.threads_cpu_s = counters["threads_recording_cpu_s"]
        for key in ("vmhwm_at_stop_kb", "vmhwm_at_exit_kb"):  # read inside: what the poll could miss
            if counters.get(key):
                run.maxrss_mb = max(run.maxrss_mb, counters[key] * 1024 / MB)
        if counters.get("frames_dropped", 0) != run.dropped:
            raise BenchError(f"shim saw {counters['frames_dropped']} dropped frames, the manifest {run.dropped}")
    return run, {"manifest_stats": st, "counters": counters, "validate": {"valid": True}}


def finish_ffmpeg(
    child: Child, args: argparse.Namespace, workdir: Path, variant: str
) -> tuple[ToolRun, dict[str, Any]]:
    code = child.wait(args.seconds + 120)
    if code != 0:
        raise BenchError(f"ffmpeg exited {code}: {child.stderr()[-800:]}")
    blocks = (workdir / "ffmpeg.progress").read_text().strip().split("progress=")
    last = dict(line.split("=", 1) for line in blocks[-2].strip().splitlines() if "=" in line)
    out = workdir / "out.mp4"
    probe = ffprobe(out)
    stream = probe["streams"][0]
    frames = int(stream["nb_read_frames"])
    if frames != int(last["frame"]):
        raise BenchError(f"{out}: ffprobe decoded {frames} frames, ffmpeg reported {last['frame']}")
    assert child.rusage is not None and child.exited is not None
    ru = child.rusage
    dup, drop = int(last.get("dup_frames", 0)), int(last.get("drop_frames", 0))
    duration = float(probe["format"]["duration"])
    run = ToolRun(
        "ffmpeg",
        variant,
        wall_s=child.exited - child.launched,
        cpu_s=ru.ru_utime + ru.ru_stime,
        maxrss_mb=child.peak_rss_kb * 1024 / MB,
        duration_s=duration,
        frames=frames,
        dropped=drop,
        missed=dup,
        grabs=frames - dup + drop,
        video_bytes=out.stat().st_size,
        total_bytes=out.stat().st_size,
        path=str(out),
        pix_fmt=stream["pix_fmt"],
    )
    run.grab_fps = run.grabs / duration if run.grabs is not None and duration else None
    return run, {"progress": last, "ffprobe": probe}


@dataclass
class RunResult:
    variant: str
    tools: list[ToolRun]
    snapshots: int
    static_snapshots: int
    log: list[tuple[float, str]]
    extra: dict[str, Any]


def one_run(
    variant: str, tools: Sequence[str], args: argparse.Namespace, workdir: Path, log: Callable[[str], None]
) -> RunResult:
    """One scripted session on a fresh display, recorded by `tools` at the same time."""
    workdir.mkdir(parents=True, exist_ok=True)
    snapshots: list[Snapshot] = []
    children: dict[str, Child] = {}
    with display() as (disp, xpid):
        desk = Desktop(disp, workdir)
        busy0, own0 = machine_busy_s(), own_tree_cpu_s()
        try:
            if "trajrec" in tools:  # Python start-up takes a second: start ours first, ffmpeg once ours records
                children["trajrec"] = start_ours(disp, args, workdir)
                children["trajrec"].wait_for_stderr("recording ", 60)
            if "ffmpeg" in tools:
                children["ffmpeg"] = start_ffmpeg(disp, args, workdir)
                children["ffmpeg"].wait_for_stderr("Output #0", 30)
            t0 = time.monotonic()
            x_cpu0 = proc_cpu_s(xpid)
            log(f"  {variant} [{' + '.join(tools)}] on {disp}: scripted activity for {args.seconds:g} s")
            run_script(desk, t0, args.seconds, snapshots)
            for c in children.values():
                c.wait(args.seconds + 300)  # recording done (ours then seals): the X server's share is over
            x_cpu = proc_cpu_s(xpid) - x_cpu0
            background = (machine_busy_s() - busy0) - (own_tree_cpu_s() - own0)
        except BaseException:
            for c in children.values():
                c.stop()
            raise
        finally:
            desk.close()
    runs: list[ToolRun] = []
    extra: dict[str, Any] = {}
    for name, c in children.items():
        run, more = (finish_ours if name == "trajrec" else finish_ffmpeg)(c, args, workdir, variant)
        run.xserver_cpu_s = x_cpu
        run.background_cpu_s = max(0.0, background)
        extra[name] = more
        runs.append(run)
    starts = {name: c.launched - t0 for name, c in children.items()}
    extra["launched_rel_t0_s"] = starts
    script = [(round(t - t0, 3), what) for t, what in desk.log]
    (workdir / "script.json").write_text(json.dumps(script, indent=1) + "\n")
    for run in runs:
        first_t = ffmpeg_t0(children["ffmpeg"]) if run.tool == "ffmpeg" else None
        run.read = readability(run, snapshots, first_t, workdir, variant, args, log)
    return RunResult(variant, runs, len(snapshots), sum(s.static for s in snapshots), script, extra)


def ffmpeg_t0(child: Child) -> float:
    """Monotonic seconds of ffmpeg's first output frame, approximately: ffmpeg prints `Output #0` once the
    encoder is open, i.e. just after its first grab (the readability matching searches +-1.2 s around it)."""
    assert child.ready_at is not None
    return child.ready_at - 0.05


# --- readability ----------------------------------------------------------------------------------
def psnr(a: Any, b: Any, mask: Any | None = None) -> float:
    import numpy as np

    diff = (a.astype(np.int32) - b.astype(np.int32)) ** 2
    if diff.ndim == 3:
        diff = diff.mean(axis=2)
    mse = float(diff[mask].mean()) if mask is not None else float(diff.mean())
    return 99.0 if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def ssim_luma(a: Any, b: Any) -> float:
    """Mean SSIM (Wang et al. 2004, 11x11 Gaussian, sigma 1.5) of the BT.601 luma of two BGR images."""
    import cv2
    import numpy as np

    ya = cv2.cvtColor(a, cv2.COLOR_BGR2GRAY).astype(np.float64)
    yb = cv2.cvtColor(b, cv2.COLOR_BGR2GRAY).astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(x: Any) -> Any:
        return cv2.GaussianBlur(x, (11, 11), 1.5)

    mu_a, mu_b = blur(ya), blur(yb)
    var_a = blur(ya * ya) - mu_a**2
    var_b = blur(yb * yb) - mu_b**2
    cov = blur(ya * yb) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def ocr(image: Any, workdir: Path) -> str:
    """tesseract's reading of a text crop (grey, inverted when dark, scaled 2x)."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if grey.mean() < 128:
        grey = 255 - grey
    grey = cv2.resize(grey, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    fd, name = tempfile.mkstemp(suffix=".png", dir=workdir)
    os.close(fd)
    try:
        cv2.imwrite(name, grey)
        return run_checked(["tesseract", name, "-", "--psm", "6"])
    finally:
        os.unlink(name)


def text_agreement(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, " ".join(a.split()), " ".join(b.split()), autojunk=False).ratio()


def decoded_frames(
    path: Path, times_s: list[float] | None, offset_s: float, windows: list[tuple[float, float]]
) -> Iterator[tuple[int, float, Any]]:
    """(window index, time, BGR image) for every decoded frame whose time falls in one of `windows`: the i-th frame's
    time is times_s[i] when given (ours: grab times), else offset_s + its pts (ffmpeg)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            if times_s is not None:
                if i >= len(times_s):
                    raise BenchError(f"{path}: more frames than frames.parquet lists")
                t = times_s[i]
            else:
                t = offset_s + (float(frame.time) if frame.time is not None else 0.0)
            for k, (lo, hi) in enumerate(windows):
                if lo <= t <= hi:
                    yield k, t, frame.to_ndarray(format="bgr24")


def readability(
    run: ToolRun,
    snapshots: list[Snapshot],
    ffmpeg_first_t: float | None,
    workdir: Path,
    variant: str,
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Compare the video with the lossless grabs: for each still snapshot, the best-matching frame within
    +-1.2 s (ours: frame times from frames.parquet; ffmpeg: its pts from an estimated start)."""
    import cv2
    import numpy as np

    good = [s for s in snapshots if s.static]
    if not good:
        return {}
    path = Path(run.path)
    if run.tool == "trajrec":
        import pyarrow.parquet as pq

        t_ns = pq.read_table(path / "screen" / "frames.parquet", columns=["t_ns"]).column("t_ns").to_pylist()
        times: list[float] | None = [t / 1e9 for t in t_ns]
        video, offset = path / "screen" / "video.mp4", 0.0
    else:
        assert ffmpeg_first_t is not None
        times, video, offset = None, path, ffmpeg_first_t
    windows = [(s.t_ns / 1e9 - 1.2, s.t_ns / 1e9 + 1.2) for s in good]
    best: list[tuple[float, float, Any]] = [(-1.0, 0.0, None)] * len(good)
    masks = []
    for s in good:
        m = np.ones((HEIGHT, WIDTH), dtype=bool)
        px, py = s.pointer
        m[max(0, py - 8) : py + 40, max(0, px - 8) : px + 40] = False  # ffmpeg draws the pointer, mss does not
        masks.append(m)
    for k, t, image in decoded_frames(video, times, offset, windows):
        if image.shape[:2] != (HEIGHT, WIDTH):
            raise BenchError(f"{video}: decoded {image.shape[1]}x{image.shape[0]}, expected {WIDTH}x{HEIGHT}")
        p = psnr(image, good[k].image, masks[k])
        if p > best[k][0]:
            best[k] = (p, t - good[k].t_ns / 1e9, image)
    per: list[dict[str, Any]] = []
    out_dir = CACHE / variant
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []
    for idx, (s, (p_full, dt, image), mask) in enumerate(zip(good, best, masks, strict=True)):
        if image is None:
            per.append({"snapshot": idx, "kind": s.kind, "matched": False})
            continue
        row: dict[str, Any] = {"snapshot": idx, "kind": s.kind, "matched": True, "dt_s": dt, "psnr_full": p_full}
        for key in ("A", "B"):
            x, y, w, h = s.rects[key]
            crop_l, crop_v = s.image[y : y + h, x : x + w], image[y : y + h, x : x + w]
            row[f"psnr_{key}"] = psnr(crop_v, crop_l, mask[y : y + h, x : x + w])
            row[f"ssim_{key}"] = ssim_luma(crop_v, crop_l)
            if key == s.kind and not args.no_ocr and shutil.which("tesseract"):
                ref, got = ocr(crop_l, workdir), ocr(crop_v, workdir)
                row[f"ocr_{key}"] = text_agreement(got, ref)
            if key == s.kind and idx < 2:  # the first snapshot of each kind: crops for a human to look at
                stem = out_dir / f"{variant}-{s.kind}{idx}"
                cv2.imwrite(f"{stem}-{run.tool}-lossless.png", crop_l)
                cv2.imwrite(f"{stem}-{run.tool}.png", crop_v)
                zx, zy, zw, zh = 0, 0, min(w, 520), min(h, 180)
                panels = []
                for crop, label in ((crop_l, "lossless grab (mss)"), (crop_v, f"{run.tool} video ({run.pix_fmt})")):
                    zoom = cv2.resize(
                        crop[zy : zy + zh, zx : zx + zw], None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST
                    )
                    bar = np.full((26, zoom.shape[1], 3), 255, dtype=np.uint8)
                    cv2.putText(bar, label, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
                    panels += [bar, zoom]
                cv2.imwrite(f"{stem}-{run.tool}-zoom2x-vs-lossless.png", np.vstack(panels))
                saved += [f"{stem}-{run.tool}.png", f"{stem}-{run.tool}-zoom2x-vs-lossless.png"]
        per.append(row)
    matched = [r for r in per if r["matched"]]

    def med(key: str) -> float | None:
        vals = [r[key] for r in matched if key in r]
        return statistics.median(vals) if vals else None

    def med_of_kind(metric: str) -> float | None:  # over the terminal each snapshot was about
        vals = [r[f"{metric}_{r['kind']}"] for r in matched if f"{metric}_{r['kind']}" in r]
        return statistics.median(vals) if vals else None

    summary = {
        "snapshots": len(good),
        "matched": len(matched),
        "psnr_full_db": med("psnr_full"),
        "psnr_text_db": med_of_kind("psnr"),
        "ssim_text": med_of_kind("ssim"),
        "ocr_agreement": med_of_kind("ocr"),
        "per_snapshot": per,
        "pngs": saved,
    }
    log(f"    {run.tool}: readability from {len(matched)}/{len(good)} snapshots; crops in {out_dir}")
    return summary


# --- report ---------------------------------------------------------------------------------------
METRICS = (
    "grab_fps",
    "frames",
    "encoded_fps",
    "dropped",
    "missed",
    "cpu_s_per_min",
    "rec_cpu_s_per_min",
    "maxrss_mb",
    "video_mb_per_hour",
    "total_mb_per_hour",
    "xserver_cpu_s_per_min",
    "psnr_full_db",
    "psnr_text_db",
    "ssim_text",
    "ocr_agreement",
)


def flatten(run: ToolRun) -> dict[str, float | None]:
    d: dict[str, float | None] = {
        "grab_fps": run.grab_fps,
        "frames": float(run.frames),
        "dropped": float(run.dropped),
        "missed": float(run.missed),
        "maxrss_mb": run.maxrss_mb,
        "cpu_s": run.cpu_s,
        "duration_s": run.duration_s,
        **run.derived(),
    }
    for k in ("psnr_full_db", "psnr_text_db", "ssim_text", "ocr_agreement"):
        d[k] = run.read.get(k)
    return d


def median_rows(results: list[RunResult]) -> dict[str, dict[str, dict[str, float | None]]]:
    """variant -> tool -> metric -> median over repeats."""
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for variant in VARIANTS:
        for tool in ("trajrec", "ffmpeg"):
            runs = [flatten(t) for r in results if r.variant == variant for t in r.tools if t.tool == tool]
            if not runs:
                continue
            row: dict[str, float | None] = {}
            for k in runs[0]:
                vals = [v for run in runs if (v := run[k]) is not None]
                row[k] = statistics.median(vals) if vals else None
            out.setdefault(variant, {})[tool] = row
    return out


def fmt_num(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def print_table(results: list[RunResult], args: argparse.Namespace) -> None:
    rows = median_rows(results)
    print(
        f"\nXvfb {WIDTH}x{HEIGHT}, 3 xterms + scripted typing/dragging/paging, {args.seconds:g} s at {args.fps:g} fps, "
        f"{args.repeat} run(s) per variant (medians); {os.cpu_count()} cores\n"
    )
    cols = [
        ("tool", 8, ""),
        ("grab fps", 8, ".2f"),
        ("frames", 7, ".0f"),
        ("enc fps", 7, ".1f"),
        ("dropped", 7, ".0f"),
        ("missed", 6, ".0f"),
        ("CPU-s/min", 9, ".1f"),
        ("rec-only", 8, ".1f"),
        ("RSS MB", 7, ".0f"),
        ("MB/h vid", 8, ".1f"),
        ("MB/h all", 8, ".1f"),
        ("X CPU/min", 9, ".1f"),
        ("PSNR dB", 7, ".1f"),
        ("text dB", 7, ".1f"),
        ("SSIM", 6, ".3f"),
        ("OCR", 5, ".3f"),
    ]
    keys = [
        "",
        "grab_fps",
        "frames",
        "encoded_fps",
        "dropped",
        "missed",
        "cpu_s_per_min",
        "rec_cpu_s_per_min",
        "maxrss_mb",
        "video_mb_per_hour",
        "total_mb_per_hour",
        "xserver_cpu_s_per_min",
        "psnr_full_db",
        "psnr_text_db",
        "ssim_text",
        "ocr_agreement",
    ]
    head = " ".join(f"{name:>{w}}" if i else f"{name:<{w}}" for i, (name, w, _) in enumerate(cols))
    for variant, tools in rows.items():
        print(
            f"{variant}: "
            + (
                "both recorders on one display in the same run (they share 2 cores and the X server)"
                if variant == "simultaneous"
                else "each recorder alone on a fresh display, same script"
            )
        )
        print(head)
        print("-" * len(head))
        for tool, row in tools.items():
            cells = [f"{tool:<8}"] + [
                f"{fmt_num(row[k], spec):>{w}}" for k, (_, w, spec) in zip(keys[1:], cols[1:], strict=True)
            ]
            print(" ".join(cells))
        if "trajrec" in tools and "ffmpeg" in tools:
            ours, ref = tools["trajrec"], tools["ffmpeg"]
            cells = [f"{'ours/ff':<8}"]
            for k, (_, w, _) in zip(keys[1:], cols[1:], strict=True):
                if k in ("dropped", "missed"):
                    cells.append(f"{'':>{w}}")
                elif k == "rec_cpu_s_per_min":  # ffmpeg has no separate phases: its whole run is recording
                    cells.append(f"{ratio(ours[k], ref['cpu_s_per_min']):>{w}}")
                elif k == "xserver_cpu_s_per_min" and variant == "simultaneous":
                    cells.append(f"{'shared':>{w}}")
                else:
                    cells.append(f"{ratio(ours[k], ref[k]):>{w}}")
            print(" ".join(cells))
        loads = {tool: row["background_cpu_s_per_min"] for tool, row in tools.items()}
        worst = max((v for v in loads.values() if v is not None), default=0.0)
        where = "the run" if variant == "simultaneous" else "each tool's run"
        print(
            f"background: processes outside this benchmark used {worst:.1f} CPU-s per minute during {where}"
            + (" -- WARNING: the machine was not quiet, CPU-bound numbers are suspect" if worst > 3 else "")
        )
        print()
    print(
        "grab fps: screen grabs per second (ours: ScreenSource.grabs over the recording phase; ffmpeg: frames - dup +"
    )
    print("  drop over the output duration). frames/enc fps: frames in the video (ours keeps only frames that changed,")
    print("  plus one every 2 s; ffmpeg writes constant 30 fps). dropped: ours = encoder queue full (manifest")
    print("  stats.dropped_frames), ffmpeg = drop=. missed: grab ticks skipped because a grab ran late (ours:")
    print("  ScreenSource.late; ffmpeg: dup=, a duplicate stands in). CPU-s/min: user+sys from wait4 over the whole")
    print("  process (ours: Python start-up and sealing included) per recorded minute; rec-only: ours between")
    print("  Session.start() and stop(); its ratio is to ffmpeg's whole run. RSS: peak (VmHWM). MB/h vid: the video")
    print("  file; all: the whole bundle. X CPU/min: Xvfb's CPU during the run (it copies every grab). PSNR: the")
    print("  best-matching frame vs a lossless grab taken while the screen was still (pointer masked); text dB /")
    print("  SSIM (luma) / OCR (tesseract agreement with the lossless grab) over the terminal just typed into.")
    for variant, tools in rows.items():
        if "trajrec" not in tools:
            continue
        ours = tools["trajrec"]
        print(f"\ntargets ({variant}):")
        print(
            f"  0 dropped frames:           dropped {fmt_num(ours['dropped'], '.0f')}, late grab ticks "
            f"{fmt_num(ours['missed'], '.0f')} -> {'met' if not ours['dropped'] and not ours['missed'] else 'NOT met'}"
        )
        if "ffmpeg" in tools:
            ref = tools["ffmpeg"]
            c, rc = ours["cpu_s_per_min"], ref["cpu_s_per_min"]
            met = c is not None and rc is not None and c <= rc
            print(
                f"  CPU/min <= ffmpeg's:        {fmt_num(c, '.1f')} vs {fmt_num(rc, '.1f')} CPU-s "
                f"({ratio(c, rc)}; recording phase alone {ratio(ours['rec_cpu_s_per_min'], rc)}) -> "
                f"{'met' if met else 'NOT met'}"
            )
        v, a = ours["video_mb_per_hour"], ours["total_mb_per_hour"]
        print(
            f"  < {TARGET_MB_PER_HOUR:g} MB per hour:          video {fmt_num(v, '.1f')}, bundle {fmt_num(a, '.1f')} "
            f"-> {'met' if a is not None and a < TARGET_MB_PER_HOUR else 'NOT met'}"
        )
        line = (
            f"  text readable:              text PSNR {fmt_num(ours['psnr_text_db'], '.1f')} dB, SSIM "
            f"{fmt_num(ours['ssim_text'], '.3f')}, OCR {fmt_num(ours['ocr_agreement'], '.3f')}"
        )
        if "ffmpeg" in tools:
            ref = tools["ffmpeg"]
            line += (
                f" (ffmpeg {fmt_num(ref['psnr_text_db'], '.1f')} dB, {fmt_num(ref['ssim_text'], '.3f')}, "
                f"{fmt_num(ref['ocr_agreement'], '.3f')}); look at the crops in {CACHE / variant}"
            )
        print(line)
    threads = [t for r in results for t in r.tools if t.tool == "trajrec" and t.threads_cpu_s]
    if threads:
        t = threads[0]
        total = sum(t.threads_cpu_s.values())
        print(
            f"\nwhere ours' recording-phase CPU went ({t.variant}, first run; {total:.1f} s over "
            f"{t.duration_s:.0f} s; native = threads Python did not start, i.e. libx264's):"
        )
        for name, sec in t.threads_cpu_s.items():
            if sec >= 0.05:
                print(f"  {name:<28} {sec:7.1f} s  {sec / total * 100:5.1f} %")
        if t.startup_cpu_s is not None and t.seal_cpu_s is not None:
            print(
                f"  (outside the recording phase: start-up {t.startup_cpu_s:.1f} s, stop + seal {t.seal_cpu_s:.1f} s)"
            )


# --- main -----------------------------------------------------------------------------------------
def positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    def conv(text: str) -> Any:
        v = kind(text)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not positive")
        return v

    return conv


def variants(text: str) -> list[str]:
    out = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in out if v not in VARIANTS]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(VARIANTS)} (comma-separated)")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--seconds", type=positive(float), default=60.0, help="length of each recording (60)")
    p.add_argument("--fps", type=positive(float), default=30.0, help="capture rate for both recorders (30)")
    p.add_argument(
        "--variants",
        type=variants,
        default=list(VARIANTS),
        help="simultaneous (same run), sequential (one after the other), or both (default)",
    )
    p.add_argument("--repeat", type=positive(int), default=1, help="runs per variant; medians (1)")
    p.add_argument(
        "--plain",
        action="store_true",
        help="run the `trajrec` console script itself (no grab counters or per-thread CPU)",
    )
    p.add_argument("--ffmpeg-pix-fmt", metavar="FMT", help="add -pix_fmt FMT to ffmpeg (default: ffmpeg's choice)")
    p.add_argument("--no-ocr", action="store_true", help="skip the tesseract legibility check")
    p.add_argument("--keep", action="store_true", help="keep the recordings (in bench/.cache/capture/runs)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the table")
    args = p.parse_args(argv)

    missing = [t for t in ("Xvfb", "xdpyinfo", "xterm", "xdotool", "ffmpeg", "ffprobe") if shutil.which(t) is None]
    if missing:
        print(
            f"bench/capture.py: not found on PATH: {', '.join(missing)} (Debian: apt-get install xvfb x11-utils "
            "xterm xdotool ffmpeg)",
            file=sys.stderr,
        )
        return 2

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    runs_root = CACHE / "runs"
    shutil.rmtree(runs_root, ignore_errors=True)
    results: list[RunResult] = []
    try:
        for r in range(args.repeat):
            for variant in args.variants:
                log(f"run {r + 1}/{args.repeat}, {variant}")
                if variant == "simultaneous":
                    results.append(one_run(variant, ("trajrec", "ffmpeg"), args, runs_root / f"{r}-simultaneous", log))
                else:
                    order = ("trajrec", "ffmpeg") if r % 2 == 0 else ("ffmpeg", "trajrec")
                    parts = [
                        one_run(variant, (tool,), args, runs_root / f"{r}-sequential-{tool}", log) for tool in order
                    ]
                    results.append(
                        RunResult(
                            variant,
                            [t for part in parts for t in part.tools],
                            sum(x.snapshots for x in parts),
                            sum(x.static_snapshots for x in parts),
                            parts[0].log,
                            {x.tools[0].tool: x.extra for x in parts},
                        )
                    )
    except BenchError as e:
        print(f"bench/capture.py: {e}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            for d in runs_root.glob("*/bundles"):
                shutil.rmtree(d, ignore_errors=True)
            for f in runs_root.glob("*/out.mp4"):
                f.unlink()

    doc = {
        "config": {
            "seconds": args.seconds,
            "fps": args.fps,
            "variants": args.variants,
            "repeat": args.repeat,
            "size": f"{WIDTH}x{HEIGHT}",
            "plain": args.plain,
            "ffmpeg_pix_fmt": args.ffmpeg_pix_fmt,
            "cores": os.cpu_count(),
        },
        "medians": median_rows(results),
        "runs": [
            {
                "variant": r.variant,
                "snapshots": r.snapshots,
                "static_snapshots": r.static_snapshots,
                "tools": [t.__dict__ | {"derived": t.derived()} for t in r.tools],
                "extra": r.extra,
                "script": r.log,
            }
            for r in results
        ],
    }
    text = json.dumps(doc, indent=2, default=str) + "\n"
    (CACHE / "last.json").write_text(text)  # every detail of the last run, whichever output was asked for
    if args.json:
        sys.stdout.write(text)
    else:
        print_table(results, args)
        print(
            f"\nall details (per snapshot, per thread, ffmpeg's progress, the script's timeline): {CACHE / 'last.json'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
