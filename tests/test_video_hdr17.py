"""HDR video (an iPhone's HLG, HDR10's PQ) is tone-mapped to SDR BT.709 as read.

Read as plain RGB, an HDR clip kept its BT.2020 HDR code values: a photo made HDR with FFmpeg's
zscale came back at half its saturation and 13-18 dB from the photo, the network saw that dull
picture, and the output was tagged HDR. Now its pictures come back as the photo (within the tone
curve's roll-off of highlights), the output is tagged SDR BT.709, and one note says so. The
curves are checked against their standards' numbers.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from realtime_adain.live.pyav_source import PyAVSource
from realtime_adain.video import hdr
from realtime_adain.video.frames import Frame
from realtime_adain.video.reader import VideoReader
from video_corpus import FFMPEG, FFPROBE

TRANSFERS = {"pq": "smpte2084", "hlg": "arib-std-b67"}


def to_hdr(source: list[str], path: Path, transfer: str, *extra: str, primaries: str = "2020") -> Path:
    """`source` (FFmpeg input arguments of an SDR BT.709 picture) made HDR as a grader would:
    display light with SDR white at HDR reference white (203 cd/m2, zscale's npl), over
    `primaries` (zscale's name), 10-bit 4:4:4 HEVC tagged so."""
    chain = (f"format=gbrpf32le,zscale=tin=709:t=linear,zscale=pin=709:p={primaries}:t={transfer}:m=2020_ncl:r=tv:"
             "npl=203,format=yuv444p10le")
    tag = {"2020": "bt2020", "smpte432": "smpte432", "709": "bt709"}[primaries]
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *source, "-vf", chain, "-c:v", "libx265", "-x265-params",
                    "log-level=error:crf=4" + "".join(extra), "-color_primaries", tag, "-color_trc", transfer,
                    "-colorspace", "bt2020nc", str(path)], check=True, capture_output=True)
    return path


TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])


def display_light(original: np.ndarray) -> np.ndarray:
    """`original` (SDR BT.709 RGB) as display light over BT.2020, white at 203 cd/m2 (BT.2408)."""
    return 203 * (original / 255.0) ** 2.4 @ TO_BT2020.T


def hlg_rgb16(original: np.ndarray) -> np.ndarray:
    """`original` made HLG by BT.2100's formulas, written here in their forward direction
    (FFmpeg's zscale applies HLG's OOTF per channel, not on luminance as BT.2100 says): display
    light, the inverse OOTF at 1000 cd/m2, the OETF; 16-bit RGB."""
    display = display_light(original)
    scene_luma = (display @ np.array(hdr.BT2020_LUMA) / 1000) ** (1 / 1.2)
    scene = display / (1000 * np.maximum(scene_luma, 1e-12) ** 0.2)[..., None]
    a, b, c = 0.17883277, 1 - 4 * 0.17883277, 0.5 - 0.17883277 * np.log(4 * 0.17883277)
    signal = np.where(scene <= 1 / 12, np.sqrt(3 * scene), a * np.log(np.maximum(12 * scene - b, 1e-12)) + c)
    return np.round(np.clip(signal, 0, 1) * 65535).astype(np.uint16)


def hlg_by_the_standard(original: np.ndarray, path: Path) -> Path:
    """`original` made HLG (`hlg_rgb16`): 3 frames of 10-bit 4:4:4 HEVC."""
    raw = hlg_rgb16(original).astype("<u2").tobytes()
    height, width = original.shape[:2]
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb48le", "-s",
                    f"{width}x{height}", "-framerate", "24", "-i", "-", "-vf",
                    "scale=out_color_matrix=bt2020:out_range=tv,format=yuv444p10le", "-c:v", "libx265",
                    "-x265-params", "log-level=error:crf=4", "-color_primaries", "bt2020", "-color_trc",
                    "arib-std-b67", "-colorspace", "bt2020nc", str(path)], input=raw * 3, check=True,
                   capture_output=True)
    return path


def photo(data_dir: Path, tmp_path: Path) -> tuple[list[str], np.ndarray]:
    """A photo at 128x72 (FFmpeg input arguments for 3 frames of it, and its RGB)."""
    small = tmp_path / "photo.png"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", "-i", str(data_dir / "content" / "golden_gate.jpg"),
                    "-vf", "scale=128:72,setsar=1", str(small)], check=True, capture_output=True)
    rgb = cv2.cvtColor(cv2.imread(str(small)), cv2.COLOR_BGR2RGB)
    return ["-loop", "1", "-framerate", "24", "-t", "0.125", "-i", str(small)], rgb


