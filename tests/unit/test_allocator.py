"""The allocator tuning is process-wide, so its effect is checked in a child process."""

import platform
import subprocess
import sys

import pytest

from secondlook import allocator

GLIBC_LINUX = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Bytes glibc holds in mmap-ed blocks (mallinfo2's hblkhd) while a 64 MiB buffer is alive.
MAPPED_WHILE_ALLOCATED = """
import ctypes, sys
from secondlook.allocator import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
before = libc.mallinfo2().hblkhd
block = ctypes.create_string_buffer(64 * 2**20)
print(libc.mallinfo2().hblkhd - before)
"""


def mapped_bytes(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", MAPPED_WHILE_ALLOCATED, mode], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC_LINUX, reason="the tuning applies to glibc on Linux only")
def test_large_blocks_come_from_the_heap_once_tuned_not_from_fresh_mappings():
    assert mapped_bytes("default") >= 64 * 2**20  # glibc's default: its own mapping
    assert mapped_bytes("tuned") == 0


def test_other_c_libraries_are_left_alone(monkeypatch):
    monkeypatch.setattr(allocator.platform, "system", lambda: "Darwin")
    assert allocator.keep_freed_memory() is False
