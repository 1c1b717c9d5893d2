"""Property-based fuzzing of the `video` input path: damaged and inflated files.

Each input goes through the library calls the `video` command makes (`check_inputs`, then
`stylize_file`), in a child process with a timeout and a memory watchdog (`video_fuzz_support`).
The property: a finished output PyAV reads (frames > 0), or a one-line `UserError` and no output;
never another exception, a hang, a crash of the interpreter, unbounded memory, or a temporary
file left behind.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime_adain.video.containers import CONTAINER_FORMATS
from video_fuzz_support import (INTERESTING, Mutation, Outcome, Worker, leftovers, make_seeds, mutate, patched,
                                readable_frames, size_fields, with_attachments, with_metadata, with_streams, y4m,
                                zero_delay_gif)

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FUZZ_SLOW = settings(FUZZ, max_examples=400)
TIMEOUT_S = 40.0
MEMORY_MB = 2500.0  # the worker alone is about 400 MB (torch, the test weights)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, Path]:
    return make_seeds(tmp_path_factory.mktemp("seeds"))


@pytest.fixture(scope="module")
def worker(published_weights, data_dir):
    vgg, decoder = published_weights
    running = Worker(vgg, decoder, data_dir / "style" / "mondrian.jpg")
    yield running
    running.close()


def check_property(worker: Worker, source: Path, folder: Path, ext: str | None = None,
                   memory_mb: float = MEMORY_MB, timeout: float = TIMEOUT_S) -> Outcome:
    """Run `source` into `folder`/out.EXT (the input's extension by default, as the CLI picks it;
    .mp4 where it writes no such file: .flv, .y4m, as the CLI does) and assert the property; returns the outcome."""
    output = folder / f"out{ext or (source.suffix if source.suffix in CONTAINER_FORMATS else '.mp4')}"
    outcome = worker.run(source, output, timeout=timeout, memory_mb=memory_mb, log=folder / "log.txt")
    assert outcome.bounded, f"{source.name}: {outcome.kind}: {outcome.detail}"
    if outcome.kind == "user_error":
        assert "\n" not in outcome.detail and outcome.detail, outcome.detail
        assert not output.exists()
    else:
        assert readable_frames(output) > 0, outcome.detail
    assert leftovers(folder, {source.name, output.name, "log.txt"} if source.parent == folder else
                     {output.name, "log.txt"}) == []
    return outcome


@st.composite
def mutations(draw, seeds: dict[str, Path]) -> tuple[str, list[Mutation]]:
    """A seed's name and 1-4 changes: byte flips (the first 600 bytes, the headers, half the time),
    zeroed, removed or duplicated ranges, a cut, garbage before, after or inside, a size field
    beside a known tag (ISO box, RIFF chunk) set to an edge value."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = seeds[name].read_bytes()
    fields = size_fields(data)
    changes = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "zero", "truncate", "remove", "duplicate", "append", "prepend", "insert",
                                     "size"]))
        at = draw(st.one_of(st.integers(0, min(600, len(data)) - 1), st.integers(0, len(data) - 1)))
        if kind == "size" and fields:
            at, fmt = draw(st.sampled_from(fields))
            value = draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**32 - 1)))
            changes.append(Mutation(f"size{fmt}", at=at, value=value))
            continue
        inserts = kind in ("append", "prepend", "insert")
        changes.append(Mutation("flip" if kind == "size" else kind, at=at,
                                length=draw(st.sampled_from([1, 4, 16, 200, 2000])), value=draw(st.integers(1, 255)),
                                payload=draw(st.binary(min_size=1, max_size=64)) if inserts else b""))
    return name, changes


def fuzz_mutations(seeds, worker) -> None:
    @given(mutations(seeds))
    def check(case):
        name, changes = case
        with tempfile.TemporaryDirectory() as folder:
            source = Path(folder) / f"in{seeds[name].suffix}"
            source.write_bytes(mutate(seeds[name].read_bytes(), changes))
            check_property(worker, source, Path(folder))

    return check


@pytest.mark.slow  # (hypothesis over mutated files (15-30 s); the cases it found run by default below)
def test_mutated_files_finish_or_refuse_in_one_line(seeds, worker):
    settings(FUZZ, max_examples=15)(fuzz_mutations(seeds, worker))()  # the long run (slow) tries 400


@pytest.mark.slow
def test_mutated_files_finish_or_refuse_in_one_line_long_run(seeds, worker):
    settings(FUZZ_SLOW)(fuzz_mutations(seeds, worker))()


# Damage the random runs found (each once a traceback), as exact changes to a seed.
FOUND = {
    # A codec id FFmpeg does not know: the stream has no codec context (PyAV gives None).
    "unknown_video_codec": ("vp9_opus", [Mutation("replace", payload=b"V_VP9", into=b"V_QQ9")]),
    "unknown_audio_codec": ("vp9_opus", [Mutation("replace", payload=b"A_OPUS", into=b"A_QQUS")]),
}