def first_picture(path: Path) -> np.ndarray:
    with VideoReader(path) as reader:
        return next(item for item in reader.items() if isinstance(item, Frame)).image


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_the_curves_give_their_standards_numbers():
    """PQ: 100 cd/m2 is code 0.5081 and 203 is 0.5806 (BT.2408), both ways; HLG: 75% grey is
    scene light 0.2650, which BT.2100's OOTF at 1000 cd/m2 shows at 203 cd/m2 (BT.2408)."""
    assert hdr.nits_to_pq(np.float64(100)) == pytest.approx(0.5081, abs=1e-4)
    assert hdr.nits_to_pq(np.float64(203)) == pytest.approx(0.5806, abs=1e-4)
    codes = np.linspace(0, 1, 101)
    np.testing.assert_allclose(hdr.nits_to_pq(hdr.pq_to_nits(codes)), codes, atol=1e-6)
    scene = float(hdr.hlg_to_scene(np.float64(0.75)))
    assert scene == pytest.approx(0.2650, abs=1e-4)
    assert 1000 * scene ** 1.2 == pytest.approx(203, rel=0.01)
    assert float(hdr.hlg_to_scene(np.float64(0.5))) == pytest.approx(1 / 12)  # the curve's two parts meet


def test_the_tone_curve_keeps_the_shadows_and_ends_at_the_target():
    """BT.2390's EETF: the identity below its knee, continuous and rising above it, the source's
    peak at the target's; a source no brighter than the target is only clipped."""
    nits = np.linspace(0, 1000, 20001)
    mapped = hdr.bt2390_eetf(nits, 1000, 203)
    assert mapped[-1] == pytest.approx(203, rel=1e-6)
    assert np.all(np.diff(mapped) >= -1e-9) and np.max(np.abs(np.diff(mapped))) <= 0.05 + 1e-9
    shadows = nits < 80
    np.testing.assert_allclose(mapped[shadows], nits[shadows], rtol=1e-9)
    np.testing.assert_array_equal(hdr.bt2390_eetf(np.array([50.0, 300.0]), 203, 203), [50, 203])


def test_the_peak_is_read_from_the_stream(tmp_path, data_dir):
    """MaxCLL first (1500), else the mastering display's peak (4000), else 1000 cd/m2, within
    [203, 10000] (a MaxCLL of 65535 or 50, or of 0: not stated); HLG is rendered for its nominal
    1000 cd/m2."""
    source, _ = photo(data_dir, tmp_path)
    master = ":hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(40000000,50)"
    cases = {"both.mp4": (master + ":max-cll=1500,400", 1500), "mastering.mp4": (master, 4000), "none.mp4": ("", 1000),
             "huge.mp4": (":hdr10=1:max-cll=65535,400", 10000), "dim.mp4": (":hdr10=1:max-cll=50,10", 203),
             "zero.mp4": (master + ":max-cll=0,0", 4000)}
    for name, (params, peak) in cases.items():
        with av.open(str(to_hdr(source, tmp_path / name, "smpte2084", params))) as container:
            assert hdr.ToneMap(next(container.decode(video=0))).peak == pytest.approx(peak), name
    with av.open(str(to_hdr(source, tmp_path / "hlg.mp4", "arib-std-b67"))) as container:
        assert hdr.ToneMap(next(container.decode(video=0))).peak == 1000


@pytest.mark.parametrize("transfer, primaries", [("pq", "2020"), ("hlg", "2020"), ("pq", "smpte432"), ("pq", "709")])
def test_an_hdr_clip_is_read_as_the_sdr_photo_it_was_made_from(transfer, primaries, data_dir, tmp_path):
    """The photo comes back: shadows and midtones (below the tone curve's knee) within 2 levels on
    average and at the photo's saturation; the whole picture above 25 dB (highlights roll off).
    Read as plain RGB (before) they were 9-12 levels off at half the saturation, the picture
    13-18 dB away. PQ is made by FFmpeg's zscale (over BT.2020, Display P3 or BT.709 primaries),
    HLG by BT.2100's formulas (`hlg_by_the_standard`)."""
    source, original = photo(data_dir, tmp_path)
    if transfer == "pq":
        clip = to_hdr(source, tmp_path / "pq.mp4", TRANSFERS[transfer], primaries=primaries)
    else:
        clip = hlg_by_the_standard(original, tmp_path / "hlg.mp4")
    read = first_picture(clip)
    assert read.shape == original.shape
    below_knee = original.max(axis=2) < 170
    error = np.abs(read.astype(float) - original.astype(float))[below_knee]
    assert error.mean() < 2, error.mean()
    assert psnr(read, original) > 25

    def saturation(image):
        return float((image.max(axis=2).astype(float) - image.min(axis=2))[below_knee].mean())
    assert saturation(read) == pytest.approx(saturation(original), rel=0.05)


def test_hlg_greys_come_back_exactly_below_the_knee(tmp_path):
    """A grey ramp (zscale's HLG is exact on greys): every grey the knee keeps within a level."""
    ramp = tmp_path / "ramp.png"
    cv2.imwrite(str(ramp), np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 2))[..., None].repeat(3, axis=2))
    read = first_picture(to_hdr(["-loop", "1", "-framerate", "24", "-t", "0.125", "-i", str(ramp)],
                                tmp_path / "ramp.mp4", "arib-std-b67"))
    original = cv2.imread(str(ramp))[..., 0]
    kept = original < 170
    assert np.abs(read[..., 1].astype(int) - original)[kept].max() <= 2


