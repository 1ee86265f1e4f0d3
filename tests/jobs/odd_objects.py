"""Plants the odd objects of bad_inputs.OBJECT_KINDS and SKIP_KINDS in a folder or a bucket.

Each `plant_*` returns {kind: key as listed}; the expected code or skip reason is in the
tables. EACCES needs a process without root's DAC override: `WITHOUT_DAC` is Python source
that drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the process that runs it (a child
started for the purpose), so a mode-000 file is refused even to root.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.jobs.faultproxy import FaultProxy
from tests.s3server import S3Server

GOOD = b'{"data": [[[0.5]]]}'  # parses; its shape is wrong for LeNet, which these never reach

WITHOUT_DAC = """
import ctypes
class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class _Sets(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]
_libc = ctypes.CDLL(None, use_errno=True)
_header, _sets = _Header(0x20080522, 0), (_Sets * 2)()  # _LINUX_CAPABILITY_VERSION_3
assert _libc.capget(ctypes.byref(_header), _sets) == 0
_sets[0].effective &= ~((1 << 1) | (1 << 2))  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
assert _libc.capset(ctypes.byref(_header), _sets) == 0
"""


def plant_local(folder: Path) -> dict[str, str]:
    """The local kinds, in `folder`; {kind: listed key}."""
    locked = folder / "locked.json"
    locked.write_bytes(GOOD)
    locked.chmod(0)
    (folder / "kernel_io_error.json").symlink_to("/proc/self/mem")  # reading offset 0: EIO
    os.close(os.open(os.path.join(os.fsencode(folder), b"caf\xe9.json"),
                     os.O_CREAT | os.O_WRONLY, 0o644))
    (folder / "_caffebatch").write_bytes(GOOD)
    (folder / ".hidden.json").write_bytes(GOOD)
    (folder / "folder.json").mkdir()
    os.mkfifo(folder / "fifo.json")
    os.mknod(folder / "socket.json", 0o600 | stat.S_IFSOCK)  # bind() would cap the path at 108
    (folder / "dangling.json").symlink_to(folder / "nowhere")
    return {
        "unreadable_file": "locked.json", "io_error": "kernel_io_error.json",
        "non_utf8_name": "caf\\xe9.json", "reserved_name": "_caffebatch",
        "hidden_file": ".hidden.json", "folder_named_like_a_record": "folder.json",
        "fifo": "fifo.json", "socket": "socket.json", "dangling_link": "dangling.json",
    }


def plant_s3(server: S3Server, bucket: str, proxy: FaultProxy) -> dict[str, str]:
    """The S3 kinds, under the prefix "in/" of `bucket` (reached through `proxy`)."""
    client = server.client()
    long_key = "x" * 295 + ".json"
    for key in ("in//double.json", "in/.", "in/denied.json", "in/damaged.json",
                f"in/{long_key}", "in/deeper/nested.json"):
        client.put_object(Bucket=bucket, Key=key, Body=GOOD)
    client.put_object(Bucket=bucket, Key="in/archived.json", Body=GOOD, StorageClass="GLACIER")
    proxy.refuse(f"/{bucket}/in/denied.json", 403, "AccessDenied")
    proxy.damage(f"/{bucket}/in/damaged.json")
    return {
        "s3_double_slash": "/double.json", "s3_dot_key": ".",
        "s3_access_denied": "denied.json", "s3_archived": "archived.json",
        "s3_damaged": "damaged.json", "name_too_long_for_target": long_key,
        "s3_nested_prefix": "deeper/",
    }


def plant_s3_root(server: S3Server, bucket: str) -> dict[str, str]:
    """The kind that lives at a bucket's root: a key with a leading "/"."""
    server.client().put_object(Bucket=bucket, Key="/leading.json", Body=GOOD)
    return {"s3_leading_slash": "/leading.json"}
