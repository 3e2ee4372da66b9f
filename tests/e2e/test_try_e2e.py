"""`jigaido try` as a newcomer (or a script) uses it: the real bot in a subprocess,
driven through stdin, its chat read from stdout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from jigaido.face.offline import group_id, user_id
from tests.e2e.harness import ROOT

TEAM = group_id("team")
ANN = user_id("Ann")


def _env(**extra: str) -> dict[str, str]:
    """No token, data or systemd settings; a terminal type that has colours, so that
    their absence from a pipe is tested."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("BOT_", "JIGAIDO_", "TELEGRAM_"))
        and k not in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "NO_COLOR")
    }
    return {**clean, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color", **extra}


def try_chat(
    data_dir: Path, *lines: str, cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """`python -m jigaido try --data-dir data_dir` with `lines` typed, to its end; checked
    to exit 0 with nothing on stderr, no traceback and no terminal codes."""
    done = subprocess.run(
        [sys.executable, "-m", "jigaido", "try", "--data-dir", str(data_dir)],
        input="".join(f"{line}\n" for line in lines),
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done
    assert done.stderr == "", done.stderr
    assert "Traceback" not in done.stdout
    assert "\x1b" not in done.stdout  # a pipe is no terminal
    return done


def answers(out: str) -> dict[str, str]:
    """What followed each line typed (keyed by prompt and line), up to the next prompt."""
    result: dict[str, str] = {}
    key = None
    for line in out.splitlines():
        if "> " in line and line.split("> ", 1)[0].endswith(("DM", '"')):
            key = line
            result[key] = ""
        elif key is not None:
            result[key] += line + "\n"
    return result


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_newcomer_adds_and_lists(tmp_path: Path) -> None:
    """The chat starts with the two-line hint; a bounty added is in the list, as a phone
    shows it (HTML as text, the link shown, nothing escaped twice)."""
    add = "/add Fix the <b>login</b> page https://example.com/issues/1 2031-05-02"
    out = try_chat(tmp_path / "data", add, "/bounty", cwd=tmp_path).stdout
    hint = out.splitlines()[:2]
    assert hint[0].startswith('jigaido try: the real bot, offline. You are Ann in group "team"')
    assert ":help" in hint[1]
    assert "Ctrl-D" in hint[1]
    said = answers(out)
    assert said[f'Ann @ group "team"> {add}'].startswith(
        "Jigaido, replying to Ann:\n  ✅ Added #1: Fix the <b>login</b> page\n"
    )
    listed = said['Ann @ group "team"> /bounty']
    assert "  #1 Fix the <b>login</b> page\n" in listed
    assert "  🔗 https://example.com/issues/1\n" in listed
    assert "  📅 2031-05-02\n" in listed
    assert out.rstrip().splitlines()[-1].startswith("Bye! Everything is saved in ")
    group = read_json(tmp_path / "data" / str(TEAM) / "group.json")
    assert group["bounties"][0]["text"] == "Fix the <b>login</b> page"
    assert group["bounties"][0]["created_by_user_id"] == ANN


def test_another_person_may_not_delete_the_creators_bounty(tmp_path: Path) -> None:
    """`:as Bob` is someone else: Bob's /delete of Ann's bounty is refused and changes
    nothing; Ann's goes through."""
    out = try_chat(
        tmp_path / "data",
        "/add Write the release notes",
        ":as Bob",
        "/delete 1",
        "/bounty",
        ":as Ann",
        "/delete 1",
        cwd=tmp_path,
    ).stdout
    said = answers(out)
    assert f"You are Bob now (user id {user_id('Bob')})." in said['Ann @ group "team"> :as Bob']
    refused = said['Bob @ group "team"> /delete 1']
    assert refused.startswith("Jigaido, replying to Bob:\n  ⚠️ ")
    assert "#1 Write the release notes" in said['Bob @ group "team"> /bounty']
    assert "🗑 Deleted #1" in said['Ann @ group "team"> /delete 1']


def test_admin_makes_the_person_an_admin_at_once(tmp_path: Path) -> None:
    """Nobody is an admin at first; `:admin` makes the person one, as getChatAdministrators
    then reports, so Bob may delete Ann's bounty; `:admin` again takes it back."""
    out = try_chat(
        tmp_path / "data",
        "/add Ann's thing",
        "/add Ann's other thing",
        ":as Bob",
        ":admin",
        "/delete 1",
        ":admin",
        "/delete 2",
        cwd=tmp_path,
    ).stdout
    said = answers(out)
    assert 'Bob is an admin of group "team".' in said['Bob @ group "team"> :admin']
    assert "🗑 Deleted #1" in said['Bob (admin) @ group "team"> /delete 1']
    assert "no longer an admin" in said['Bob (admin) @ group "team"> :admin']
    assert "⚠️ " in said['Bob @ group "team"> /delete 2']


def test_groups_and_private_chats_are_isolated(tmp_path: Path) -> None:
    """A second group sees none of the first one's bounties and cannot track them; the
    private chat shows the person's own; back in the first group, its list is as left."""
    out = try_chat(
        tmp_path / "data",
        "/add Team thing",
        ":group other",
        "/bounty",
        "/track 1",
        ":dm",
        "/add Renew passport",
        "/bounty",
        ":group team",
        "/bounty",
        cwd=tmp_path,
    ).stdout
    said = answers(out)
    other = group_id("other")
    moved = said['Ann @ group "team"> :group other']
    assert f'You are in group "other" now (chat id {other};' in moved
    assert "No bounties yet" in said['Ann @ group "other"> /bounty']
    assert "There is no bounty #1 here" in said['Ann @ group "other"> /track 1']
    assert "private chat" in said['Ann @ group "other"> :dm']
    mine = said["Ann @ DM> /bounty"]
    assert mine.startswith("Jigaido:\n")  # no reply quote in a private chat
    assert "#1 Renew passport" in mine
    assert "Team thing" not in mine
    team = said['Ann @ group "team"> /bounty']
    assert "#1 Team thing" in team
    assert "Renew passport" not in team
    data = tmp_path / "data"
    assert read_json(data / str(ANN) / "user.json")["bounties"][0]["text"] == "Renew passport"
    assert (
        not (data / str(other) / "group.json").exists()
        or not read_json(data / str(other) / "group.json")["bounties"]
    )


def test_the_data_is_kept_for_the_next_time(tmp_path: Path) -> None:
    """Leaving (end of input) saves everything: the next `jigaido try` lists it, the
    same names are the same people, and new commands are applied, not taken for old ones."""
    data = tmp_path / "data"
    try_chat(data, "/add First", ":as Bob", "/add Second", "/track 1", cwd=tmp_path)
    out = try_chat(data, "/bounty", ":as bob", "/my", "/add Third", cwd=tmp_path).stdout
    said = answers(out)
    listed = said['Ann @ group "team"> /bounty']
    assert "#1 First" in listed
    assert "#2 Second" in listed
    assert "#1 First" in said['bob @ group "team"> /my']  # "bob" is the Bob of last time
    assert "✅ Added #3: Third" in said['bob @ group "team"> /add Third']


def test_a_bad_meta_command_gets_its_usage(tmp_path: Path) -> None:
    """A meta-command missing its name or given one it does not take answers its usage;
    an unknown one the list of them; the chat goes on and exits 0."""
    out = try_chat(
        tmp_path / "data", ":group", ":as", ":dm now", ":frobnicate", "/bounty", cwd=tmp_path
    ).stdout
    said = answers(out)
    assert said['Ann @ group "team"> :group'].startswith("Usage: :group NAME ")
    assert said['Ann @ group "team"> :as'].startswith("Usage: :as NAME ")
    assert said['Ann @ group "team"> :dm now'].startswith("Usage: :dm ")
    assert said['Ann @ group "team"> :frobnicate'].startswith(
        "There is no :frobnicate. These are: :group NAME, :dm, :as NAME"
    )
    assert "No bounties yet" in said['Ann @ group "team"> /bounty']


def test_commands_for_other_bots_and_chatter_get_no_answer(tmp_path: Path) -> None:
    """The router's command filter is the real one: /cmd@jigaido_try_bot is answered,
    /cmd@other_bot and plain text in a group are not (and the chat says so)."""
    out = try_chat(
        tmp_path / "data",
        "/bounty@other_bot",
        "hello everyone",
        "/bounty@jigaido_try_bot",
        ":help",
        ":quit",
        "/bounty",
        cwd=tmp_path,
    ).stdout
    said = answers(out)
    assert said['Ann @ group "team"> /bounty@other_bot'].startswith("(no answer")
    assert said['Ann @ group "team"> hello everyone'].startswith("(no answer")
    assert "No bounties yet" in said['Ann @ group "team"> /bounty@jigaido_try_bot']
    assert ":as NAME" in said['Ann @ group "team"> :help']
    assert 'Ann @ group "team"> /bounty' not in said  # :quit left before it


def test_a_bad_time_zone_is_one_line_and_status_2(tmp_path: Path) -> None:
    """JIGAIDO_TZ is read as `run` reads it: a bad one is refused before the chat starts."""
    done = subprocess.run(
        [sys.executable, "-m", "jigaido", "try", "--data-dir", str(tmp_path / "data")],
        input="/bounty\n",
        cwd=tmp_path,
        env=_env(JIGAIDO_TZ="Mars/Olympus"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr == "jigaido: JIGAIDO_TZ='Mars/Olympus' is not a known time zone\n"
    assert done.stdout == ""


@asynccontextmanager
async def running_chat(data_dir: Path, cwd: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "jigaido", "try", "--data-dir", str(data_dir),
        cwd=cwd, env=_env(), stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def read_until(stream: asyncio.StreamReader, wanted: str) -> str:
    seen = ""
    with anyio.fail_after(30):
        while wanted not in seen:
            line = await stream.readline()
            assert line, f"output ended before {wanted!r}:\n{seen}"
            seen += line.decode()
    return seen


async def test_ctrl_c_leaves_cleanly_with_everything_saved(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) while the chat waits for a line leaves with status 0, the answered
    command saved; meanwhile a second `jigaido try` on the same data is refused."""
    data = tmp_path / "data"
    async with running_chat(data, tmp_path) as chat:
        assert chat.stdin is not None
        assert chat.stdout is not None
        assert chat.stderr is not None
        chat.stdin.write(b"/add Saved before Ctrl-C\n")
        await chat.stdin.drain()
        await read_until(chat.stdout, "✅ Added #1: Saved before Ctrl-C")

        second = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "jigaido", "try", "--data-dir", str(data)],
            input="",
            cwd=tmp_path,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 2
        assert second.stderr.startswith(f"jigaido: another jigaido (pid {chat.pid}) is already")
        assert second.stderr.count("\n") == 1

        chat.send_signal(signal.SIGINT)
        with anyio.fail_after(20):
            rest = (await chat.stdout.read()).decode()
            status = await chat.wait()
        errors = (await chat.stderr.read()).decode()
    assert status == 0, errors
    assert errors == ""
    assert "Bye! Everything is saved in" in rest
    group = read_json(data / str(TEAM) / "group.json")
    assert [b["text"] for b in group["bounties"]] == ["Saved before Ctrl-C"]