@pytest.mark.parametrize("case", [  # (the Matroska codec cases take 8-16 s: the video one runs by default)
    pytest.param(case, marks=pytest.mark.slow) if case == "unknown_audio_codec" else case for case in sorted(FOUND)])
@pytest.mark.slow_cases('unknown_video_codec')
def test_damage_found_by_fuzzing(case, seeds, worker, tmp_path):
    name, changes = FOUND[case]
    source = tmp_path / f"in{seeds[name].suffix}"
    source.write_bytes(mutate(seeds[name].read_bytes(), changes))
    check_property(worker, source, tmp_path)


@pytest.mark.slow
def test_a_stream_ffmpeg_cannot_decode_is_left_out_and_said(seeds, worker, tmp_path):
    source = tmp_path / "in.mkv"
    source.write_bytes(mutate(seeds["vp9_opus"].read_bytes(), FOUND["unknown_audio_codec"][1]))
    assert check_property(worker, source, tmp_path).kind == "ok"
    assert "no codec FFmpeg knows" in (tmp_path / "log.txt").read_text()


@pytest.mark.slow  # (default run's time: 3 s)
def test_a_video_stream_ffmpeg_cannot_decode_is_refused_in_one_line(seeds, worker, tmp_path):
    source = tmp_path / "in.mkv"
    source.write_bytes(mutate(seeds["vp9_opus"].read_bytes(), FOUND["unknown_video_codec"][1]))
    outcome = check_property(worker, source, tmp_path)
    assert outcome.kind == "user_error" and "no video stream FFmpeg can decode" in outcome.detail


# -- inflated sizes -----------------------------------------------------------------------------

def build(name: str, seeds: dict[str, Path], folder: Path) -> Path:
    mp4, avi, mjpeg = seeds["h264_aac"], seeds["mpeg4_mp3"], seeds["mjpeg_pcm"]
    giant = (60000, 60000)
    builders = {
        "giant.y4m": lambda p: y4m(p, *giant, frames=3, payload=bytes(1000)),
        "wide.y4m": lambda p: y4m(p, 100000, 2, frames=2),
        "rate_1e9.y4m": lambda p: y4m(p, 64, 48, rate="1000000000:1"),
        "rate_1e-9.y4m": lambda p: y4m(p, 64, 48, rate="1:1000000000"),
        "rate_0.y4m": lambda p: y4m(p, 64, 48, rate="0:1"),
        "rate_1e9.avi": lambda p: patched(avi, p, [(b"strh", 28, "<II", (1, 10**9))]),
        "rate_1e-9.avi": lambda p: patched(avi, p, [(b"strh", 28, "<II", (10**9, 1))]),
        "giant_mjpeg.avi": lambda p: patched(mjpeg, p, [(b"avih", 40, "<II", giant), (b"strf", 12, "<ii", giant)]),
        "giant_mpeg4.avi": lambda p: patched(avi, p, [(b"avih", 40, "<II", giant), (b"strf", 12, "<ii", giant)]),
        "giant.mp4": lambda p: patched(mp4, p, [(b"stsd>avc1", 28, ">HH", giant),
                                                (b"tkhd", 80, ">II", (giant[0] << 16, giant[1] << 16))]),
        "many_audio.mkv": lambda p: with_streams(mp4, p, "audio", 200),
        "many_subtitles.mkv": lambda p: with_streams(mp4, p, "subtitle", 300),
        "huge_tag.mp4": lambda p: with_metadata(mp4, p, tag_bytes=8_000_000),
        "huge_tag.mkv": lambda p: with_metadata(mp4, p, tag_bytes=8_000_000),
        "many_chapters.mkv": lambda p: with_metadata(mp4, p, chapters=5000),
        "many_chapters.mp4": lambda p: with_metadata(mp4, p, chapters=5000),
        "many_attachments.mkv": lambda p: with_attachments(mp4, p, [8] * 900),
        "large_attachment.mkv": lambda p: with_attachments(mp4, p, [40 << 20]),
        "zero_delay.gif": lambda p: zero_delay_gif(p, 100),
    }
    return builders[name](folder / name)


