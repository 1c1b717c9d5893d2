"""Session 28's hostile findings, each where it failed: weights files that are not PyTorch files,
a legacy pickle with a harmful global, and whatever else this session found."""

from __future__ import annotations

import pickle
import random

import pytest

from realtime_adain import weights
from realtime_adain.errors import UserError


def refusal(path) -> str:
    with pytest.raises(UserError) as caught:
        weights.read_weights(path)
    return str(caught.value).removeprefix(f"{path}: not a readable weights file (").removesuffix(")")


def test_files_that_are_not_pytorch_files_are_said_to_be_so(data_dir, tmp_path):
    """A photo, a web page and random bytes were "a PyTorch file holding more than weights" (a
    JPEG's bytes read as pickle opcodes) or pickle's own words ("pop from empty list")."""
    photo = tmp_path / "photo.pth"
    photo.write_bytes((data_dir / "content" / "sailboat.jpg").read_bytes())
    page = tmp_path / "page.pth"
    page.write_text("<!DOCTYPE html><html><body>Sign in to continue</body></html>\n" * 50)
    assert refusal(photo) == refusal(page) == "not a PyTorch or safetensors file"
    rng = random.Random(28)
    reasons = set()
    for i in range(200):
        junk = tmp_path / f"junk{i}.pth"
        junk.write_bytes(rng.randbytes(rng.randrange(1, 4096)))
        reasons.add(refusal(junk))
    assert reasons <= {"not a PyTorch or safetensors file", "not a PyTorch or safetensors file, or cut short",
                       "a PyTorch file holding more than weights (code or other objects), which is not loaded"}


@pytest.mark.parametrize("tail", [b"", b"\x02", b"\x02\x8a", b"\x04\x95\xff\xff", b"\x02]\x94(X\x05\x00\x00\x00ab"])
def test_a_pickle_cut_short_is_said_to_be_so(tmp_path, tail):
    cut = tmp_path / "cut.pth"
    cut.write_bytes(b"\x80" + tail)
    assert refusal(cut) == "not a PyTorch or safetensors file, or cut short"


def test_a_legacy_pickle_calling_code_is_said_to_hold_more_than_weights(tmp_path):
    path = tmp_path / "legacy.pth"
    path.write_bytes(pickle.dumps(print, protocol=2))  # a global: refused by weights_only, never called
    assert refusal(path) == "a PyTorch file holding more than weights (code or other objects), which is not loaded"
