"""Atomic writes: build the output under a temporary name beside the target, then rename.

A crash or an error mid-write never leaves a half-written output behind, and
never removes what was at the target before:

* one file: :func:`atomic_path`; one folder (a Zarr array): :func:`atomic_dir`;
* several files that belong together (a skeleton and its overlay):
  :func:`atomic_files`, which puts all of them in place or none, restoring
  what was there if putting them in place fails half-way, and refuses to
  replace a file that changed since the caller looked at it (another run
  writing the same folder).

Temporary names carry the host and process id
(``.NAME.skelkit-HOST-PID.XXXX.tmp``), so :func:`remove_stale` can tell the
leftovers of a killed process (SIGKILL cannot be caught) from the work in
progress of a live one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

from ..errors import SkelkitError


#: Temporary files and folders this process has made and not yet renamed or removed.
_LIVE: set = set()


def remove_live() -> None:
    """Remove every temporary file and folder this process still has (on Ctrl-C or SIGTERM, before exiting).

    A task still running in a worker thread may write into a temporary folder
    after the unwinding removed it; this second sweep, right before the
    process exits, catches that.
    """
    for p in sorted(_LIVE, key=lambda q: len(str(q)), reverse=True):
        remove_tree(p)
    _LIVE.clear()


def _tag() -> str:
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
    return f"skelkit-{host}-{os.getpid()}"


def scratch_name(hidden: bool = True) -> str:
    """Prefix of a chunked run's scratch folder (carries host and process id, see :func:`remove_stale`)."""
    return f"{'.' if hidden else ''}{_tag()}.chunked."


_STALE = re.compile(r"^\.(?:.*\.)?skelkit-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)\.")


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path in the target's folder; rename it onto ``path`` on success.

    The temporary name keeps the target's suffix(es) so writers that infer the
    format from the extension (PIL, nibabel, tifffile) still work.
    """
    path = Path(path)
    folder = _target_folder(path)
    _no_folder_at(path)
    tmp = _temp_file(path, folder, "tmp", suffix)
    try:
        yield tmp
        _publish(tmp)
        os.replace(tmp, path)
    finally:
        remove_tree(tmp)


@contextlib.contextmanager
def atomic_dir(path):
    """Yield a fresh temporary folder beside ``path``; move it onto ``path`` on success.

    An existing ``path`` (file or folder) is replaced only once the new one is
    complete; on error the temporary folder is removed and ``path`` is untouched.
    """
    path = Path(path)
    folder = _target_folder(path)
    tmp = temp_dir(folder, f".{path.name}.{_tag()}.", ".tmp")
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        old = None
        if path.exists() or path.is_symlink():
            old = temp_dir(folder, f".{path.name}.{_tag()}.", ".old") / "x"
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            remove_tree(old.parent)
    finally:
        remove_tree(tmp)


def state(path) -> tuple | None:
    """What is at ``path`` now (None, or inode, size and modification time): to notice a change later."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class FileGroup:
    """Files written together by :func:`atomic_files`."""

    def __init__(self):
        self._staged = []  # (temporary, target, expected state or ...)

    def stage(self, target, expect=...) -> Path:
        """A temporary path to write ``target``'s new content to.

        ``expect``: the :func:`state` the caller saw at ``target`` when it
        planned the write; if ``target`` is different at commit time, the
        group is not written.
        """
        target = Path(target)
        tmp = _temp_file(target, _target_folder(target), "tmp")
        self._staged.append((tmp, target, expect))
        return tmp

    def _commit(self) -> None:
        for _, target, expect in self._staged:
            if expect is not ... and state(target) != expect:
                raise SkelkitError(f"{target} changed while this run was working (another run writing the same "
                                   "folder?); left it as it is and wrote nothing for this input")
            _no_folder_at(target)
        done = []  # (target, backup or None)
        try:
            for tmp, target, _ in self._staged:
                backup = _backup(target)
                done.append((target, backup))
                _publish(tmp)
                os.replace(tmp, target)
        except BaseException:
            for target, backup in reversed(done):  # put back what was there
                if backup is not None:
                    os.replace(backup, target)
                elif target.exists():
                    target.unlink()
            raise
        finally:
            for _, backup in done:
                if backup is not None:
                    remove_tree(backup)

    def _discard(self) -> None:
        for tmp, _, _ in self._staged:
            remove_tree(tmp)


@contextlib.contextmanager
def atomic_files():
    """Yield a :class:`FileGroup`; on success all its files replace their targets, on failure none does.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_files() as group:
    ...     _ = group.stage(d / "a.txt").write_text("new a")
    ...     _ = group.stage(d / "b.txt").write_text("new b")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt', 'b.txt']
    """
    group = FileGroup()
    try:
        yield group
        group._commit()
    finally:
        group._discard()


def _backup(target: Path) -> Path | None:
    """A hard link (or copy) of an existing ``target``, so a failed commit can restore it."""
    if not target.exists():
        return None
    backup = _temp_file(target, target.parent, "bak")
    remove_tree(backup)
    _LIVE.add(backup)
    try:
        os.link(target, backup)
    except OSError:  # no hard links here (some network or FAT file systems)
        shutil.copy2(target, backup)
    return backup


def _temp_file(path: Path, folder: Path, kind: str, suffix: str | None = None) -> Path:
    suffix = suffix if suffix is not None else "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.{_tag()}.", suffix=f".{kind}{suffix}", dir=folder)
    os.close(fd)
    _LIVE.add(Path(tmp))
    return Path(tmp)


def temp_dir(folder=None, prefix: str | None = None, suffix: str = "") -> Path:
    """A new temporary folder (in ``folder``, default the system's), removed by :func:`remove_live` if still there."""
    p = Path(tempfile.mkdtemp(prefix=prefix or scratch_name(hidden=folder is not None), suffix=suffix, dir=folder))
    _LIVE.add(p)
    return p


def _publish(tmp: Path) -> None:
    if tmp.exists() and not tmp.is_dir():
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual umask-based mode


def remove_stale(folder) -> list[Path]:
    """Remove the temporary files and folders that killed skelkit processes of this host left in ``folder``.

    Only names that carry this host and a process id that no longer runs are
    removed; a live run's work in progress is left alone. Returns what was removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    host = _tag().split("-")[1]
    removed = []
    for p in folder.iterdir():
        m = _STALE.match(p.name)
        if m and m["host"] == host and not _alive(int(m["pid"])):
            remove_tree(p)
            removed.append(p)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_tree(p: Path) -> None:
    """Remove a file, link or folder if it exists."""
    p = Path(p)
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p, ignore_errors=True)
    elif p.exists() or p.is_symlink():
        p.unlink(missing_ok=True)
    _LIVE.discard(p)


def _target_folder(path: Path) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SkelkitError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK):
        raise SkelkitError(f"output folder is not writable: {folder}")
    return folder


def _no_folder_at(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        raise SkelkitError(f"cannot write {path}: a folder is in the way")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def created_folder(folder):
    """Create ``folder`` (and missing parents) for a run; afterwards remove those it created that stayed empty.

    A failed run leaves no empty folders behind (``-o deep/a/b`` included).
    """
    folder = Path(folder)
    made, p = [], folder
    while not p.exists() and not p.is_symlink() and p.parent != p:
        made.append(p)
        p = p.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SkelkitError(f"cannot create output folder {folder}: {exc.strerror or exc}") from None
    try:
        yield folder
    finally:
        for p in made:  # deepest first; stops at the first that holds something
            try:
                p.rmdir()
            except OSError:
                break
