"""Capture sources: screen, input, window context, voiceover. Each stamps on the SessionClock, copies,
and hands the record to the session's bounded queue; nothing slow runs on a capture callback.

Input, window and display-layout sources get their backends from recorder.platform (the layer below) and
take one as an argument in tests; screen (mss) and audio (PortAudio) open their devices themselves."""
