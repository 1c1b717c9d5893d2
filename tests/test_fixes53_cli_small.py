"""Small CLI defects: `bench serve --device` checked before any work, `weights info` with a name too
long for the system, a blank `live --source` named visibly, `bench serve --size 64` pointed to
--process-size."""

from __future__ import annotations

import pytest

from realtime_adain.live.source_opening import open_source
from realtime_adain.live.sources import SourceError


def test_bench_serve_refuses_an_unknown_device_before_starting_the_server(run_cli, weights_env):
    """It wrote the style, started `serve --device nan`, waited for it to fail and said "the server did
    not start: unknown --device 'nan'" (110 s under load); the other benchmarks refuse it at once."""
    code, out, err = run_cli("bench", "serve", "--clients", "1", "--seconds", "1", "--warmup", "0",
                             "--frame-size", "64x48", "--process-size", "64", "--device", "nan")
    assert code == 2 and not out, err
    assert err.startswith("error: unknown --device 'nan'") and "did not start" not in err, err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("value", ["64", " 160 "])
def test_bench_serve_bare_number_size_points_to_process_size(run_cli, value):
    """Every other command's --size is a processing size; here it is the clients' frame size."""
    code, out, err = run_cli("bench", "serve", "--size", value)
    assert code == 2 and not out and len(err.strip().splitlines()) == 1, err
    assert "is not WIDTHxHEIGHT" in err and "1080p (the processing size is --process-size)" in err, err


def test_bench_serve_other_bad_frame_sizes_get_no_process_size_hint(run_cli):
    code, _, err = run_cli("bench", "serve", "--frame-size", "big")
    assert code == 2 and "is not WIDTHxHEIGHT" in err and "--process-size" not in err, err


@pytest.mark.parametrize("name, reason", [
    ("9" * 3000, "not usable: file name too long (3000 bytes in one name"),
    ("/".join(["a" * 200] * 30), "not usable: path too long (6029 bytes"),
], ids=["name-over-NAME_MAX", "path-over-PATH_MAX"])
def test_weights_info_name_too_long_is_a_row(run_cli, weights_env, tmp_path, name, reason):
    """It was one line `999...(3000 digits): File name too long`, exit status 2, and no table.
    (A missing --decoder: its row is cheap.)"""
    code, out, err = run_cli("weights", "info", "--vgg", name, "--decoder", tmp_path / "none.pth")
    assert code == 1 and not err, err
    vgg_part, _, decoder_part = out.partition("decoder:")
    assert vgg_part.startswith("vgg:\n  path    '") and f"characters)\n  from    --vgg\n  status  {reason}" in vgg_part, out
    assert name not in out and max(map(len, out.splitlines())) < 200, out
    assert "missing: " in decoder_part  # the decoder is described all the same


def test_weights_info_decoder_from_environment_too_long_is_a_row(run_cli, weights_env, monkeypatch, tmp_path):
    """The VGG's row looks the decoder up (the encoder it pairs with), and failed on it first.
    (A missing VGG: its row is cheap.)"""
    monkeypatch.setenv("REALTIME_ADAIN_DECODER", "9" * 3000)
    monkeypatch.setenv("REALTIME_ADAIN_VGG", str(tmp_path / "none.pth"))
    code, out, err = run_cli("weights", "info")
    assert code == 1 and not err, err
    vgg_part, _, decoder_part = out.partition("decoder:")
    assert "status  missing: " in vgg_part, out
    assert "from    $REALTIME_ADAIN_DECODER\n  status  not usable: file name too long" in decoder_part, out


@pytest.mark.parametrize("blank", [" ", "  ", "\t"])
def test_live_blank_source_is_named_visibly(tmp_path, monkeypatch, blank):
    """`--source ' '` said "error:  : no such file (and not a camera index, device or URL)"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as raised:
        open_source(blank)
    assert str(raised.value).startswith(f"--source '{blank}': blank, and no file has that name (an unset variable?)")


def test_live_source_with_blanks_at_an_end_is_quoted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError, match=r"^--source ' clip\.mp4': no such file \(and not a camera index"):
        open_source(" clip.mp4")
    with pytest.raises(SourceError, match=r"^clip\.mp4: no such file"):  # (unquoted as before)
        open_source("clip.mp4")


def test_live_file_with_a_blank_name_still_plays(tmp_path, monkeypatch):
    """Only the message changed: a file may be named ' ', and it is still the source."""
    import av
    import numpy as np

    monkeypatch.chdir(tmp_path)
    with av.open(" ", "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * k, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    source = open_source(" ")
    try:
        assert next(iter(source.frames())).shape == (48, 64, 3)
    finally:
        source.close()
