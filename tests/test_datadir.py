"""The data directory: made if missing, refused if unusable, held by one bot at a time."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from jigaido.core.errors import ConfigError
from jigaido.shell.datadir import LOCK_FILE, hold


def refusal(root: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        hold(root)
    message = str(caught.value)
    assert "\n" not in message
    return message


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_missing_directory_is_made_0700_with_its_parents(tmp_path: Path) -> None:
    """A missing data directory and its missing parents are created, each 0700."""
    root = tmp_path / "a" / "b" / "data"
    with hold(root) as held:
        assert held.root == root
        for path in (tmp_path / "a", tmp_path / "a" / "b", root):
            assert path.is_dir()
            assert mode(path) == 0o700, path


def test_a_relative_directory_is_named_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative data directory (the default ./data) is resolved against the working
    directory, so messages name it in full."""
    monkeypatch.chdir(tmp_path)
    with hold(Path("data")) as held:
        assert held.root == tmp_path / "data"


def test_a_regular_file_is_refused(tmp_path: Path) -> None:
    """A data directory that is a file, or lies under one, is refused naming the file."""
    file = tmp_path / "data"
    file.write_text("")
    assert refusal(file) == (
        f"cannot use {file} as the data directory: it is not a directory; move it away, "
        "or set JIGAIDO_DATA_DIR to another directory"
    )
    assert refusal(file / "inner") == (
        f"cannot use {file / 'inner'} as the data directory: {file} is not a directory; "
        "check the path, or set JIGAIDO_DATA_DIR to another directory"
    )
    assert file.read_text() == "", "the file is left alone"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a read-only directory")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    """A directory this user cannot write in is refused, saying so and how to fix it."""
    root = tmp_path / "data"
    root.mkdir(mode=0o500)
    try:
        message = refusal(root)
    finally:
        root.chmod(0o700)
    assert message.startswith(f"cannot use {root} as the data directory: this user (uid ")
    assert "cannot write in it; give it to this user (chown)" in message


@pytest.mark.parametrize("root", ["/proc", "/proc/jigaido-test/data"])
def test_a_directory_under_proc_is_refused(root: str) -> None:
    """A path under /proc cannot hold files, whoever runs the bot (root too)."""
    assert refusal(Path(root)).startswith(f"cannot use {root} as the data directory: ")


def test_a_second_hold_is_refused_naming_the_holder_until_the_first_is_closed(
    tmp_path: Path,
) -> None:
    """While the directory is held, a second hold (another open file description, as a
    second process would have) is refused with the holder's pid; after close it works."""
    root = tmp_path / "data"
    first = hold(root)
    lock_file = root / LOCK_FILE
    assert lock_file.read_text() == f"{os.getpid()}\n"
    assert mode(lock_file) == 0o600
    assert refusal(root) == (
        f"another jigaido (pid {os.getpid()}) is already running on {root}; "
        "stop it first, or give this one its own JIGAIDO_DATA_DIR"
    )
    first.close()
    first.close()  # closing twice is harmless
    with hold(root):
        assert "already running" in refusal(root)
    hold(root).close()


def test_an_empty_lock_file_still_refuses_without_a_pid(tmp_path: Path) -> None:
    """A holder that has not written its pid yet still keeps a second one out."""
    root = tmp_path / "data"
    with hold(root):
        (root / LOCK_FILE).write_text("")
        assert refusal(root).startswith(f"another jigaido is already running on {root};")


def test_a_symlink_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    """jigaido.lock as a symlink is refused rather than written through."""
    root = tmp_path / "data"
    root.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("keep")
    (root / LOCK_FILE).symlink_to(elsewhere)
    assert f"opening {root / LOCK_FILE} failed" in refusal(root)
    assert elsewhere.read_text() == "keep"
