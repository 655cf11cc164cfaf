"""sounddevice on Linux: use the system's PortAudio (apt: libportaudio2), found at run time with
ctypes.util.find_library, instead of bundling the build machine's copy with its libasound and libjack: the ALSA
plugins that reach PulseAudio/PipeWire are loaded from the system and must match the system's libasound.
(Replaces the contrib hook, which bundles the system library on Linux.) Windows/macOS wheels carry PortAudio
in _sounddevice_data, collected as the contrib hook does."""

import pathlib

from PyInstaller.utils.hooks import get_module_file_attribute

binaries = []
datas = []
_data = pathlib.Path(get_module_file_attribute("sounddevice")).parent / "_sounddevice_data" / "portaudio-binaries"
if _data.is_dir():
    binaries = [(str(p), "_sounddevice_data/portaudio-binaries") for p in _data.glob("libportaudio*.*")]
