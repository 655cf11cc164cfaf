"""Write the licence texts and third-party notices into a built dist/trajrec/LICENSES/.

    notices.py DIST_DIR WORK_DIR       (run by packaging/build.sh with the build venv's Python)

WORK_DIR/bundled-top-level.txt (written by trajrec.spec) names every top-level module and library in the
bundle. Each is traced to the Python distribution that installed it (its licence files are copied into
LICENSES/third-party/<name>-<version>/) or, for a shared library PyInstaller copied from the build machine,
to its Debian package (its copyright file is copied). THIRD-PARTY-NOTICES.md, written from the template
beside this script with the versions filled in, explains the parts whose licences have consequences: FFmpeg
with x264/x265 (GPL), Qt (LGPLv3), rclone (MIT), PortAudio (from the system).
"""

from __future__ import annotations

import importlib.metadata as md
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LICENSE_TEXTS = {  # file in packaging/licenses -> name in LICENSES/
    "Apache-2.0.txt": "Apache-2.0.txt",
    "GPL-2.0.txt": "GPL-2.0.txt",
    "GPL-3.0.txt": "GPL-3.0.txt",
    "LGPL-2.1.txt": "LGPL-2.1.txt",
    "LGPL-3.0.txt": "LGPL-3.0.txt",
    "rclone-MIT.txt": "rclone-MIT.txt",
}
PROJECT = "trajectory-recorder"


def _field(meta: md.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]) if values else ""


def _licence_of(dist: md.Distribution) -> str:
    meta = dist.metadata
    expr = _field(meta, "License-Expression")
    if expr:
        return expr
    short = _field(meta, "License").strip().splitlines()
    if short and len(short[0]) <= 80:
        return short[0]
    classifiers = [c.split("::")[-1].strip() for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    return "; ".join(classifiers) or "see its licence files"


def _licence_files(dist: md.Distribution) -> list[Path]:
    found: list[Path] = []
    for file in dist.files or []:
        parts = file.parts
        if not parts or ".dist-info" not in parts[0]:
            continue
        name = parts[-1].upper()
        if any(word in name for word in ("LICEN", "COPYING", "NOTICE", "AUTHORS")) and not name.endswith(".PYC"):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                found.append(path)
    return found


def python_distributions(tops: set[str]) -> list[md.Distribution]:
    owners = md.packages_distributions()
    names = {dist for top in tops for dist in owners.get(top, [])}
    # Distributions whose only trace in the bundle is a renamed-libraries folder (av.libs, numpy.libs, ...).
    names |= {top[: -len(".libs")] for top in tops if top.endswith(".libs")}
    dists = {}
    for name in names:
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        dists[dist.metadata["Name"].lower()] = dist
    dists.pop(PROJECT, None)
    return sorted(dists.values(), key=lambda d: d.metadata["Name"].lower())


def system_libraries(work_dir: Path) -> list[tuple[str, str]]:
    """(library, Debian package) for the shared libraries PyInstaller copied from the system's library folders
    (WORK_DIR/bundled-binaries.txt, written by trajrec.spec, says where each bundled binary came from)."""
    if shutil.which("dpkg-query") is None:
        return []
    result = []
    for line in (work_dir / "bundled-binaries.txt").read_text().splitlines():
        dest, src = line.split("\t")
        if "/" in dest or not src.startswith(("/lib", "/usr/lib")):
            continue  # in a package's own folder (a wheel's), or not from the system
        owner = subprocess.run(["dpkg-query", "-S", src], capture_output=True, text=True)
        if owner.returncode != 0:  # /lib is a link to /usr/lib on merged-/usr systems
            owner = subprocess.run(["dpkg-query", "-S", str(Path(src).resolve())], capture_output=True, text=True)
        if owner.returncode == 0:
            result.append((dest, owner.stdout.split(":")[0].strip()))
    return sorted(result)


def av_ffmpeg() -> dict[str, str]:
    import av

    meta = av._core.library_meta["libavcodec"]
    return {
        "pyav": av.__version__,
        "ffmpeg": str(av.ffmpeg_version_info),
        "ffmpeg_license": str(meta["license"]),
        "ffmpeg_configuration": str(meta["configuration"]),
    }


def write(dist_dir: Path, work_dir: Path) -> Path:
    internal = dist_dir / "_internal"
    out = dist_dir / "LICENSES"
    if out.exists():
        shutil.rmtree(out)
    (out / "third-party").mkdir(parents=True)
    for source, target in LICENSE_TEXTS.items():
        shutil.copyfile(HERE / "licenses" / source, out / target)
    shutil.copyfile(HERE / "licenses" / "Apache-2.0.txt", out / "LICENSE")  # the project's own licence

    tops = set((work_dir / "bundled-top-level.txt").read_text().split())
    tops |= {p.name for p in internal.iterdir()}
    rows = []
    for dist in python_distributions(tops):
        name, version = dist.metadata["Name"], dist.version
        folder = out / "third-party" / f"{name}-{version}"
        folder.mkdir()
        for path in _licence_files(dist):
            shutil.copyfile(path, folder / path.name)
        if not any(folder.iterdir()):
            folder.rmdir()
        rows.append(f"| {name} | {version} | {_licence_of(dist)} |")

    libs = system_libraries(work_dir)
    for _, package in libs:
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        folder = out / "third-party" / f"debian-{package}"
        if copyright_file.is_file() and not folder.exists():
            folder.mkdir()
            shutil.copyfile(copyright_file, folder / "copyright")
    lib_rows = [f"| {lib} | {package} |" for lib, package in libs]

    import PySide6

    rclone = subprocess.run([str(internal / "bin" / "rclone"), "version"], capture_output=True, text=True)
    rclone_version = rclone.stdout.split()[1] if rclone.returncode == 0 and rclone.stdout else "unknown"
    values = {
        **av_ffmpeg(),
        "qt": PySide6.__version__,
        "rclone": rclone_version,
        "python": sys.version.split()[0],
        "python_table": "\n".join(rows),
        "system_table": "\n".join(lib_rows) or "| (none) | |",
    }
    template = (HERE / "THIRD-PARTY-NOTICES.md.in").read_text(encoding="utf-8")
    text = re.sub(r"@(\w+)@", lambda m: values[m.group(1)], template)
    (out / "THIRD-PARTY-NOTICES.md").write_text(text, encoding="utf-8")
    return out


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(write(Path(sys.argv[1]), Path(sys.argv[2])))
