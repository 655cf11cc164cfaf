"""Entry point of the frozen `trajrec` command line (PyInstaller script: recorder.cli:main)."""

import sys

from recorder.cli import main

if __name__ == "__main__":
    sys.exit(main())
