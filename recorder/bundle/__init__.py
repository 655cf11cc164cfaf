"""The trajectory bundle: format, sealing, reading and validation."""
