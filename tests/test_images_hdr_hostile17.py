"""HDR still pictures attacked as a hostile user or file would (`hdr_stills`, `hdr_still_decoding.hdr_still`).

Found: tags read from any `colrnclx` bytes before the first `mdat` (an HDR AVIF whose coded data
comes first read washed out, another item's colour taken for the picture's, a short `nclx` read
into the next box); a monochrome HDR HEIF was a traceback and a grey HDR PNG was not tone-mapped;
an HDR PNG's alpha was dropped; a damaged AVIF was "a video or sound file" after OpenCV's log
line; `full_scale` copied a whole picture. Beside them: every 10-bit SDR AVIF was read nearly
black, and a 10-bit AVIF's alpha nearly clear.
"""

from __future__ import annotations

import struct
import subprocess
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pillow_heif  # the heif extra, in dev: never skipped
import pytest

from realtime_adain import hdr_stills
from realtime_adain.imageio import read_image
from realtime_adain.video import hdr
from test_images_hdr17 import box, heif, nclx, photo, png_with_cicp, pq_rgb16
from video_corpus import FFMPEG

PQ_NOTE = "an HDR picture (PQ over BT.2020"


def ftyp() -> bytes:
    return box(b"ftyp", b"avif\0\0\0\0avif")


def meta(*properties: bytes, primary: int | None = None, associations: dict[int, list[int]] | None = None) -> bytes:
    """A `meta` box holding `properties` (`ipco`), the primary item and `ipma`'s associations."""
    boxes = [box(b"pitm", bytes(4) + struct.pack(">H", primary))] if primary is not None else []
    ipma = b""
    if associations is not None:
        entries = b"".join(struct.pack(">HB", item, len(indices)) + bytes(indices)
                           for item, indices in associations.items())
        ipma = box(b"ipma", bytes(4) + struct.pack(">I", len(associations)) + entries)
    return box(b"meta", bytes(4) + b"".join(boxes) + box(b"iprp", box(b"ipco", b"".join(properties)) + ipma))


def test_the_boxes_are_walked_not_searched():
    """Coded data first (allowed: `mdat` before `meta`), then the tags: found. Bytes that spell a
    box inside coded data, or an `nclx` of fewer than 7 bytes (its last bytes would be read from
    the next box's size): not tags."""
    assert hdr_stills.colour_tags(ftyp() + box(b"mdat", bytes(100)) + meta(nclx(9, 16))).transfer == hdr.PQ
    assert hdr_stills.colour_tags(ftyp() + meta(nclx(1, 1)) + box(b"mdat", nclx(9, 16))) is None
    assert hdr_stills.colour_tags(ftyp() + box(b"free", nclx(9, 16)) + meta()) is None
    short = box(b"colr", b"nclx" + struct.pack(">H", 9))
    assert hdr_stills.colour_tags(ftyp() + meta(short, box(b"free", bytes(0x10_0000)))) is None
    for cut in (10, 30, 60):  # cut short anywhere: no tags, no exception
        assert hdr_stills.colour_tags((ftyp() + meta(nclx(9, 16), primary=1, associations={1: [1]}))[:cut]) is None
    for ipma in (b"", bytes(3), bytes(7), bytes(4) + bytes([0, 0, 0, 1, 0, 1, 1])):  # cut short in `ipma`
        for pitm in (bytes(4) + b"\0\1", b"", bytes(5), b"\1" + bytes(6)):  # or `pitm` (version 1: a 32-bit ID)
            iprp = box(b"iprp", box(b"ipco", nclx(9, 16)) + box(b"ipma", ipma))  # (the file's last box)
            assert hdr_stills.colour_tags(ftyp() + box(b"meta", bytes(4) + box(b"pitm", pitm) + iprp)).transfer == hdr.PQ


def test_the_primary_items_colour_counts():
    """A thumbnail or gain map (another item) tagged PQ beside an SDR photo: not HDR; the primary
    item's PQ tags and its depth: read whatever order the properties come in."""
    sdr_thumbnail_pq = meta(nclx(9, 16), nclx(1, 1), primary=1, associations={2: [1], 1: [2]})
    assert hdr_stills.colour_tags(ftyp() + sdr_thumbnail_pq) is None
    pixi8, pixi10 = (box(b"pixi", bytes(4) + bytes([3, bits] * 3)[:4]) for bits in (8, 10))
    hdr_primary = meta(nclx(1, 1), pixi8, nclx(9, 18), pixi10, primary=7, associations={3: [1, 2], 7: [0x83, 4]})
    assert hdr_stills.colour_tags(ftyp() + hdr_primary) == hdr_stills.HdrTags(hdr.HLG, 9, None, 10)


