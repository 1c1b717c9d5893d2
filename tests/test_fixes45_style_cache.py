"""A style-cache entry replaced by another process while it is read (two `live` or `image --sheet`
runs filling one cache; tester h8, session 45): safetensors' safe_open opened the file twice by
name, so a rename between the opens paired one entry's header with the next one's data, and the
reader logged `style-cache-rebuild reason=edited, or another style's`, a false reason, and
encoded the style again. The entry is now read once."""

import subprocess
import sys
import textwrap
import time
import types

import numpy as np
import pytest
import torch

from realtime_adain.adain import StyleStats
from realtime_adain.live.styles import StyleLibrary

DIGEST = "d" * 64
WRITER = textwrap.dedent("""
    import sys, types, numpy as np, torch
    from pathlib import Path
    from realtime_adain.adain import StyleStats
    from realtime_adain.live.styles import StyleLibrary
    value, stop = int(sys.argv[1]), Path(sys.argv[2])
    library = StyleLibrary([], types.SimpleNamespace(encoder_id="enc"), 64, Path(sys.argv[3]))
    stats, thumb = StyleStats(torch.full((512,), float(value)), torch.full((512,), value + 1.0)), np.full((64, 64, 3), value, np.uint8)
    print("writing", flush=True)
    while not stop.exists():
        library._store("%s", stats, thumb, "x.jpg")
""" % DIGEST)


@pytest.mark.slow  # (two writer processes for a few seconds)
def test_an_entry_replaced_while_it_is_read_is_read_whole_or_not_at_all(tmp_path):
    cache, stop = tmp_path / "cache", tmp_path / "stop"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(value), str(stop), str(cache)], stdout=subprocess.PIPE, text=True)
               for value in (1, 2)]
    try:
        for writer in writers:
            assert writer.stdout.readline() == "writing\n"
        events: list[tuple] = []
        library = StyleLibrary([], types.SimpleNamespace(encoder_id="enc"), 64, cache, log=lambda event, **fields: events.append((event, fields)))
        whole = 0
        ends = time.monotonic() + 4
        while time.monotonic() < ends:
            read = library._cached(DIGEST)
            if read is not None:
                stats, thumb = read
                value = float(stats.mean[0])
                assert torch.all(stats.mean == value) and torch.all(stats.std == value + 1) and np.all(thumb == value)
                whole += 1
        assert whole > 100 and events == [], events[:3]
    finally:
        stop.touch()
        for writer in writers:
            writer.wait(timeout=60)
