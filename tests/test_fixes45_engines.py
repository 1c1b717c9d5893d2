"""An engine cached before the network's code changed (tester h5, session 45): the key held the
weights, precision, opset and versions, but nothing of the code the graph is made from, so `auto`
loaded an export of an edited checkout's older network, 109 levels off the eager engine."""

import shutil
from pathlib import Path

import realtime_adain
from realtime_adain.engines.cache import graph_code
from realtime_adain.engines.onnx import onnx_components

PACKAGE = Path(realtime_adain.__file__).resolve().parent


def test_an_edit_of_the_network_code_gives_another_engine_key(tmp_path):
    copy = tmp_path / "realtime_adain"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = graph_code("engines/onnx.py", copy)
    assert before == graph_code("engines/onnx.py")  # (the same code: the same key)
    adain = copy / "adain.py"
    adain.write_text(adain.read_text().replace("EPS = ", "EPS = 10 * ", 1))
    graph_code.cache_clear()  # (each process reads its code once)
    assert graph_code("engines/onnx.py", copy) != before


def test_the_code_is_a_component_of_both_engines_keys():
    assert onnx_components("w")["code"] == graph_code("engines/onnx.py") != graph_code("engines/tensorrt.py")
    assert 'graph_code("engines/tensorrt.py")' in (PACKAGE / "engines" / "tensorrt.py").read_text()  # (no GPU here to call it)
