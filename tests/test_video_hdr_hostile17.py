"""HDR pictures as a hostile user gives them: odd metadata, odd tags, huge pictures.

Found by attacking the HDR reading path (`realtime_adain.video.hdr`): a 16-bit PQ PNG with an
EXIF chunk beside its cICP was a ValueError traceback (PyAV reads a frame's side data all at
once and knows no EXIF kind); primaries no HDR standard uses (BT.470M, film) or none at all were
taken as BT.2020 without a word; HDR stored as RGB was written as full-range yuvj420p (SDR RGB:
BT.709 at limited range); and one picture's tone map held about 100 bytes a pixel of float32
work (3 GiB for an 8K picture, past what --max-pixels bounds at the processing size). The last
four: `--deinterlace film` lost the matrix and range, the HDR note was missing in `live` and for
HDR after SDR pictures, and ProRes output was tagged "unknown" (prores_ks tags from each frame).
"""

from __future__ import annotations

import struct
import subprocess
import tracemalloc
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.video import hdr
from realtime_adain.video.pictures import PictureConverter
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from video_corpus import FFMPEG


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at < len(data):
        (size,) = struct.unpack_from(">I", data, at)
        chunks.append((data[at + 4:at + 8], data[at + 8:at + 8 + size]))
        at += 12 + size
    return chunks


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def pq_png_sequence(data_dir: Path, folder: Path, *extra: tuple[bytes, bytes]) -> tuple[str, np.ndarray]:
    """A photo at 64x36 made PQ (FFmpeg's zscale, BT.2020, SDR white at 203 cd/m2) as three 16-bit
    PNGs tagged so by a cICP chunk (BT.2020, PQ, RGB, full range), `extra` chunks after it: the
    pattern, and the photo's RGB."""
    photo = folder / "photo.png"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(data_dir / "content" / "golden_gate.jpg"),
                    "-vf", "scale=64:36,setsar=1", str(photo)], check=True, capture_output=True)
    pq = folder / "pq.png"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(photo), "-vf",
                    "format=gbrpf32le,zscale=tin=709:t=linear,zscale=pin=709:p=2020:t=smpte2084:npl=203,format=rgb48be",
                    str(pq)], check=True, capture_output=True)
    tagged = b"\x89PNG\r\n\x1a\n"
    for kind, body in png_chunks(pq.read_bytes()):
        if kind in (b"IHDR", b"IDAT", b"IEND"):
            tagged += png_chunk(kind, body)
        if kind == b"IHDR":
            tagged += png_chunk(b"cICP", bytes([9, 16, 0, 1])) + b"".join(png_chunk(*chunk) for chunk in extra)
    for number in range(1, 4):
        (folder / f"hdr_{number:03d}.png").write_bytes(tagged)
    return str(folder / "hdr_%03d.png"), cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)


def test_a_pq_png_with_exif_is_read_as_its_photo(data_dir, tmp_path):
    """FFmpeg 8 attaches a PNG's eXIf chunk as side data PyAV cannot name: reading the peak from
    the side data raised ValueError (a traceback from `video`). The peak is now taken as not
    stated (1000 cd/m2), and the pictures come back as the photo."""
    exif = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x0112, 3, 1, 1) + struct.pack("<I", 0)
    pattern, original = pq_png_sequence(data_dir, tmp_path, (b"eXIf", exif))
    with av.open(pattern.replace("%03d", "001")) as container:
        frame = next(container.decode(video=0))
    assert frame.color_trc == hdr.PQ
    with pytest.raises(ValueError):
        list(frame.side_data)  # (what PyAV does with it)
    assert hdr.ToneMap(frame).peak == hdr.DEFAULT_PQ_PEAK
    with VideoReader(Path(pattern)) as reader:
        read = [item.image for item in reader.items() if isinstance(item, Frame)]
    assert len(read) == 3
    below_knee = original.max(axis=2) < 170
    assert np.abs(read[0].astype(float) - original)[below_knee].mean() < 1


def test_rgb_coded_hdr_is_written_as_rgb_coded_sdr_is(run_cli, weights_env, data_dir, tmp_path):
    """HDR pictures stored as RGB (16-bit PNGs tagged PQ by cICP; gbrp10 or FFV1 RGB) were written
    as full-range yuvj420p, where the same SDR pictures are written BT.709 at limited range (the
    writer's rule for RGB input, which players take best): the RGB matrix is now kept for the
    writer to decide, as for SDR."""
    pattern, _ = pq_png_sequence(data_dir, tmp_path)
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", pattern, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32",
                           "--style-size", "64", "--stabilize", "off", "--engine", "eager", "--threads", "1", "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (frame.color_range, frame.colorspace, frame.color_primaries, frame.color_trc) == (1, 1, 1, 1)


