"""Session 56's fixes (h1's review): `weights download`'s room check counts a damaged file of the
published size as one to fetch (it was counted as nothing, then fetched beside itself onto a full
disk), and a replaced file as freed only where its bytes are the download disk's alone."""

from __future__ import annotations

import os

import pytest

from realtime_adain import download
from realtime_adain.errors import UserError
from test_full_disk import tmpfs
from weights_server import WeightsServer, release_bytes, synthetic_release  # noqa: F401 (fixtures)


def pin_sizes(monkeypatch, sizes: dict[str, int | None]) -> None:
    """The published sizes (digests kept: a file of zeros fails its checksum)."""
    for kind, size in sizes.items():
        spec = download.PUBLISHED[kind]
        monkeypatch.setitem(download.PUBLISHED, kind, download.PublishedFile(kind, spec.filename, size, spec.sha256))


def test_a_damaged_file_of_the_published_size_is_refused_for_room_before_fetching(tmp_path, monkeypatch):
    """A file of zeros of the published size: "present but not valid; downloading it again" went on
    to fetch it beside itself onto a disk without room for both ("No space left on device")."""
    pin_sizes(monkeypatch, {"vgg": 2_500_000, "decoder": None})
    with WeightsServer({"vgg_normalised.pth": b"\0" * 2_500_000}) as server, tmpfs(tmp_path / "disk", "4m") as disk:
        directory = disk / "weights"
        directory.mkdir()
        with open(directory / "vgg_normalised.pth", "wb") as damaged:
            damaged.write(b"\0" * 2_500_000)
        urls = download.file_urls(base_url=server.url)
        with pytest.raises(UserError, match=rf"^{directory}: no room for the download \(vgg_normalised.pth needs "
                                            r"3.5 MB, 1.[\d] MB free\); free some space or choose another --dir$"):
            download.download_all(urls, directory)
        assert server.requests == []


def test_a_damaged_file_counts_as_fetched_and_freed_at_the_rename_only_when_it_is_this_disks_alone(tmp_path,
                                                                                                  monkeypatch):
    """A damaged file is fetched again (a sound one is not); renamed over, it frees its bytes only
    where it is a regular file with one name: a symbolic link's file and a hard link's stay."""
    pin_sizes(monkeypatch, {"vgg": 5000, "decoder": 3000})
    target = tmp_path / "vgg_normalised.pth"
    with open(target, "wb") as damaged:
        damaged.truncate(5000)
    assert download._bytes_to_fetch("vgg", tmp_path, force=False) == (5000, 5000)
    os.link(target, tmp_path / "elsewhere")
    assert download._bytes_to_fetch("vgg", tmp_path, force=False) == (5000, 0)
    target.unlink()
    target.symlink_to(tmp_path / "elsewhere")
    assert download._bytes_to_fetch("vgg", tmp_path, force=True) == (5000, 0)
    assert download.room_needed(tmp_path, force=True) == (["vgg_normalised.pth", "decoder.pth"], 8000)


def test_a_sound_file_in_place_is_not_fetched(synthetic_release, tmp_path):
    for kind, spec in download.PUBLISHED.items():
        (tmp_path / spec.filename).write_bytes(synthetic_release[spec.filename])
        assert download._bytes_to_fetch(kind, tmp_path, force=False) == (0, 0)
    assert download.room_needed(tmp_path, force=False) == ([], 0)
