"""Entry point of the frozen `trajrec-gui` desktop app (PyInstaller script: recorder.app.main:main)."""

import sys

from recorder.app.main import main

if __name__ == "__main__":
    sys.exit(main())