def tagged_frame(primaries: int, transfer: int = hdr.PQ) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.zeros((4, 4, 3), np.uint16), format="rgb48le")
    frame.color_trc, frame.color_primaries = transfer, primaries
    return frame


@pytest.mark.parametrize("primaries, said", [
    (4, "its primaries are tagged BT470M, which HDR does not use, so taken as BT.2020"),
    (8, "its primaries are tagged FILM, which HDR does not use, so taken as BT.2020"),
    (2, "its primaries are not tagged, so taken as BT.2020"),
])
def test_primaries_taken_as_bt2020_are_said(primaries, said):
    """PQ or HLG over primaries no HDR standard uses, or untagged: converted as BT.2020 (what
    every HDR standard names), and the note says what the file said and what was assumed (it
    said "over BT.2020" alone)."""
    for transfer in (hdr.PQ, hdr.HLG):
        tone_map = hdr.ToneMap(tagged_frame(primaries, transfer))
        assert tone_map.primaries is hdr.PRIMARIES[hdr.BT2020]
        assert tone_map.description.endswith(said), tone_map.description
    for known in (hdr.BT2020, hdr.P3_D65, hdr.BT709):
        assert "taken as" not in hdr.ToneMap(tagged_frame(known)).description


def hdr_codes(height: int, width: int, seed: int = 17) -> np.ndarray:
    """Random 16-bit code values over the whole range, deep shadows to 10000 cd/m2."""
    return np.random.default_rng(seed).integers(0, 65536, (height, width, 3), dtype=np.uint16)


def test_one_pictures_tone_map_holds_a_strip_of_work_not_the_picture():
    """The float32 work (about 58 bytes a pixel) is done a strip of `STRIP_PIXELS` at a time, so a
    picture's tone map allocates little beyond its 3-byte output; on the whole picture at once
    it took 60 bytes a pixel (an 8K picture's RSS grew 3.1 GiB, now 0.36 GiB)."""
    codes = hdr_codes(1024, 2048)
    for transfer in (hdr.PQ, hdr.HLG):
        tone_map = hdr.ToneMap(tagged_frame(hdr.BT2020, transfer))
        tracemalloc.start()
        try:
            tone_map(codes)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 6 * codes.shape[0] * codes.shape[1], peak


@pytest.mark.parametrize("height, width", [(1080, 1920), (37, 70001), (3, 5), (259, 253)])
def test_strips_give_the_whole_pictures_output(height, width, monkeypatch):
    """Every strip size (a last, shorter strip; one row a strip for a very wide picture; a
    picture smaller than a strip) gives exactly what the whole picture at once gives, for PQ,
    HLG and Display P3, and through `PictureConverter` with an alpha channel."""
    codes = hdr_codes(height, width)
    for transfer, primaries in ((hdr.PQ, hdr.BT2020), (hdr.HLG, hdr.BT2020), (hdr.PQ, hdr.P3_D65)):
        tone_map = hdr.ToneMap(tagged_frame(primaries, transfer))
        in_strips = tone_map(codes)
        monkeypatch.setattr(hdr, "STRIP_PIXELS", height * width)
        whole = tone_map(codes)
        monkeypatch.undo()
        np.testing.assert_array_equal(in_strips, whole)
    if height * width < 10 ** 6:
        rgba = np.dstack([codes, codes[..., :1]])
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba64le")
        frame.color_trc = hdr.PQ
        shown = PictureConverter("alpha").rgb(frame, None, None, True)
        np.testing.assert_array_equal(shown[..., :3], hdr.ToneMap(frame)(codes))
        np.testing.assert_array_equal(shown[..., 3], codes[..., 0] >> 8)


def x265_clip(frames: list[np.ndarray], path: Path, *tags: str) -> Path:
    """RGB48 pictures as 10-bit 4:2:0 HEVC at limited range with these colour tags (BT.2020 matrix
    where they say bt2020nc, else BT.709)."""
    height, width = frames[0].shape[:2]
    raw = b"".join(np.ascontiguousarray(frame, "<u2").tobytes() for frame in frames)
    matrix = "bt2020" if "bt2020nc" in tags else "bt709"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s",
                    f"{width}x{height}", "-framerate", "24", "-i", "-", "-vf",
                    f"scale=out_color_matrix={matrix}:out_range=tv,format=yuv420p10le", "-c:v", "libx265",
                    "-x265-params", "log-level=error:crf=8", *tags, str(path)], input=raw, check=True,
                   capture_output=True)
    return path


