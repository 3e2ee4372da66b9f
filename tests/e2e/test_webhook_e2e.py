"""Webhook mode end to end: the real bot registers its webhook with the fake Bot API and
takes updates as real HTTP posts on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest

from jigaido.core.errors import ConfigError
from jigaido.face.settings import WebhookSettings
from tests.e2e.fakeapi import FakeBotAPI
from tests.e2e.harness import ROOT, START_TIMEOUT, BotProcess, Datagrams

URL = "https://bot.example.org/jigaido/hook"
SECRET = "s3cret_Token-42"
HEADER = "X-Telegram-Bot-Api-Secret-Token"
GROUP = -4001
USER = 501


class WebhookBot(BotProcess):
    """`python -m jigaido run --webhook URL --listen 127.0.0.1:0`; knows where it listens."""

    listener = ""

    async def start(self, *, wait_ready: bool = True) -> None:
        registered = len(self.api.calls_to("setWebhook"))
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "jigaido", "run",
                "--webhook", URL, "--listen", "127.0.0.1:0",
                cwd=ROOT, env=self.env, stdin=asyncio.subprocess.DEVNULL,
                stdout=log, stderr=log,
            )  # fmt: skip
        # The bot listens before it registers, and logs where.
        await self.api.wait_until(
            lambda: len(self.api.calls_to("setWebhook")) > registered or self.exited,
            START_TIMEOUT,
            description="the bot's setWebhook",
        )
        assert not self.exited, f"bot exited at start:\n{self.log}"
        found = re.search(r"listening on (127\.0\.0\.1:\d+) for ", self.log)
        assert found, self.log
        self.listener = f"http://{found.group(1)}/jigaido/hook"


def message_update(update_id: int, text: str, message_id: int) -> dict[str, Any]:
    """A group message update as Telegram posts it."""
    command = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": GROUP, "type": "supergroup", "title": "Webhook group"},
            "from": {"id": USER, "is_bot": False, "first_name": "Ann"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }


def bounty_texts(bot: BotProcess) -> list[str]:
    path = bot.data_dir / str(GROUP) / "group.json"
    if not path.exists():
        return []
    return [b["text"] for b in json.loads(path.read_text(encoding="utf-8"))["bounties"]]


async def test_webhook_answers_only_what_is_done_and_refuses_a_wrong_secret(
    api: FakeBotAPI, tmp_path: Path, notify_socket: tuple[str, Datagrams]
) -> None:
    """setWebhook carries the URL, secret and update types; a wrong or missing secret is
    401 and applies nothing; 200 comes only once the change is on disk and its answer
    sent; a redelivered update is answered again, not applied again; SIGTERM finishes a
    request in flight, refuses new ones and exits 0."""
    notify_path, notify = notify_socket
    bot = WebhookBot(
        api,
        tmp_path / "data",
        tmp_path / "bot.log",
        JIGAIDO_WEBHOOK_SECRET=SECRET,
        NOTIFY_SOCKET=notify_path,
    )
    await bot.start()
    try:
        [call] = api.calls_to("setWebhook")
        assert call.params["url"] == URL
        assert call.params["secret_token"] == SECRET
        # Commands, button presses, and being added to a group (the greeting).
        assert sorted(call.params["allowed_updates"]) == [
            "callback_query",
            "message",
            "my_chat_member",
        ]
        assert not call.params.get("drop_pending_updates")
        assert api.get_updates_calls == 0
        assert not api.calls_to("deleteWebhook"), "the webhook is not removed in webhook mode"
        await notify.wait_for(lambda d: "READY=1" in d, "READY=1")

        async with aiohttp.ClientSession() as http:

            async def post(update: dict[str, Any], secret: str | None = SECRET) -> int:
                headers = {HEADER: secret} if secret is not None else {}
                async with http.post(bot.listener, json=update, headers=headers) as response:
                    return response.status

            assert await post(message_update(1, "/add Wrong secret", 1), "nope") == 401
            assert await post(message_update(2, "/add No secret", 2), None) == 401
            assert await post(message_update(3, "/add Bad", 3), SECRET + "x") == 401

            # The first answer meets a 429: the 200 must wait for the retry to go out.
            api.fail_next_sends(1, 429, retry_after=1)
            good = message_update(10, "/add Good one", 10)
            status = await post(good)
            answered = time.monotonic()
            assert status == 200
            [sent] = api.sent_to(GROUP)
            assert sent.plain == "✅ Added #1: Good one"
            assert sent.reply_to_message_id == 10
            assert sent.time < answered
            assert len(api.calls_to("sendMessage")) == 2, "the 429, then the answer"
            assert bounty_texts(bot) == ["Good one"], "on disk before the 200"

            assert await post(good) == 200
            assert [s.plain for s in api.sent_to(GROUP)] == ["✅ Added #1: Good one"] * 2
            assert bounty_texts(bot) == ["Good one"], "applied once"

            # SIGTERM while a request waits for its answer (held back by a 429).
            api.fail_next_sends(1, 429, retry_after=2)
            attempts = len(api.calls_to("sendMessage"))
            late = asyncio.ensure_future(post(message_update(11, "/add Late", 11)))
            await api.wait_until(
                lambda: len(api.calls_to("sendMessage")) > attempts,
                description="the late answer's first attempt",
            )
            assert bot.proc is not None
            bot.proc.terminate()
            await notify.wait_for(lambda d: "STOPPING=1" in d, "STOPPING=1")
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True)
            ) as fresh:
                try:
                    async with fresh.post(
                        bot.listener,
                        json=message_update(12, "/add After stop", 12),
                        headers={HEADER: SECRET},
                    ) as response:
                        assert response.status == 503
                except aiohttp.ClientConnectionError:
                    pass  # already stopped listening: as good as a refusal
            with anyio.fail_after(15):
                assert await late == 200
    finally:
        status = await bot.stop()
    assert status == 0, bot.log
    assert bounty_texts(bot) == ["Good one", "Late"]
    assert [s.plain for s in api.sent_to(GROUP)][-1] == "✅ Added #2: Late"
    log = bot.log
    assert "Traceback" not in log, log
    assert api.token not in log
    assert SECRET not in log
    assert "jigaido stopped" in log


def test_webhook_settings_check_the_arguments_and_choose_the_secret(tmp_path: Path) -> None:
    """--webhook must be an http(s) URL and --listen HOST:PORT; the secret comes from
    JIGAIDO_WEBHOOK_SECRET, else the webhook_secret credential, else from the token."""
    token = "42:TOKEN"
    ok = WebhookSettings.from_args("https://x.org/hook", "[::1]:8443", {}, token)
    assert (ok.host, ok.port, ok.path) == ("::1", 8443, "/hook")
    assert re.fullmatch(r"[0-9a-f]{64}", ok.secret)
    assert token not in repr(ok)
    assert ok.secret not in repr(ok)
    other = WebhookSettings.from_args("https://x.org/", "127.0.0.1:1", {}, "43:OTHER")
    assert other.secret != ok.secret, "derived from the token"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "webhook_secret").write_text("from-credential\n")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert WebhookSettings.from_args(URL, "h:1", env, token).secret == "from-credential"
    env["JIGAIDO_WEBHOOK_SECRET"] = "from_env"
    assert WebhookSettings.from_args(URL, "h:1", env, token).secret == "from_env"
    bad = [
        ("ftp://x.org/", "h:1", {}),
        ("x.org/hook", "h:1", {}),
        ("https://[::1/", "h:1", {}),
        (URL, "8443", {}),
        (URL, ":8443", {}),
        (URL, "h:http", {}),
        (URL, "h:70000", {}),
        (URL, "h:1", {"JIGAIDO_WEBHOOK_SECRET": "has space"}),
        (URL, "h:1", {"JIGAIDO_WEBHOOK_SECRET": "x" * 257}),
    ]
    for url, listen, bad_env in bad:
        with pytest.raises(ConfigError):
            WebhookSettings.from_args(url, listen, bad_env, token)
