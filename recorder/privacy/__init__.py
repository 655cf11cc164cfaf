"""Privacy guards applied before anything is written: password fields, the keys-hidden hotkey, deny-listed windows.

``state`` holds when keys are private (spans of session time, opened and closed by the element source and the
hotkey, from their own threads); ``keys`` is the guard on the log thread that holds each key event back just
long enough to know, then writes it whole or redacted.
"""