# (input, output extension; None: the input's, .mkv for the raw formats)
INFLATED = [
    ("giant.y4m", ".mkv"), ("wide.y4m", ".mkv"),
    ("rate_1e9.y4m", ".mp4"), ("rate_1e9.y4m", ".avi"), ("rate_1e-9.y4m", ".mkv"), ("rate_1e-9.y4m", ".avi"),
    ("rate_1e-9.y4m", ".mp4"), ("rate_0.y4m", ".avi"),
    ("rate_1e9.avi", None), ("rate_1e-9.avi", None), ("rate_1e-9.avi", ".mov"), ("rate_1e-9.avi", ".gif"),
    ("giant_mjpeg.avi", None), ("giant_mpeg4.avi", None), ("giant.mp4", None),
    ("many_audio.mkv", None), ("many_audio.mkv", ".mp4"), ("many_subtitles.mkv", ".mp4"),
    ("huge_tag.mp4", None), ("huge_tag.mkv", ".mp4"), ("many_chapters.mkv", None), ("many_chapters.mp4", ".mkv"),
    ("many_attachments.mkv", None), ("large_attachment.mkv", None), ("zero_delay.gif", None),
    ("zero_delay.gif", ".mp4"),
]


@pytest.mark.parametrize("name,ext", [  # (the GIF's thousands of frames take 8-12 s each way)
    pytest.param(n, e, marks=pytest.mark.slow) if n == "zero_delay.gif" else (n, e) for n, e in INFLATED],
    ids=[f"{n}->{e or 'same'}" for n, e in INFLATED])
@pytest.mark.slow_cases(
    'many_audio.mkv->same',
    'many_audio.mkv->.mp4',
    'large_attachment.mkv->same',
    'giant_mpeg4.avi->same',
    'giant_mjpeg.avi->same',
    'huge_tag.mp4->same',
    'huge_tag.mkv->.mp4',
    'rate_1e-9.y4m->.avi',
    'rate_1e9.y4m->.avi',
    'rate_1e-9.y4m->.mp4',
    'many_subtitles.mkv->.mp4',
    'giant.mp4->same',
    'rate_1e9.y4m->.mp4')
@pytest.mark.slow_cases('rate_1e-9.avi->same', 'rate_0.y4m->.avi', 'huge_tag.mkv->.mp4', 'many_chapters.mp4->.mkv', 'many_attachments.mkv->same', 'huge_tag.mp4->same', 'rate_1e-9.avi->.gif', 'many_chapters.mkv->same', 'giant_mjpeg.avi->same', 'rate_1e-9.avi->.mov', 'giant_mpeg4.avi->same', 'rate_1e-9.y4m->.avi', 'rate_1e9.avi->same', 'rate_1e-9.y4m->.mp4', 'rate_1e-9.y4m->.mkv', 'rate_1e9.y4m->.avi', 'many_audio.mkv->.mp4', 'many_subtitles.mkv->.mp4', 'rate_1e9.y4m->.mp4', 'many_audio.mkv->same', 'giant.y4m->.mkv', 'wide.y4m->.mkv', 'large_attachment.mkv->same')  # (default run's time: the other inflated sizes stay)
def test_inflated_sizes_are_bounded(name, ext, seeds, worker, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "run").mkdir()
    source = build(name, seeds, tmp_path / "in")
    outcome = check_property(worker, source, tmp_path / "run", ext or source.suffix, memory_mb=1500)
    if name == "large_attachment.mkv":  # the 40 MB is copied, a few times over at most
        assert outcome.peak_mb < 900, outcome


@pytest.mark.slow
def test_a_gif_of_thousands_of_zero_delay_frames_runs_in_bounded_memory(seeds, worker, tmp_path):
    source = zero_delay_gif(tmp_path / "zero.gif", 2000)  # about 30 s on 2 quiet cores: more than a fuzz case's time
    outcome = check_property(worker, source, tmp_path, ".gif", memory_mb=1500, timeout=4 * TIMEOUT_S)
    assert outcome.peak_mb < 1000


# -- the real CLI on a handful ------------------------------------------------------------------

@pytest.mark.parametrize("case", ["unknown_audio_codec", "unknown_video_codec", "truncated_mp4",
                                  pytest.param("garbage_ts", marks=pytest.mark.slow)])  # (5-10 s)
@pytest.mark.slow_cases('unknown_audio_codec')
def test_the_cli_on_damaged_files(case, seeds, run_cli, weights_env, data_dir, tmp_path, one_thread):
    extra = {
        "truncated_mp4": ("h264_aac", [Mutation("truncate", at=9000)]),
        "garbage_ts": ("mpeg2_ac3", [Mutation("zero", at=3000, length=2000),
                                     Mutation("prepend", payload=b"\xff" * 61)]),
    }
    name, changes = FOUND.get(case) or extra[case]
    source = tmp_path / f"in{seeds[name].suffix}"
    source.write_bytes(mutate(seeds[name].read_bytes(), changes))
    out = tmp_path / "out"
    code, _, err = run_cli("video", source, "-s", data_dir / "style" / "mondrian.jpg", "-o", out)
    if code:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:"), err
        assert not out.exists() or list(out.iterdir()) == []
    else:
        (written,) = out.iterdir()
        assert readable_frames(written) > 0
