"""`serve`'s worker and a dropped upload: a frame taken while its look still named an upload that
was then dropped (its client left, or chose another, and a new upload took the room) said
"stylizing failed: AttributeError: 'NoneType' object has no attribute 'name'" on the server's
stderr; such a frame is dropped quietly, and the frames beside it are stylized as usual."""

from __future__ import annotations

import numpy as np

from realtime_adain.serve import styles as serve_styles
from realtime_adain.serve.batcher import Batcher, Pipeline, _Job
from realtime_adain.serve.control import Look
from test_fixes38_serve_offers import registry  # noqa: F401  (fixture)


def test_frame_whose_upload_was_dropped_is_dropped_quietly(stylizer, registry, monkeypatch, capfd):  # noqa: F811
    monkeypatch.setattr(serve_styles, "MAX_UPLOADS", 1)
    gone = registry.add_upload(np.full((20, 20, 3), 10, np.uint8), "a" * 64)
    delivered: dict[str, list] = {"gone": [], "kept": []}
    pipelines = {key: Pipeline(registry, stylizer, Look(style), delivered[key].append, 0.0)
                 for key, style in (("gone", gone.id), ("kept", "s0"))}
    registry.add_upload(np.full((20, 20, 3), 20, np.uint8), "b" * 64)  # no client holds `gone`: dropped
    assert registry.get(gone.id) is None
    frame = np.zeros((48, 64, 3), np.uint8)
    batcher = Batcher(stylizer, 0, (1280, 720))
    batcher._process([_Job(pipelines["gone"], frame, 0.0), _Job(pipelines["kept"], frame, 0.0)])
    for pipeline in pipelines.values():
        pipeline.stability.close()
    assert not delivered["gone"] and len(delivered["kept"]) == 1
    assert delivered["kept"][0].image.shape == (48, 64, 3)
    assert batcher.error is None and "stylizing failed" not in capfd.readouterr().err
