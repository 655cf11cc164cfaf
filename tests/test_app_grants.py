"""Settings, Uploads: an expert sets the lab's grant service and token in the app, as with `trajrec store set`;
the token is kept out of store.toml and never shown again; the store's own fields stand aside."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from recorder.app.settings import AppSettings


def test_settings_take_a_grant_service_and_keep_the_token_private(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recorder.app.dialogs import SettingsDialog
    from recorder.dirs import uploader_dirs
    from uploader.config import load_config
    from uploader.grants.credential import load_token

    monkeypatch.setenv("TRAJREC_CONFIG_DIR", str(tmp_path / "cfg"))
    monkeypatch.setenv("TRAJREC_KEYRING", "0")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    dialog = SettingsDialog(AppSettings.load())
    qtbot.addWidget(dialog)
    assert not dialog.token.isEnabled() and dialog.bucket.isEnabled()
    dialog.grant_url.setText("https://lab.example:8443/grants")
    assert dialog.token.isEnabled() and not dialog.bucket.isEnabled() and not dialog.embedded.isEnabled()
    dialog.save()
    assert "token" in dialog.error.text() and dialog.result() == 0  # no token yet: said, dialog kept open
    dialog.grant_url.setText("http://lab.example/grants")
    dialog.token.setText("trg_secret_value")
    dialog.save()
    assert "in clear" in dialog.error.text()  # plain http off this machine would send the token in clear
    dialog.grant_url.setText("https://lab.example:8443/grants")
    dialog.save()
    assert dialog.error.text() == "" and dialog.result() == 1
    dirs = uploader_dirs()
    assert load_config(path=dirs.settings).grant_url == "https://lab.example:8443/grants"
    assert "trg_secret_value" not in dirs.settings.read_text()
    assert load_token("https://lab.example:8443/grants", dirs.config) == "trg_secret_value"
    kept = dirs.config / "grant-token.json"
    assert kept.stat().st_mode & 0o777 == 0o600 and json.loads(kept.read_text())
    again = SettingsDialog(AppSettings.load())
    qtbot.addWidget(again)
    assert again.grant_url.text() == "https://lab.example:8443/grants"
    assert again.token.text() == "" and "kept" in again.token.placeholderText()  # never shown again
    again.save()  # saving without retyping keeps the token
    assert again.error.text() == "" and load_token("https://lab.example:8443/grants", dirs.config) == "trg_secret_value"
