"""Bundles on local disk: a directory (`DirSource`) or a .tar archive (`TarSource`). Links, device files and
unsafe or duplicate archive members are never opened: they are listed in `unsafe`."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import IO

from trajrec.errors import BundleMemberError
from trajrec.source.base import BundleSource, Member, UnsafeMember, unsafe_name


class DirSource(BundleSource):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.location = str(root)
        self.name = root.resolve().name
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            for name in [*dirnames, *filenames]:
                full = Path(dirpath) / name
                rel = full.relative_to(root).as_posix()
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    self.unsafe.append(UnsafeMember(rel, "symbolic link"))
                    if name in dirnames:
                        dirnames.remove(name)
                elif stat.S_ISREG(st.st_mode):
                    self.members[rel] = Member(rel, st.st_size)
                elif not stat.S_ISDIR(st.st_mode):
                    self.unsafe.append(UnsafeMember(rel, "special file (device, FIFO or socket)"))

    def open(self, path: str) -> IO[bytes]:
        if path not in self.members:
            raise BundleMemberError(self.location, path, "missing")
        return open(self.root / path, "rb")

    def local_path(self, path: str) -> Path | None:
        return self.root / path if path in self.members else None


class TarSource(BundleSource):
    """An uncompressed (or compressed, slower) tar of one bundle, with or without a top folder."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.location = str(path)
        try:
            self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 - closed in close()
            infos = self._tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as e:
            raise BundleMemberError(str(path), "(archive)", f"not a readable tar archive ({e})") from e
        names = [i.name.removeprefix("./") for i in infos if i.name not in (".", "./")]
        tops = {n.split("/", 1)[0] for n in names}
        strip = ""
        if len(tops) == 1 and any("/" in n for n in names):  # one top folder holding the bundle
            strip = next(iter(tops)) + "/"
        self.name = strip.rstrip("/") or path.name.split(".tar")[0].removesuffix(".tgz")
        self._infos: dict[str, tarfile.TarInfo] = {}
        for info in infos:
            raw = info.name.removeprefix("./")
            if raw in ("", "."):
                continue
            reason = unsafe_name(info.name)
            rel = raw[len(strip) :] if strip and raw.startswith(strip) else raw
            if reason is None:
                if info.issym() or info.islnk():
                    reason = f"link to {info.linkname!r}"
                elif info.ischr() or info.isblk() or info.isfifo():
                    reason = "device file or FIFO"
                elif not (info.isreg() or info.isdir()):
                    reason = "not a regular file"
                elif info.isreg() and rel in self._infos:
                    reason = "duplicate member: the archive holds two files at this path"
            if reason is not None:
                self.unsafe.append(UnsafeMember(info.name, reason))
                continue
            if info.isreg():
                self._infos[rel] = info
                self.members[rel] = Member(rel, info.size)

    def open(self, path: str) -> IO[bytes]:
        info = self._infos.get(path)
        if info is None:
            raise BundleMemberError(self.location, path, "missing")
        f = self._tar.extractfile(info)
        if f is None:
            raise BundleMemberError(self.location, path, "not a regular file")
        return f

    def close(self) -> None:
        self._tar.close()
