"""PyInstaller runtime hook of the frozen trajrec: runs before the entry script, in both executables.

- The embedded store runs `rclone serve s3`; the frozen app ships rclone in `<_internal>/bin/rclone` and
  points uploader.server.rclone_binary() at it through TRAJREC_RCLONE (a value already set wins).
- The bootloader puts the bundle's library folder on LD_LIBRARY_PATH (keeping the caller's value in
  LD_LIBRARY_PATH_ORIG). This process has already read it (the dynamic loader reads it once, at start), so
  restoring the caller's value here changes only the programs we start (xdg-open from "Open folder", rclone):
  they must load the system's libraries, not ours.
"""

import os
import sys

_bundle = getattr(sys, "_MEIPASS", None)
if _bundle:
    _rclone = os.path.join(_bundle, "bin", "rclone")
    if os.path.isfile(_rclone):
        os.environ.setdefault("TRAJREC_RCLONE", _rclone)
    if "LD_LIBRARY_PATH_ORIG" in os.environ:
        os.environ["LD_LIBRARY_PATH"] = os.environ.pop("LD_LIBRARY_PATH_ORIG")
    elif os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep)[0] == _bundle:
        os.environ.pop("LD_LIBRARY_PATH", None)
