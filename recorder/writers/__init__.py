"""Writers for the live session directory: video (MKV), the MCAP log and the voiceover (FLAC)."""
