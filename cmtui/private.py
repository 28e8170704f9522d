"""Private by default: who may read the mailbox cmtui keeps, and who acted.

cmtui's database holds customers' messages, so the database and its companions (the
lock file, DuckDB's write-ahead log and temp folder, and the ``<db>.cache`` folder of
features and predictions) are created readable by their owner alone: files 0600,
folders 0700, whatever the umask. A database is shared with a team only on purpose,
with ``cmtui db share``: then they are group-readable and -writable (files 0660,
folders 2770 so files made later keep the group). The database file's mode is the
switch: group read and write on it means shared.

Like ssh with its keys, cmtui refuses to open a database, cache or config file that
users outside its owner and group may write, or that another user owns (outside a
shared database's group): someone who can change those files can change the labels
or read what is typed.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
SHARED_FILE, SHARED_DIR = 0o660, 0o2770
COMPANION_SUFFIXES = (".lock", ".wal", ".tmp", ".cache")


class InsecureFile(Exception):
    """A file cmtui will not trust; the message names it and says why, on one line."""


def current_user() -> str:
    """The operating-system account running cmtui (not $USER, which anyone can set)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (some containers)
        return f"uid {uid}"


def is_shared(db_path: Path) -> bool:
    try:
        return stat.S_IMODE(db_path.stat().st_mode) & 0o060 == 0o060
    except OSError:
        return False


def modes_for(db_path: Path) -> tuple[int, int]:
    """(file mode, folder mode) for the database's own files."""
    return (SHARED_FILE, SHARED_DIR) if is_shared(db_path) else (PRIVATE_FILE, PRIVATE_DIR)


@contextlib.contextmanager
def umask_for(db_path: Path) -> Iterator[None]:
    """Files created meanwhile (DuckDB's log and temp files) get the database's modes."""
    previous = os.umask(0o007 if is_shared(db_path) else 0o077)
    try:
        yield
    finally:
        os.umask(previous)


def companions(db_path: Path) -> list[Path]:
    """The database and the files and folders beside it that belong to it."""
    return [db_path, *(db_path.with_name(db_path.name + suffix) for suffix in COMPANION_SUFFIXES)]


def protect(path: Path, db_path: Path) -> None:
    """Give a file or folder of ``db_path`` the database's mode (when this user owns it)."""
    file_mode, dir_mode = modes_for(db_path)
    try:
        info = path.stat()
        if info.st_uid != os.getuid():
            return
        wanted = dir_mode if stat.S_ISDIR(info.st_mode) else file_mode
        if stat.S_IMODE(info.st_mode) != wanted:
            os.chmod(path, wanted)
    except FileNotFoundError:
        return


def protect_cache_file(path: Path) -> None:
    """A file written in ``<db>.cache``, and the folders above it up to that one, get
    the database's modes (also when it is rewritten: a rename makes a new file)."""
    root = next((p for p in path.parents if p.name.endswith(".cache")), None)
    if root is None:
        return
    db_path = root.with_name(root.name[: -len(".cache")])
    protect(path, db_path)
    for parent in path.parents:
        protect(parent, db_path)
        if parent == root:
            break


def write_cache_file(path: Path, write: Callable[[Path], object]) -> None:
    """A file in ``<db>.cache`` written whole or not at all: ``write`` fills a temporary
    beside it (its name ends like ``path``'s, as ``np.savez`` wants), renamed over
    ``path``, which then gets the database's modes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.part{path.suffix}")
    write(tmp)
    tmp.replace(path)
    protect_cache_file(path)


def _walk(path: Path) -> Iterator[Path]:
    if not path.exists():
        return
    yield path
    if path.is_dir() and not path.is_symlink():
        yield from sorted(path.rglob("*"))


def check_database(db_path: Path) -> None:
    """Refuse a database whose files others could change (raises ``InsecureFile``)."""
    shared_gid = db_path.stat().st_gid if is_shared(db_path) else None
    for companion in companions(db_path):
        for path in _walk(companion):
            check_file(path, shared_gid)


def check_file(path: Path, shared_gid: int | None = None) -> None:
    """Refuse a file that users outside its owner and group may write, or that another
    user owns (unless it belongs to a shared database's group and so do we)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise InsecureFile(f"{path}: is a symbolic link; cmtui opens its own files only")
    if info.st_mode & stat.S_IWOTH and not (stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX):
        raise InsecureFile(f"{path}: other users may write it (mode {stat.S_IMODE(info.st_mode):04o}); "
                           f"run: chmod o-w {path}")
    if info.st_uid != os.getuid():
        in_group = shared_gid is not None and info.st_gid == shared_gid and shared_gid in _my_groups()
        if not in_group:
            raise InsecureFile(f"{path}: owned by {_user_name(info.st_uid)}, not by you; cmtui opens another "
                               "user's files only in a shared database (see `cmtui db share`)")


def share(db_path: Path, group: str) -> list[Path]:
    """Make the database, its companions and its folder the group's (read and write,
    setgid folders). Returns what was changed."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise InsecureFile(f"no group {group!r} on this machine") from None
    changed = []
    for path in [db_path.parent, *(p for c in companions(db_path) for p in _walk(c))]:
        os.chown(path, -1, gid)
        os.chmod(path, SHARED_DIR if path.is_dir() else SHARED_FILE)
        changed.append(path)
    return changed


def make_private(db_path: Path) -> list[Path]:
    """Reverse ``share``: the database, its companions and its folder for their owner alone."""
    changed = []
    for path in [db_path.parent, *(p for c in companions(db_path) for p in _walk(c))]:
        os.chmod(path, PRIVATE_DIR if path.is_dir() else PRIVATE_FILE)
        changed.append(path)
    return changed


def _my_groups() -> set[int]:
    return {os.getgid(), *os.getgroups()}


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
