"""How `live` sets up its decoders (tester h4 and fixer f4, session 45): a live feed's frame
threads each held a frame back (15 frames, 0.6 s, on 16 cores, unseen in the HUD's latency), and
an H.264 left crop was applied only as far as kept planes aligned, as `video` did."""

import os
import threading

import numpy as np

from realtime_adain.live.source_opening import open_source
from test_fixes45_video_geometry import ffmpeg


def crop_clip(path):
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=96x32:r=10", "-frames:v", "4", "-pix_fmt", "yuv420p", "-c:v", "libx264",
           "-crf", "10", "-bsf:v", "h264_metadata=crop_left=16:crop_right=16", "-f", "mpegts", str(path))


def test_a_file_is_decoded_with_frame_threads_and_its_left_crop_whole(tmp_path):
    crop_clip(tmp_path / "crop.ts")
    source = open_source(str(tmp_path / "crop.ts"), loop=False)
    try:
        assert source._stream.codec_context.thread_type.name == "AUTO"  # (a file: throughput)
        assert next(iter(source.frames())).shape == (32, 64, 3)  # 80 wide before
    finally:
        source.close()


def test_a_piped_feed_is_decoded_with_slice_threads_only(tmp_path):
    crop_clip(tmp_path / "crop.ts")
    read, write = os.pipe()
    data = (tmp_path / "crop.ts").read_bytes()

    def send():
        with open(write, "wb") as pipe:
            pipe.write(data)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        source = open_source(f"pipe:{read}", loop=False)
        try:
            assert source._stream.codec_context.thread_type.name == "SLICE"  # (frame threads held frames back)
            image = next(iter(source.frames()))
            assert image.shape == (32, 64, 3) and np.isfinite(image).all()
        finally:
            source.close()
    finally:
        sender.join(timeout=30)
        os.close(read)