def test_a_grids_colour_on_its_tiles_counts():
    """A grid (the primary item) with no `colr` of its own, its tiles tagged PQ: HDR, as libheif
    reads it; a primary with a colour of its own is not overridden by another item's."""
    tiles_pq = meta(box(b"ispe", bytes(12)), nclx(9, 16), primary=1, associations={1: [1], 2: [2], 3: [2]})
    assert hdr_stills.colour_tags(ftyp() + tiles_pq).transfer == hdr.PQ
    icc_primary = meta(box(b"colr", b"prof" + bytes(40)), nclx(9, 16), primary=1, associations={1: [1], 2: [2]})
    assert hdr_stills.colour_tags(ftyp() + icc_primary) is None


def test_a_flood_of_empty_boxes_is_not_walked_for_minutes():
    """Millions of empty boxes before `meta`, or empty chunks before a PNG's `cICP`: the walk
    stops after MAX_BOXES (each level), so reading the tags stays instant."""
    flood = box(b"free", b"") * (hdr_stills.MAX_BOXES + 1)
    assert hdr_stills.colour_tags(ftyp() + flood + meta(nclx(9, 16))) is None
    chunk = struct.pack(">I", 0) + b"tEXt" + bytes(4)
    cicp = struct.pack(">I", 4) + b"cICP" + bytes([9, 16, 0, 1]) + bytes(4)
    assert hdr_stills.colour_tags(hdr_stills.PNG_SIGNATURE + chunk * 10 + cicp).transfer == hdr.PQ
    assert hdr_stills.colour_tags(hdr_stills.PNG_SIGNATURE + chunk * hdr_stills.MAX_BOXES + cicp) is None


def pq_avif(source: Path, target: Path) -> Path:
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(source), "-vf",
                    "format=gbrpf32le,zscale=tin=709:t=linear,zscale=pin=709:p=2020:t=smpte2084:m=2020_ncl:r=tv:"
                    "npl=203,format=yuv444p10le", "-c:v", "libaom-av1", "-still-picture", "1", "-crf", "4",
                    "-cpu-used", "8", "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace",
                    "bt2020nc", "-frames:v", "1", str(target)], check=True, capture_output=True)
    return target


def mdat_first(avif: bytes) -> bytes:
    """FFmpeg's AVIF (ftyp, meta, mdat; one item, one extent, 32-bit offsets) with its coded data
    moved before `meta`, the item's offset in `iloc` moved with it."""
    ftyp_end = struct.unpack(">I", avif[:4])[0]
    meta_end = ftyp_end + struct.unpack(">I", avif[ftyp_end:ftyp_end + 4])[0]
    header, meta_box, mdat = avif[:ftyp_end], bytearray(avif[ftyp_end:meta_end]), avif[meta_end:]
    at = meta_box.find(b"iloc") + 4
    assert meta_box[at] == 0 and meta_box[at + 4:at + 6] == b"\x44\x00" and meta_box[at + 6:at + 8] == b"\0\x01"
    offset = at + 8 + 2 + 2 + 2  # item ID, data reference, extent count
    old = struct.unpack(">I", meta_box[offset:offset + 4])[0]
    meta_box[offset:offset + 4] = struct.pack(">I", old - meta_end + ftyp_end)
    return header + mdat + bytes(meta_box)


def test_an_hdr_avif_with_its_coded_data_first_is_tone_mapped(data_dir, tmp_path, capsys):
    """The tags sit after 4 KB of coded data: read washed out before (no note, 12 levels off)."""
    small, original = photo(data_dir, tmp_path)
    moved = tmp_path / "moved.avif"
    moved.write_bytes(mdat_first(pq_avif(small, tmp_path / "hdr.avif").read_bytes()))
    read = read_image(moved)
    kept = original.max(axis=2) < 170
    assert np.abs(read.astype(float) - original)[kept].mean() < 2.5
    assert capsys.readouterr().err.count(PQ_NOTE) == 1


def test_a_damaged_hdr_avif_is_one_line_not_a_video(run_cli, weights_env, data_dir, tmp_path):
    """Cut short: was OpenCV's `[ERROR:0@...]` log line, then "a video or sound file, not an image"."""
    small, _ = photo(data_dir, tmp_path)
    avif = pq_avif(small, tmp_path / "hdr.avif")
    avif.write_bytes(avif.read_bytes()[:2000])
    code, _, err = run_cli("image", avif, "-s", data_dir / "style" / "mondrian.jpg", "-o", tmp_path / "out.png")
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: ") and "video" not in err, err
    assert "not a readable image" in err


def tagged_png(path: Path, samples: np.ndarray) -> Path:
    """`png_with_cicp` of grey or BGRA samples, as OpenCV writes them (PQ over BT.2020)."""
    cv2.imwrite(str(path), samples)
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)  # (any 3-channel picture: its chunk is copied)
    tagged = png_with_cicp(path.with_suffix(".tmp.png"), rgb, hdr.PQ).read_bytes()
    data = path.read_bytes()
    at = 8 + 25
    path.write_bytes(data[:at] + tagged[at:at + 16] + data[at:])
    return path


