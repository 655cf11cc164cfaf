"""Data quality of bundles: the voiceover's speech and level, per-bundle measurements, a lab's policy, reports."""
