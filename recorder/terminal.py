"""What reaches the terminal: the consoles every command prints through, which show the control characters of
any string (a session id, a key, a task title, an error from a store) visibly instead of letting them act."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from trajrec.text import visible


class SafeConsole(Console):
    """A rich Console whose strings (printed, in tables, in progress descriptions) lose their power over the
    terminal: control characters other than newline and tab are shown as escapes."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(visible(text, keep="\n\t"), **kwargs)


def console(*, stderr: bool = False, soft_wrap: bool = True) -> SafeConsole:
    """The console a command prints to (stderr for messages and progress, stdout for results)."""
    return SafeConsole(stderr=stderr, highlight=False, soft_wrap=soft_wrap)


def one_line(text: str) -> str:
    """An error or status line with everything from outside shown visibly, newlines included."""
    return visible(text)