@pytest.mark.parametrize("kind", ["colour", "grey", "alpha"])
def test_a_10_bit_sdr_avif_is_read_as_its_photo(kind, data_dir, tmp_path):
    """OpenCV decodes a 10-bit AVIF to uint16 holding 10 bits: SDR ones (the HDR path aside) were
    read as 16-bit samples, nearly black (mean 2 of 255), and a 10-bit alpha as nearly clear (the
    photo 251 of 255, white)."""
    small, original = photo(data_dir, tmp_path)
    source = small
    if kind == "alpha":  # transparent on the right
        rgba = np.dstack([cv2.imread(str(small)), np.full(original.shape[:2], 255, np.uint8)])
        rgba[:, 64:, 3] = 0
        cv2.imwrite(str(source := tmp_path / "rgba.png"), rgba)
    graph = {"colour": "format=yuv444p10le", "grey": "format=gray10le",
             "alpha": "format=yuva444p10le,split[c][a];[c]format=yuv444p10le;[a]alphaextract,format=gray10le"}[kind]
    avif = tmp_path / f"{kind}.avif"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(source), "-filter_complex", graph,
                    "-c:v", "libaom-av1", "-still-picture", "1", "-crf", "4", "-cpu-used", "8", "-colorspace", "bt709",
                    "-color_primaries", "bt709", "-color_trc", "bt709", str(avif)], check=True, capture_output=True)
    read = read_image(avif).astype(float)
    luma = original @ np.array([0.299, 0.587, 0.114])  # (FFmpeg's RGB to grey: BT.601's weights)
    expected = np.repeat(luma[..., None], 3, axis=2) if kind == "grey" else original
    assert np.abs(read - expected)[:, :64].mean() < 3
    if kind == "alpha":
        assert (read[:, 64:] == 255).all()


def test_a_grey_hdr_png_is_tone_mapped(data_dir, tmp_path, capsys):
    """A 16-bit grey PNG tagged PQ (a 2-D array): read as its code values before (no note); now as
    the same grey in colour is."""
    _, original = photo(data_dir, tmp_path)
    grey = pq_rgb16(original)[..., 1].copy()
    read = read_image(tagged_png(tmp_path / "grey.png", grey))
    as_colour = read_image(png_with_cicp(tmp_path / "colour.png", np.dstack([grey] * 3), hdr.PQ))
    assert np.abs(read.astype(int) - as_colour).max() <= 1
    assert capsys.readouterr().err.count(PQ_NOTE) == 2


def test_a_monochrome_hdr_heif_is_read(run_cli, weights_env, data_dir, tmp_path):
    """A monochrome PQ HEIF: a ValueError traceback from the tone map before."""
    _, original = photo(data_dir, tmp_path)
    grey = pq_rgb16(original)[..., 1].copy()
    picture = pillow_heif.from_bytes(mode="L;16", size=grey.shape[::-1], data=grey.tobytes())
    picture.info["nclx_profile"] = {"color_primaries": 9, "transfer_characteristics": hdr.PQ,
                                    "matrix_coefficients": 9, "full_range_flag": 1}
    picture.save(str(tmp_path / "grey.heic"), quality=-1, save_nclx_profile=True)
    read = read_image(tmp_path / "grey.heic")
    as_colour = read_image(heif(tmp_path / "colour.heic", np.dstack([grey] * 3), hdr.PQ))
    assert np.abs(read.astype(float) - as_colour).mean() < 2
    code, _, err = run_cli("image", tmp_path / "grey.heic", "-s", data_dir / "style" / "mondrian.jpg", "--size", "32",
                           "--style-size", "32", "-o", tmp_path / "out.png")
    assert code == 0, err


def test_an_hdr_png_keeps_its_alpha(data_dir, tmp_path):
    """A PQ PNG, transparent on the right: over white, as an SDR PNG's alpha is (it was dropped:
    the stored colour showed)."""
    _, original = photo(data_dir, tmp_path)
    rgba = np.dstack([pq_rgb16(original), np.full(original.shape[:2], 65535, np.uint16)])
    rgba[:, 64:, 3] = 0
    read = read_image(tagged_png(tmp_path / "alpha.png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)))
    assert (read[:, 64:] == 255).all()
    assert np.abs(read[:, :64].astype(float) - read_image(png_with_cicp(
        tmp_path / "opaque.png", pq_rgb16(original), hdr.PQ))[:, :64]).max() == 0


def test_full_scale_works_in_strips():
    """A 100 MP picture's `full_scale` copied all of it (600 MB); now a strip at a time."""
    samples = np.random.default_rng(1).integers(0, 1024, (2000, 2000, 3), dtype=np.uint16)
    expected = (samples.astype(np.uint32) * 65535 + 511) // 1023
    tracemalloc.start()
    try:
        scaled = hdr_stills.full_scale(samples, 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert scaled is samples and peak < samples.nbytes / 8, peak
    assert np.abs(scaled.astype(np.int64) - expected).max() <= 1
