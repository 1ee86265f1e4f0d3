"""A local folder as a Storage: sorted listing, bounded reads, atomic and durable writes."""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from caffebatch.errors import (
    AccessDeniedError,
    LocationNotFoundError,
    ObjectError,
    ObjectNameError,
    ObjectNotFoundError,
    ObjectUnreadableError,
    StorageError,
)
from caffebatch.jobs.storage import (
    HIDDEN,
    NESTED,
    NOT_A_REGULAR_FILE,
    OUTPUT_NAME_TOO_LONG,
    RESERVED,
    Entry,
    check_output_name,
)

# Temporary files live inside the target, on the same file system, so os.replace is atomic.
TEMPORARY = f"{RESERVED}/.tmp"

READ_PIECE = 1 << 20  # bytes per read once a file turns out longer than it was when opened

# errno of a failed read of one file -> the per-object error; any other fails the run
# (EMFILE, ENOMEM, ESTALE... say the machine or the mount is in trouble, not the file).
_READ_ERRORS: dict[int, type[ObjectError]] = {
    errno.ENOENT: ObjectNotFoundError,
    errno.EACCES: ObjectUnreadableError,
    errno.EPERM: ObjectUnreadableError,
    errno.EIO: ObjectUnreadableError,
    errno.EISDIR: ObjectUnreadableError,
    errno.ENXIO: ObjectUnreadableError,
    errno.ELOOP: ObjectUnreadableError,
    errno.EINVAL: ObjectUnreadableError,
}

# errno of a failed listing or write -> our error; any other is a plain StorageError
_ERRORS: dict[int, type[StorageError]] = {
    errno.ENOENT: LocationNotFoundError,
    errno.EACCES: AccessDeniedError,
    errno.EPERM: AccessDeniedError,
}

_sync_data = getattr(os, "fdatasync", os.fsync)  # the size is synced too; atime is not needed

NAME_MAX, PATH_MAX = 255, 4096  # when the file system does not say


