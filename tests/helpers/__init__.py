"""Shared test helpers: real parts (display, microphone, S3 server, proxy), bundle breakers, drivers."""
