"""Who the expert is, kept out of every text field we write: the home folder, the user name, the host name.

Window titles and accessible names carry them as a matter of course (a terminal titled `ana@lab-laptop:
~/thesis`, a file manager showing `/home/ana/data`); so do error notes that name the recordings folder. Each is
replaced before it is written: the home folder by `~`, the user name by `<user>`, the host name by `<host>`
(whole words only, so "ana" leaves "banana" alone; a name shorter than three letters only as `user@host`).
What the expert types and what the screen shows are the trajectory itself and are not touched here (the
secrets scanner of a later release finds what should go).
"""

from __future__ import annotations

import getpass
import os
import re
import socket
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MIN_NAME = 3  # shorter user or host names are too likely to be ordinary words


@dataclass(frozen=True)
class Identity:
    user: str
    host: str
    home: str

    @classmethod
    def here(cls) -> Identity:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = ""
        return cls(user=user, host=socket.gethostname(), home=str(Path.home()))


class Scrubber:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        homes = sorted({h for h in (identity.home, os.path.realpath(identity.home)) if len(h) > 1}, key=len)[::-1]
        self._home = re.compile("|".join(re.escape(h) for h in homes) + r"(?=/|\b|$)") if homes else None
        words = []
        hosts = {identity.host, identity.host.split(".")[0]}
        if identity.user:  # user@host, whatever their lengths
            at = "|".join(re.escape(h) for h in sorted((h for h in hosts if h), key=len, reverse=True))
            words.append((re.compile(rf"(?<![\w.-]){re.escape(identity.user)}@(?:{at})(?![\w-])"), "<user>@<host>"))
        for host in sorted((h for h in hosts if len(h) >= MIN_NAME), key=len, reverse=True):
            words.append((re.compile(rf"(?<![\w.-]){re.escape(host)}(?![\w-])"), "<host>"))
        if len(identity.user) >= MIN_NAME:
            words.append((re.compile(rf"(?<![\w.-]){re.escape(identity.user)}(?![\w-])"), "<user>"))
        self._words = words

    def __call__(self, text: str) -> str:
        if self._home is not None:
            text = self._home.sub("~", text)
        for pattern, replacement in self._words:
            text = pattern.sub(replacement, text)
        return text


@cache
def scrub_here() -> Scrubber:
    """The scrubber for the expert on this machine."""
    return Scrubber(Identity.here())


def scrub(text: str) -> str:
    return scrub_here()(text)
