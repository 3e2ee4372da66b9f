"""The terminal side of `jigaido try`: reading what the person types, printing what the
bot shows, and the texts that explain the chat.

It works the same on a terminal, a dumb terminal and a pipe (so a script can drive
it): terminal styles only on a terminal that has them, line editing only where the
`readline` module is there to give it, a flush after every line. From a pipe each line
read is printed after its prompt, so the output reads like the chat it was.

Standard library only: `jigaido try` prints its first lines before aiogram's slow
import.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import termios
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

FIRST_PERSON = "Ann"
FIRST_GROUP = "team"

# One line each, as `:help` lists them and a wrong use is answered.
USAGE = {
    "group": ":group NAME   talk in the group NAME (made the first time), e.g. :group team",
    "dm": ":dm           talk with the bot in private: your personal bounties",
    "as": ":as NAME      be someone else, e.g. :as Bob (to see who may change what)",
    "admin": ":admin        make yourself an admin of this group, or no longer one",
    "help": ":help         this list and a short tour",
    "quit": ":quit         leave (so does Ctrl-D); everything is saved",
}

TOUR = """\
When the bot shows buttons, listed as [1] Track  [2] Claim, type a number to press one.
A short tour:
  /add Fix the login page friday   add a bounty to this group
  /bounty                          the group's list
  :as Bob   then  /delete 1        Bob may not: only its creator may, or an admin
  :admin    then  /delete 1        Bob, made an admin of the group, may
  /track 1  then  /my              Bob tracks it now
  :group other  then  /bounty      another group sees none of it
  :dm  then  /add Renew passport   a personal bounty, in Bob's private chat"""


def hint(data_dir: Path) -> str:
    """The two lines `jigaido try` starts with."""
    return (
        f'jigaido try: the real bot, offline. You are {FIRST_PERSON} in group "{FIRST_GROUP}"; '
        f"data kept in {data_dir}/.\n"
        "/help for the bot's commands; :help to change group, person or chat; Ctrl-D to leave."
    )


def help_text() -> str:
    lines = ["Lines starting with / go to the bot; lines starting with : are for this chat:"]
    lines += [f"  {usage}" for usage in USAGE.values()]
    return "\n".join([*lines, TOUR])


def usage(name: str) -> str:
    return f"Usage: {USAGE[name]}"


def unknown(name: str) -> str:
    known = ", ".join(u.split("   ")[0].strip() for u in USAGE.values())
    return f"There is no :{name}. These are: {known}."


class Terminal:
    """Lines in and out, for a person at a terminal or for a script."""

    def __init__(self, stdin: TextIO, stdout: TextIO, env: Mapping[str, str]) -> None:
        self.stdin = stdin
        self.stdout = stdout
        term = env.get("TERM", "")
        capable = term not in ("", "dumb")
        in_tty, out_tty = _isatty(stdin), _isatty(stdout)
        self.ansi = out_tty and capable and "NO_COLOR" not in env
        self.editing = in_tty and out_tty and capable  # input(), with readline's editing
        self.echo = not in_tty  # nobody sees what a pipe typed: print it after its prompt
        self._prompt: str | None = None  # on screen while a line is being read
        self._saved = _tty_state(stdin) if self.editing else None
        self._readline = False
        if self.editing:
            with contextlib.suppress(ImportError):
                importlib.import_module("readline")  # input() then edits lines, with history
                self._readline = True

    def say(self, text: str) -> None:
        """Print `text`, then flush: a script reading the output sees it at once."""
        prompt = self._prompt if self._prompt is not None and not self.echo else None
        if prompt is not None:
            text = "\n" + text  # something came while the person was typing: a line of its own
        self.stdout.write(text + "\n")
        if prompt is not None:
            self.stdout.write(self._strip_markers(prompt))
        self.stdout.flush()

    def note(self, text: str) -> None:
        """A remark of the terminal's own, not the bot's: in brackets, dimmed."""
        self.say(self.dim(f"({text})"))

    def bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[22m" if self.ansi else text

    def dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[22m" if self.ansi else text

    def prompt_style(self, text: str) -> str:
        """`text` bold, in a form readline measures right (its styles marked invisible)."""
        if not self.ansi:
            return text
        if self._readline:
            return f"\x01\x1b[1m\x02{text}\x01\x1b[22m\x02"
        return self.bold(text)

    async def read(self, prompt: str) -> str | None:
        """The next line typed, without its line end; None at the end of input. Read in
        a thread of its own that nobody waits for, so that Ctrl-C never waits for Enter."""
        loop = asyncio.get_running_loop()
        line: asyncio.Future[str | None] = loop.create_future()

        def deliver(result: str | None) -> None:
            if not line.done():
                line.set_result(result)

        def work() -> None:
            result = self._read_sync(prompt)
            with contextlib.suppress(RuntimeError):  # the loop is gone: nobody is waiting
                loop.call_soon_threadsafe(deliver, result)

        self._prompt = prompt
        threading.Thread(target=work, name="jigaido-try-input", daemon=True).start()
        try:
            return await line
        finally:
            self._prompt = None

    def close(self) -> None:
        """Put the terminal back as it was, in case a read was cut short by Ctrl-C."""
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError, ValueError):
                termios.tcsetattr(self.stdin.fileno(), termios.TCSADRAIN, self._saved)

    def _read_sync(self, prompt: str) -> str | None:
        try:
            if self.editing:
                return input(prompt)
            if not self.echo:
                self.stdout.write(self._strip_markers(prompt))
                self.stdout.flush()
            raw = self.stdin.readline()
        except EOFError:
            return None
        except (OSError, ValueError):  # stdin closed under us
            return None
        if not raw:
            return None
        line = raw.rstrip("\r\n")
        if self.echo:
            self.stdout.write(f"{self._strip_markers(prompt)}{line}\n")
            self.stdout.flush()
        return line

    @staticmethod
    def _strip_markers(prompt: str) -> str:
        """The prompt without readline's invisible-text markers, for a plain write."""
        return prompt.replace("\x01", "").replace("\x02", "")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def _tty_state(stream: TextIO) -> list[Any] | None:
    try:
        return termios.tcgetattr(stream.fileno())
    except (termios.error, OSError, ValueError):
        return None