class LocalStorage:
    """The files directly in a folder; everything else in it is listed with a skip reason.

    The listing holds the folder's entries in memory to sort them (names only: about
    15 MB for 100,000 inputs); it never reads file contents ahead. A result is synced to
    disk before it is renamed into place, and the folders written to are synced on close,
    so a result that survives a power cut is whole.
    """

    remote = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        # Paths are joined as strings: pathlib's `/` cost more than the read of a small file.
        self._root = str(self.root)
        self._root_bytes = len(os.fsencode(self._root))
        self._names_where = f"names on the file system of {self._root!r}"
        # temporary names: unique to this object, and O_EXCL refuses a clash anyway
        self._prefix = uuid.uuid4().hex[:12]
        self._serial = itertools.count()
        self._written: set[str] = set()   # folders whose new names still need an fsync
        self._limits_found: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def list(self) -> Iterator[Entry]:
        if not self.root.is_dir():
            raise LocationNotFoundError(f"folder {str(self.root)!r} does not exist")
        try:
            with os.scandir(self.root) as found:
                entries = [_entry(item) for item in found]
        except OSError as error:
            raise _translate(error, f"cannot list folder {str(self.root)!r}") from error
        entries.sort(key=lambda entry: entry.key)
        yield from entries

    def get(self, key: str, limit: int) -> bytes:
        try:
            # O_NONBLOCK: a FIFO put in place of a file since the listing must not hang the run
            descriptor = os.open(f"{self._root}/{key}", os.O_RDONLY | os.O_NONBLOCK)
            try:
                status = os.fstat(descriptor)
                if not stat.S_ISREG(status.st_mode):
                    raise ObjectUnreadableError(f"{key!r} in {str(self.root)!r} is not a file")
                return _read_at_most(descriptor, status.st_size, limit + 1)
            finally:
                os.close(descriptor)
        except OSError as error:
            kind = _READ_ERRORS.get(error.errno or 0, StorageError)
            what = f"cannot read {key!r} in {str(self.root)!r}"
            raise kind(f"{what}: {error.strerror or error}") from error

    def put(self, key: str, data: bytes) -> None:
        destination = f"{self._root}/{key}"
        try:
            try:
                self._replace(destination, data)
            except FileNotFoundError:  # the run's first write, or a key in a new subfolder
                (self.root / TEMPORARY).mkdir(parents=True, exist_ok=True)
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                self._replace(destination, data)
        except OSError as error:
            if error.errno == errno.ENAMETOOLONG:
                raise ObjectNameError(f"cannot write {key!r} in {str(self.root)!r}: "
                                      f"{error.strerror}", code=OUTPUT_NAME_TOO_LONG) from error
            raise _translate(error, f"cannot write {key!r} in {str(self.root)!r}") from error

    def _replace(self, destination: str, data: bytes) -> None:
        temporary = f"{self._root}/{TEMPORARY}/{self._prefix}.{next(self._serial)}"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                _write_all(descriptor, data)
                # before the rename: else a crash can leave the new name with no bytes behind it
                _sync_data(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, destination)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        self._written.add(os.path.dirname(destination))

    def check_name(self, key: str) -> None:
        """Refuse a result name the folder's file system cannot hold (NAME_MAX, PATH_MAX)."""
        name_max, path_max = self._limits()
        encoded = len(key) if key.isascii() else len(os.fsencode(key))
        check_output_name(key, encoded, name_max, self._names_where)
        check_output_name(key, self._root_bytes + 1 + encoded + 1, path_max,
                          "paths (with their NUL) on this machine")

    def _limits(self) -> tuple[int, int]:
        """The longest name and path (with its NUL) the folder's file system takes."""
        if self._limits_found is None:
            try:
                self._limits_found = (os.pathconf(self.root, "PC_NAME_MAX"),
                                      os.pathconf(self.root, "PC_PATH_MAX"))
            except (OSError, ValueError, AttributeError):  # not there yet, or no pathconf
                self._limits_found = (NAME_MAX, PATH_MAX)
        return self._limits_found

    def prepare(self) -> None:
        """Create the folder, and remove temporary files a killed run left behind."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            stale = self.root / TEMPORARY
            if stale.is_dir():
                for leftover in stale.iterdir():
                    leftover.unlink(missing_ok=True)
        except OSError as error:
            raise _translate(error, f"cannot prepare folder {str(self.root)!r}") from error

    def close(self) -> None:
        """Sync the folders written to, so the renames into them last. Safe to call again."""
        while self._written:
            folder = self._written.pop()
            with contextlib.suppress(OSError):  # the results are written; this only hardens
                descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
                try:
                    os.fsync(descriptor)
                finally:
                    os.close(descriptor)


def _entry(item: os.DirEntry[str]) -> Entry:
    """A listed name as an Entry: an input, or a skip with its reason."""
    key, bad_name = _printable(item.name)
    if item.name.startswith("."):
        return Entry(key, skip=HIDDEN)
    try:
        if item.is_file():  # follows links: a link to a file is an input
            # The size, as an S3 listing gives it: a record's charge on the run's byte budget
            # (jobs/budget.py) is then what its text needs, not a guess per number, which cut
            # the chunks of a folder of JPEGs to 6 images where the batch was 32.
            return Entry(key, size=item.stat().st_size, bad_name=bad_name)
        skip = NESTED if item.is_dir() else NOT_A_REGULAR_FILE  # FIFO, socket, dangling link
    except OSError:  # cannot even stat it: an input whose read will say why
        return Entry(key, bad_name=bad_name)
    return Entry(key, skip=skip)


def _printable(name: str) -> tuple[str, str | None]:
    """The key of a file name, and why it cannot be an input's when it is not UTF-8.

    os.scandir decodes undecodable bytes to lone surrogates, which no UTF-8 writer (the
    error report, an output key) accepts; the key shows those bytes as \\xNN instead.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        key = os.fsencode(name).decode("utf-8", errors="backslashreplace")
        return key, f"the file name {key!r} is not UTF-8; rename the file to score it"
    return name, None


def _read_at_most(descriptor: int, size: int, count: int) -> bytes:
    """Up to `count` bytes of an open file of `size` bytes when it was opened.

    One read of the file's size (plus one byte, to see the end): asking the OS for `count`
    bytes at once would allocate all of them first, which costs more than the read itself
    when the limit is 64 MiB and the file 8 KB.
    """
    want = min(size + 1, count)
    data = os.read(descriptor, want)
    if len(data) < want or len(data) == count:
        return data
    parts = [data]  # the file grew since it was opened
    total = len(data)
    while total < count:
        part = os.read(descriptor, min(READ_PIECE, count - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view):]


def _translate(error: OSError, what: str) -> StorageError:
    kind = _ERRORS.get(error.errno or 0, StorageError)
    return kind(f"{what}: {error.strerror or error}")
