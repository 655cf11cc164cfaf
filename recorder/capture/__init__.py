"""Capture sources: screen, input, window context, voiceover. Each stamps on the SessionClock, copies,
and hands the record to the session's bounded queue; nothing slow runs on a capture callback."""
