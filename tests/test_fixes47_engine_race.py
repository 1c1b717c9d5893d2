"""An engine cache file deleted as a run starts (tester h5, session 47): the ONNX engine checked the
cached export, then opened it again for onnxruntime; an `engines clear` between the two was a
traceback ending in onnxruntime's NO_SUCHFILE, though the cache "may be deleted at any time"."""

from __future__ import annotations

import numpy as np
import onnx
import torch

from realtime_adain.engines.cache import EngineCache
from realtime_adain.engines.onnx import OnnxEngine, onnx_components
from test_engines_hostile14 import tiny_onnx


def test_an_export_deleted_once_checked_still_runs(stylizer, tmp_path, monkeypatch):
    """The file goes (as `engines clear` takes it) right after the check has read it: the session
    is made from the bytes that were checked, not from the path again."""
    cache = EngineCache(tmp_path)
    components = onnx_components(stylizer.weights_id)
    entry = cache.store(cache.entry(components, ".onnx"), lambda p: tiny_onnx(p, components))  # (output = input)
    check_model = onnx.checker.check_model

    def check_then_clear(model, *args, **kwargs):
        check_model(model, *args, **kwargs)
        cache.clear()

    monkeypatch.setattr(onnx.checker, "check_model", check_then_clear)
    engine = OnnxEngine(stylizer.net, torch.device("cpu"), torch.float32, stylizer.weights_id, cache)
    assert not engine.built and not entry.path.exists()  # loaded, not exported again
    frame = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    style = stylizer.style_stats(frame)
    assert np.array_equal(engine.stylize(frame, style), frame)  # onnxruntime ran the graph that was checked