HDR10_TAGS = ("-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc")
SDR_TAGS = ("-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")


def smooth_codes(height: int, width: int) -> np.ndarray:
    """PQ code values of gentle colour ramps (shadows to about 400 cd/m2): chroma subsampling and
    8-bit steps move them little, unlike noise."""
    y, x = np.mgrid[0:height, 0:width] / np.array([[[height]], [[width]]])
    rgb = np.stack([0.35 + 0.3 * x, 0.4 + 0.25 * y, 0.55 - 0.2 * x], axis=2)
    return np.round(rgb * 65535).astype(np.uint16)


def read_all(path: Path, **options) -> tuple[list[np.ndarray], VideoReader]:
    with VideoReader(path, **options) as reader:
        return [item.image for item in reader.items() if isinstance(item, Frame)], reader


def test_film_keeps_an_hdr_clips_matrix_and_range(tmp_path):
    """`--deinterlace film`'s graph (fieldmatch takes 8 bits: a scale is put before it) was built
    without the frames' matrix and range: its pictures came out untagged, so BT.2020 YUV was read
    with FFmpeg's default matrix before the tone map (the mean colour 7 levels off in red; SDR
    10-bit input was written untagged)."""
    clip = x265_clip([smooth_codes(36, 64)] * 12, tmp_path / "film_hdr.mp4", *HDR10_TAGS)
    plain, _ = read_all(clip, deinterlace="off")
    film, reader = read_all(clip, deinterlace="film")
    assert (reader.colour.colorspace, reader.colour.color_range) == (9, 1)
    shift = film[0].reshape(-1, 3).mean(axis=0) - plain[0].reshape(-1, 3).mean(axis=0)
    assert np.abs(shift).max() < 4, shift  # (fieldmatch's 8 bits: a level or two; the wrong matrix: 7 in red)


def test_hdr_pictures_after_sdr_ones_are_said(tmp_path, capsys):
    """A broadcast recording joined from SDR then HDR10 (MPEG-TS): the HDR note (its curve,
    primaries and peak) is given at the first HDR picture; it was given only for a first picture."""
    sdr = x265_clip([hdr_codes(36, 64)] * 3, tmp_path / "sdr.ts", *SDR_TAGS)
    pq = x265_clip([hdr_codes(36, 64, seed=3)] * 3, tmp_path / "pq.ts", *HDR10_TAGS)
    joined = tmp_path / "joined_sdr_hdr.ts"
    joined.write_bytes(sdr.read_bytes() + pq.read_bytes())
    pictures, reader = read_all(joined)
    assert len(pictures) == 6 and reader.output_colour.color_trc == 1
    assert capsys.readouterr().err.count("joined_sdr_hdr.ts: HDR video (PQ over BT.2020, peak 1000 cd/m2)") == 1


def test_live_says_it_tone_maps_an_hdr_file(tmp_path, capsys):
    """`live --source clip.mp4` tone-maps HDR pictures as `video` does, and now says so, once
    (it said nothing: docs/video.md promises the note in both)."""
    clip = x265_clip([hdr_codes(36, 64)] * 3, tmp_path / "live_hdr10.mp4", *HDR10_TAGS)
    live = PyAVSource(str(clip), is_file=True, loop=False)
    live.open()
    try:
        assert len(list(live.frames())) == 3
    finally:
        live.close()
    assert capsys.readouterr().err.count("live_hdr10.mp4: HDR video (PQ over BT.2020") == 1


def test_prores_output_of_hdr_is_tagged_bt709(run_cli, weights_env, data_dir, tmp_path):
    """ProRes (prores_ks) takes its primaries and transfer from each frame, not the codec context:
    an HDR clip's ProRes output (any clip's) said "unknown" for both, so an editor guessed."""
    clip = x265_clip([smooth_codes(36, 64)] * 2, tmp_path / "hdr10.mp4", *HDR10_TAGS)
    out = tmp_path / "out.mov"
    code, _, err = run_cli("video", clip, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "--style-size",
                           "64", "--stabilize", "off", "--engine", "eager", "--threads", "1", "--codec", "prores_ks",
                           "-o", out)
    assert code == 0, err
    with av.open(str(out)) as container:
        frame = next(container.decode(video=0))
    assert (frame.colorspace, frame.color_primaries, frame.color_trc) == (1, 1, 1)