def test_highlights_roll_off_instead_of_clipping(tmp_path):
    """PQ patches at 100, 300, 600 and 1000 cd/m2 (a 1000 cd/m2 master): each brighter than the
    one before, the brightest at SDR white; 100 cd/m2 (below the knee) at its SDR value."""
    patches = [100, 300, 600, 1000]
    codes = hdr.nits_to_pq(np.array(patches, np.float64))
    image = np.repeat(np.repeat(np.round(codes * 65535).astype(np.uint16), 16)[None, :, None], 8, axis=0)
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image.repeat(3, axis=2)), format="rgb48le")
    frame.color_trc = hdr.PQ
    shown = hdr.ToneMap(frame)(image.repeat(3, axis=2))[0, ::16, 0].astype(int)
    assert list(np.diff(shown) > 0) == [True] * 3 and shown[-1] == 255
    assert shown[0] == pytest.approx(255 * (100 / 203) ** (1 / 2.4), abs=1)


def test_video_writes_sdr_bt709_and_says_so(run_cli, weights_env, data_dir, tmp_path):
    """`video` on an HLG clip: the output tagged SDR BT.709 (not HLG), every frame kept, one note."""
    source, _ = photo(data_dir, tmp_path)
    clip = to_hdr(source, tmp_path / "IMG_0001.mp4", "arib-std-b67")
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", clip, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "--style-size",
                           "64", "--stabilize", "off", "--engine", "eager", "--threads", "1", "-o", out)
    assert code == 0, err
    assert err.count("HDR video (HLG over BT.2020): each picture is tone-mapped to SDR BT.709") == 1, err
    probe = json.loads(subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
                                       "stream=color_transfer,color_primaries,color_space,nb_read_frames", "-of",
                                       "json", str(out)], capture_output=True, text=True, check=True).stdout)
    stream = probe["streams"][0]
    assert (stream["color_transfer"], stream["color_primaries"], stream["color_space"]) == ("bt709",) * 3
    assert stream["nb_read_frames"] == "3"


def test_live_shows_an_hdr_file_as_video_reads_it(data_dir, tmp_path):
    """The live file source converts HDR pictures with the same tone map as `video`."""
    source, _ = photo(data_dir, tmp_path)
    clip = to_hdr(source, tmp_path / "hdr10.mp4", "smpte2084")
    live = PyAVSource(str(clip), is_file=True, loop=False)
    live.open()
    try:
        shown = next(iter(live.frames()))
    finally:
        live.close()
    np.testing.assert_array_equal(shown, first_picture(clip))


@pytest.mark.parametrize("primaries, tag, name", [("2020", "bt2020", "BT.2020"), ("smpte432", "smpte432", "Display P3")])
def test_wide_gamut_sdr_is_read_in_bt709_and_written_so(primaries, tag, name, run_cli, weights_env, data_dir,
                                                        tmp_path):
    """SDR over BT.2020 or Display P3 primaries (10-bit cameras, a P3 timeline's export) read as
    plain RGB was washed out too (saturation 20 against the photo's 30): now converted to BT.709
    primaries as read, the whole picture within 2 levels (nothing to roll off), the output tagged
    BT.709, one note."""
    source, original = photo(data_dir, tmp_path)
    clip = tmp_path / f"sdr_{primaries}.mp4"
    subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-y", *source, "-vf",
                    f"format=gbrpf32le,zscale=tin=709:t=linear,zscale=pin=709:p={primaries}:t=2020_10:m=2020_ncl:r=tv,"
                    "format=yuv444p10le", "-c:v", "libx265", "-x265-params", "log-level=error:crf=4",
                    "-color_primaries", tag, "-color_trc", "bt2020-10", "-colorspace", "bt2020nc", str(clip)],
                   check=True, capture_output=True)
    read = first_picture(clip)
    assert np.abs(read.astype(float) - original).mean() < 2
    out = tmp_path / "out.mp4"
    code, _, err = run_cli("video", clip, "-s", data_dir / "style" / "mondrian.jpg", "--size", "32", "--style-size",
                           "64", "--stabilize", "off", "--engine", "eager", "--threads", "1", "-o", out)
    assert code == 0, err
    assert err.count(f"wide-gamut video (SDR over {name}): each picture is converted to BT.709") == 1, err
    probe = json.loads(subprocess.run([FFPROBE, "-v", "error", "-select_streams", "v", "-show_entries",
                                       "stream=color_transfer,color_primaries,color_space", "-of", "json", str(out)],
                                      capture_output=True, text=True, check=True).stdout)["streams"][0]
    assert (probe["color_transfer"], probe["color_primaries"], probe["color_space"]) == ("bt709",) * 3
