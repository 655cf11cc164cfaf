"""detect-secrets finds its detectors by walking its plugins package at run time (detect_secrets.core.plugins.util):
the analysis cannot see them, so every submodule is collected."""

from PyInstaller.utils.hooks import collect_submodules

hiddenimports = collect_submodules("detect_secrets")
