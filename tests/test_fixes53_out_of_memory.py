"""Memory running out mid-run, as the allocators say it: oneDNN's "could not create a primitive"
(torch's CPU convolutions) is out of memory, not a bug's traceback; serve says it in its words."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from realtime_adain.errors import UserError, is_out_of_memory, out_of_memory_as_user_error
from realtime_adain.serve.batcher import OUT_OF_MEMORY, Batcher


def test_onednn_failing_to_create_a_primitive_is_out_of_memory():
    failure = RuntimeError("could not create a primitive")
    assert is_out_of_memory(failure)
    with pytest.raises(UserError, match="^clip.mp4: out of memory; lower --size$"):
        with out_of_memory_as_user_error("clip.mp4"):
            raise failure


def test_serve_says_out_of_memory_in_its_words_once(capsys):
    batcher = SimpleNamespace(error=None)
    for _ in range(3):
        Batcher._failed(batcher, RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                                              "can't allocate memory: you tried to allocate 235929600 bytes."))
    said = capsys.readouterr()
    lines = (said.out + said.err).splitlines()
    assert lines == [f"serve: stylizing failed: {OUT_OF_MEMORY}"], lines


def test_a_style_that_runs_out_of_memory_names_itself_and_style_size(tmp_path):
    """`image c.png -s big.png --style-size 4096` out of memory said "c.png: out of memory; lower
    --size": the content and an option that changes nothing there."""
    from realtime_adain.styles import StyleSet

    class Starved:
        def style_stats(self, *args):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 235929600 bytes")

    style = tmp_path / "big.png"
    with pytest.raises(UserError, match=f"^{style}: out of memory; lower --style-size$"):
        StyleSet(Starved(), {style: None}, 4096, False).stats(style, None)
