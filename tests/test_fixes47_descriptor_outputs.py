"""Session 47: an output named by an open descriptor (/dev/stdout, /proc/self/fd/N, a link to
one) is refused: `bench ... --json /dev/stdout >> log.txt` renamed the results over log.txt."""

from __future__ import annotations

import os

import pytest

from realtime_adain.errors import UserError
from realtime_adain.output_paths import writable_target


@pytest.mark.parametrize("name", ["/dev/stdout", "/dev/stderr", "/dev/fd/{fd}", "/proc/self/fd/{fd}", "link"])
def test_an_output_naming_an_open_descriptor_is_refused(tmp_path, name):
    log = tmp_path / "log.txt"
    log.write_text("precious line\n")
    with open(log, "a") as held:
        path = tmp_path / "link" if name == "link" else name.format(fd=held.fileno())
        if name == "link":
            os.symlink(f"/proc/self/fd/{held.fileno()}", path)
        with pytest.raises(UserError, match=r"an open descriptor, not a file: the result would replace"):
            writable_target(type(tmp_path)(path))
    assert log.read_text() == "precious line\n"


def test_a_link_to_a_file_is_still_written_through(tmp_path):
    (tmp_path / "real.json").write_text("{}")
    os.symlink(tmp_path / "real.json", tmp_path / "link.json")
    assert writable_target(tmp_path / "link.json") == tmp_path / "real.json"
