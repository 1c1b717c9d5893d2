"""`image --json` and `video --json`: one object per output on stdout, nothing else there."""

from __future__ import annotations

import json

KEYS = {"input", "styles", "output", "width", "height", "frames", "seconds", "device", "engine"}


def test_image_json_has_one_object_per_output(weights_env, run_cli, data_dir, tmp_path):
    content = data_dir / "content" / "sailboat.jpg"
    styles = [data_dir / "style" / "mondrian.jpg", data_dir / "style" / "trial.jpg"]
    code, out, err = run_cli("image", content, "-s", styles[0], "-s", styles[1], "--size", "32", "--style-size", "32",
                             "-o", tmp_path / "out", "--json")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 2 and all(set(r) == KEYS for r in records)
    assert sorted(r["styles"][0] for r in records) == sorted(map(str, styles))
    for record in records:
        assert (tmp_path / "out").joinpath(record["output"].rsplit("/", 1)[-1]).is_file()
        assert record["frames"] is None and record["device"] == "cpu" and record["engine"] == "eager"


def test_video_json_counts_frames(weights_env, run_cli, data_dir, tmp_path):
    output = tmp_path / "clip.mp4"
    code, out, err = run_cli("video", data_dir / "videos" / "cutBunny.mp4", "-s", data_dir / "style" / "mondrian.jpg",
                             "--size", "32", "--style-size", "32", "--frames", "6", "-o", output, "--json")
    assert code == 0, err
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert set(record) == KEYS | {"stabilize", "stabilize_passes", "stabilize_strength", "start", "duration", "streams"}
    assert [(s["kind"], s["action"]) for s in record["streams"]] == [("audio", "copied")]
    assert (record["start"], record["duration"]) == (0.0, None)
    assert record["output"] == str(output) and record["frames"] == 6 and (record["width"], record["height"]) == (640, 360)
    assert (record["stabilize"], record["stabilize_passes"], record["stabilize_strength"]) == ("flow", 2, 0.5)  # the defaults
