"""systemd/jigaido.service: what it promises, `systemd-analyze verify` without a warning,
a sandbox scoring 2.0 or better, and the bot's code working under W^X memory."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "jigaido.service"
MAX_EXPOSURE = 2.0
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(
    ANALYZE is None,
    reason="systemd-analyze not found (Debian/Ubuntu: apt-get install systemd)",
)


def settings() -> dict[str, list[str]]:
    """The unit's `[Service]` settings: key -> every value given, in order."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in UNIT.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
        elif section == "[Service]":
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def seconds(value: str) -> float:
    """A systemd time span such as `45`, `45s`, `1min 30s`."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


@pytest.fixture
def testable_unit(tmp_path: Path) -> Path:
    """A copy of the unit whose ExecStart runs this checkout's `jigaido` (verify fails when
    ExecStart's program is missing); no other line differs."""
    script = Path(sys.executable).parent / "jigaido"
    assert script.exists(), f"{script} missing: install the project (pip install -e '.[test]')"
    original = UNIT.read_text(encoding="utf-8").splitlines(keepends=True)
    copy = [
        f"ExecStart={script} run\n" if line.startswith("ExecStart=") else line for line in original
    ]
    assert sum(a != b for a, b in zip(original, copy, strict=True)) == 1
    path = tmp_path / "jigaido.service"
    path.write_text("".join(copy), encoding="utf-8")
    return path


def test_unit_promises_readiness_watchdog_restart_and_a_clean_drain() -> None:
    """Type=notify with a watchdog, restart on failure but not on a configuration error,
    SIGTERM to the bot alone with time to drain, dynamic user, state directory and
    the token as a credential."""
    s = settings()
    assert s["Type"] == ["notify"]
    assert seconds(s["WatchdogSec"][0]) >= 10
    assert s["Restart"] == ["on-failure"]
    assert "2" in s["RestartPreventExitStatus"][0].split()
    assert s["KillMode"] == ["mixed"]
    # The bot drains within ~10 s (8 s for work in flight, then the last answers).
    assert seconds(s["TimeoutStopSec"][0]) >= 30
    assert s["DynamicUser"] == ["yes"]
    assert s["StateDirectory"] == ["jigaido"]
    assert s["LoadCredential"] == ["bot_token:/etc/jigaido/bot_token"]
    assert s["ExecStart"] == ["/opt/jigaido/venv/bin/jigaido run"]
    families = s["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)
    assert s["MemoryDenyWriteExecute"] == ["yes"]


@needs_analyze
def test_systemd_analyze_verify_has_nothing_to_say(testable_unit: Path) -> None:
    """`systemd-analyze verify` passes and prints no warning about the unit (unknown keys
    only warn, so the output is checked, not just the status)."""
    assert ANALYZE is not None
    done = subprocess.run(
        [ANALYZE, "verify", "--man=no", str(testable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    about_us = [line for line in output.splitlines() if "jigaido" in line]
    assert about_us == [], output


@needs_analyze
def test_sandbox_exposure_is_at_most_2(testable_unit: Path) -> None:
    """`systemd-analyze security --offline=yes` rates the sandbox 2.0 or better."""
    assert ANALYZE is not None
    done = subprocess.run(
        [ANALYZE, "security", "--offline=yes", "--no-pager", str(testable_unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    assert found, done.stdout + done.stderr
    exposure = float(found.group(1))
    open_items = [line for line in done.stdout.splitlines() if line.startswith("✗")]
    assert exposure <= MAX_EXPOSURE, "\n".join(open_items)


# What the bot's process does in its first seconds: import everything, parse an update,
# run an event loop with an aiohttp server and client, call a ctypes callback.
_SMOKE = """
import asyncio, ctypes, mmap
import aiogram, aiohttp, pydantic
from aiogram.types import Update
import jigaido.face.service, jigaido.face.webhook, jigaido.face.check

try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
except OSError:
    pass
else:
    raise SystemExit("W^X is not enforced: the test proves nothing")
Update.model_validate({"update_id": 1, "message": {"message_id": 1, "date": 0,
    "chat": {"id": 1, "type": "private"}, "text": "/start"}})
assert ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda x: x + 1)(1) == 2

async def main():
    from aiohttp import web
    app = web.Application()
    app.router.add_get("/", lambda r: web.Response(text="ok"))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/") as r:
        assert await r.text() == "ok"
    await runner.cleanup()

asyncio.run(main())
print("ok")
"""

# Turn on the kernel's W^X enforcement (PR_SET_MDWE, Linux 6.3+), which survives
# execve, then run the smoke test in a fresh interpreter.
_WRAP = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
    sys.exit(77)
os.execv(sys.executable, [sys.executable, "-c", sys.argv[1]])
"""


def test_bot_code_runs_with_write_xor_execute_memory() -> None:
    """MemoryDenyWriteExecute=yes is safe: under the kernel's equivalent (PR_SET_MDWE)
    the bot's dependencies import and parse, serve and fetch over HTTP, and ctypes
    callbacks (libffi closures) still work."""
    done = subprocess.run(
        [sys.executable, "-c", _WRAP, _SMOKE],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode == 77:
        pytest.skip("the kernel has no PR_SET_MDWE (Linux 6.3+ needed)")
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
