"""Pictures `video` and `live --source` cannot read named as `image` names them (session 61): a
numbered JPEG XL sequence in `live` was "a codec it does not know" (its first picture was not
read to say why), a numbered AVIF or HEIC sequence (FFmpeg reads one alone, but its sequence
reader has no decoder for them) was the same vague line in both, and a PDF, refused by `image`,
was played by both: FFmpeg's MJPEG probe found its embedded photos (its text lost)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

MONDRIAN = ("style", "mondrian.jpg")


def run_source(run_cli, command: str, source: Path, style: Path, out: Path) -> tuple[int, str, str]:
    if command == "video":
        return run_cli("video", source, "--style", style, "-o", out, "--size", "32", "--style-size", "32")
    return run_cli("live", "--source", source, "--styles", style, "--no-window", "-o", out, "--max-frames", "3",
                   "--size", "32", "--style-size", "32")


def jxl_sequence(folder: Path) -> Path:
    for number in (1, 2):  # (a JPEG XL codestream's signature: what is read to name the format)
        (folder / f"seq_{number:02d}.jxl").write_bytes(b"\xff\x0a" + bytes(64))
    return folder / "seq_%02d.jxl"


def test_live_names_a_jpeg_xl_sequence(run_cli, weights_env, data_dir, tmp_path):
    """Was "seq_%02d.jxl: no video stream FFmpeg can decode (a codec it does not know, ...)"."""
    pattern = jxl_sequence(tmp_path)
    code, _, err = run_source(run_cli, "live", pattern, data_dir.joinpath(*MONDRIAN), tmp_path / "l.mp4")
    assert code == 2
    assert err.strip().splitlines()[-1] == \
        f"error: {pattern}: JPEG XL images cannot be read here; convert it to PNG or JPEG"
    assert not (tmp_path / "l.mp4").exists()


@pytest.mark.parametrize("command", ["video", "live"])
@pytest.mark.parametrize("kind", ["AVIF", "HEIC"])
def test_avif_and_heic_sequences_are_refused_by_name(run_cli, weights_env, data_dir, tmp_path, command, kind):
    """Were "no video stream FFmpeg can decode (a codec it does not know, or a damaged header)"."""
    if kind == "HEIC":
        pytest.importorskip("pillow_heif").register_heif_opener()
    picture = Image.open(data_dir / "content" / "lenna.jpg").resize((32, 32))
    suffix = kind.lower()
    for number in (1, 2):
        picture.save(tmp_path / f"p_{number:02d}.{suffix}")
    pattern = tmp_path / f"p_%02d.{suffix}"
    code, _, err = run_source(run_cli, command, pattern, data_dir.joinpath(*MONDRIAN), tmp_path / "out.mp4")
    assert code != 0
    assert err.strip().splitlines()[-1] == (f"error: {pattern}: {kind} picture sequences cannot be read here (a single "
                                            f"{kind} picture can); convert the pictures to PNG or JPEG")
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("command", ["video", "live"])
def test_a_pdf_is_refused_as_image_refuses_it(run_cli, weights_env, data_dir, tmp_path, command):
    """`video` made a PDF's embedded JPEGs its frames (exit 0) and `live` recorded them."""
    first, second = (Image.open(data_dir / "content" / name).resize((32, 32)) for name in ("lenna.jpg", "flowers.jpg"))
    document = tmp_path / "two.pdf"
    first.save(document, save_all=True, append_images=[second])
    code, _, err = run_source(run_cli, command, document, data_dir.joinpath(*MONDRIAN), tmp_path / "out.mp4")
    assert code != 0
    assert err.strip().splitlines()[-1] == f"error: {document}: a PDF document, not an image; export the page to PNG first"
    assert not (tmp_path / "out.mp4").exists()
