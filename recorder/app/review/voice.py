"""The review's sound: the voiceover played with the video (recorder.app.review.sound), with volume and mute
beside the player's controls. It follows the player: plays while it plays at 1x (muted at other speeds: said in
the tooltip), stops when it stops, starts again where the player jumps or drifts to."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QPushButton, QSlider

from recorder.app.review.player import Player
from recorder.app.review.sound import RESYNC_NS, VoicePlayer


class VoiceControls(QObject):
    def __init__(self, player: Player) -> None:
        super().__init__(player)
        self.player = player
        self.voice: VoicePlayer | None = None
        self.mute_button = QPushButton("Sound on")
        self.mute_button.setCheckable(True)
        self.mute_button.setToolTip("Mute the voiceover (M)")
        self.mute_button.setAccessibleName("Mute")
        self.mute_button.toggled.connect(self._muted)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(100)
        self.volume.setFixedWidth(90)
        self.volume.setToolTip("Voiceover volume")
        self.volume.setAccessibleName("Volume")
        self.volume.valueChanged.connect(self._volume)
        player.bar.insertWidget(player.bar.count() - 2, self.mute_button)
        player.bar.insertWidget(player.bar.count() - 2, self.volume)
        player.playing_changed.connect(self._playing)
        player.position_changed.connect(self._position)
        self.set_source(None, None)

    def set_source(self, bundle: Path | None, voice: tuple[int, int] | None) -> None:
        """The bundle whose voiceover plays ((sample rate, channels), None without one)."""
        self.stop()
        self.voice = None if bundle is None or voice is None else VoicePlayer(bundle, float(voice[0]), voice[1])
        for w in (self.mute_button, self.volume):
            w.setEnabled(self.voice is not None)
        if self.voice is None:
            self.mute_button.setToolTip("This recording has no voiceover")

    def stop(self) -> None:
        if self.voice is not None:
            self.voice.stop()

    def _audible(self) -> bool:
        return self.voice is not None and self.player.is_playing() and self.player.speed() == 1.0

    def _playing(self, playing: bool) -> None:
        if self.voice is None:
            return
        if playing and self._audible():
            self.voice.play(self.player.position(), self.player.bounds()[1])
        else:
            self.voice.stop()

    def _position(self, t_ns: int) -> None:
        voice = self.voice
        if voice is None:
            return
        if not self._audible():
            if voice.playing:
                voice.stop()  # another speed: no sound
            return
        if not voice.playing or abs(voice.position() - t_ns) > RESYNC_NS:  # a seek, a skipped pause, drift
            voice.play(t_ns, self.player.bounds()[1])

    def _muted(self, muted: bool) -> None:
        self.mute_button.setText("Muted" if muted else "Sound on")
        if self.voice is not None:
            self.voice.muted = muted

    def _volume(self, value: int) -> None:
        if self.voice is not None:
            self.voice.volume = value / 100
