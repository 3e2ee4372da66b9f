"""The data directory, made usable and held by one bot at a time.

`jigaido run` checks the directory before anything connects, so a wrong one is one
line at start rather than an error at the first command. It then holds `jigaido.lock`
in it with `flock` for as long as the process lives: a second bot on the same files
would keep its own copy of each chat in memory and write over the first one's saves.
The kernel drops the lock when the process ends, however it ends (SIGKILL included),
so a crash never leaves a stale lock to remove by hand. `jigaido check` only reads
and never takes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from jigaido.core.errors import ConfigError

LOCK_FILE = "jigaido.lock"


class DataDirLock:
    """The exclusive hold on a data directory; it lasts while its file stays open."""

    def __init__(self, root: Path, fd: int) -> None:
        self.root = root
        self._fd: int | None = fd

    def close(self) -> None:
        # The file stays: unlinking it would let a bot that opened it a moment ago
        # lock a deleted file while a third one creates and locks a new one.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def hold(root: Path) -> DataDirLock:
    """Make `root` usable (created 0700, parents too, if missing) and lock it.
    ConfigError, one line saying what to fix, if it cannot be used or another
    jigaido holds it."""
    root = root.absolute()
    prepare(root)
    return lock(root)


def prepare(root: Path) -> None:
    """Create `root` if missing and make sure this user can write in it."""
    try:
        _make_dirs(root)
    except FileExistsError as e:
        it = _it(root, e)
        fix = "move it away" if it == "it" else "check the path"  # never "move /etc away"
        raise ConfigError(_unusable(root, f"{it} is not a directory", fix)) from None
    except OSError as e:
        raise ConfigError(
            _unusable(
                root,
                f"creating {_it(root, e)} failed ({e.strerror})",
                "create it for the user jigaido runs as",
            )
        ) from None
    # os.access and not the mode bits: it also knows ACLs and a read-only mount.
    if not os.access(root, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(
            _unusable(
                root,
                f"this user (uid {os.geteuid()}) cannot write in it",
                "give it to this user (chown)",
            )
        )


def lock(root: Path) -> DataDirLock:
    """Take the lock on `root`, which must exist, without waiting for it."""
    path = root / LOCK_FILE
    try:
        # O_NOFOLLOW: a symlink planted there must not make the bot write elsewhere.
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise ConfigError(
            _unusable(root, f"opening {path} failed ({e.strerror})", "make it writable")
        ) from None
    try:
        # A lock belongs to the open file description, not the process, so this also
        # refuses a second hold from inside the same process.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_pid(fd)
        os.close(fd)
        pid = f" (pid {holder})" if holder else ""
        raise ConfigError(
            f"another jigaido{pid} is already running on {root}; stop it first, "
            "or give this one its own JIGAIDO_DATA_DIR"
        ) from None
    except OSError as e:
        os.close(fd)
        raise ConfigError(
            _unusable(root, f"locking {path} failed ({e.strerror})", "use a local disk")
        ) from None
    # The pid is only for a second bot's message: failing to write it (a full disk)
    # must not stop this one.
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(root, fd)


def _make_dirs(path: Path) -> None:
    """`mkdir -p` with every directory made 0700 (Path.mkdir leaves the parents it
    makes at the default mode), each new entry synced to disk as the store does."""
    if path.is_dir():
        return
    _make_dirs(path.parent)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if path.is_dir():
            return  # made by someone else meanwhile
        raise
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _holder_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # empty: the holder is writing it


def _it(root: Path, error: OSError) -> str:
    """The path an error is about: "it" for the data directory itself."""
    name = error.filename
    return "it" if name is None or Path(name) == root else str(name)


def _unusable(root: Path, reason: str, fix: str) -> str:
    return (
        f"cannot use {root} as the data directory: {reason}; {fix}, "
        "or set JIGAIDO_DATA_DIR to another directory"
    )
