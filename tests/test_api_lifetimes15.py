"""The embedded objects across their whole life: threads, sockets and files they own are gone
after `close` (or a failed start), calls after it fail at once with a clear error, and a forked
child gets a working object or a clear error, never a hang. Counted in this process:
`threading.enumerate()` and `/proc/self/fd`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest

from realtime_adain.serve import app as serve_app
from realtime_adain.serve import process as serve_process
from realtime_adain.serve.batcher import Batcher, Pipeline
from realtime_adain.serve.client import FrameSource, ServeClient
from realtime_adain.serve.control import Look
from realtime_adain.temporal import MotionAhead, Stabilizer
from realtime_adain.temporal.flow import Motion
from test_serve import WEBRTC, all_gone, connected, moving, registry, served, settings_for  # noqa: F401 (registry: a fixture)

MOTION_THREADS = "stabilize-motion"


def motion_threads() -> int:
    return sum(t.name.startswith(MOTION_THREADS) for t in threading.enumerate())


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def settled(test, timeout: float = 5.0) -> bool:
    """Whether `test()` held within `timeout` (threads and sockets close a moment after the call)."""
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def flowing_pipeline(stylizer, registry) -> Pipeline:  # noqa: F811
    """A serve pipeline whose stabiliser has started its motion thread (mode flow, two frames)."""
    style = registry.first
    pipeline = Pipeline(registry, stylizer, Look(style.id, stabilize="flow"), lambda _delivery: None, 0.7)
    for k in range(2):
        pipeline.stability.stylize(pipeline.live_state(pipeline.look), moving(k), style.stats)
    return pipeline


# ---- serve: the server's per-client stabiliser ------------------------------------------------

def test_a_discarded_pipeline_stops_its_motion_thread_and_takes_no_more_frames(stylizer, registry, one_thread):  # noqa: F811
    """Without a worker running (before start, after stop) `discard` stops the thread itself; a
    frame handed over after it (the track still delivering while its client closes) is dropped."""
    before = motion_threads()
    batcher = Batcher(stylizer, 0, (1920, 1080))
    pipeline = flowing_pipeline(stylizer, registry)
    assert motion_threads() == before + 1
    batcher.discard(pipeline)
    batcher.discard(pipeline)  # idempotent
    assert motion_threads() == before
    batcher.submit(pipeline, moving(3), time.monotonic())
    assert not batcher._pending


def test_the_worker_stops_a_discarded_pipelines_motion_thread(stylizer, registry, one_thread):  # noqa: F811
    """With the worker running, it stops the thread between batches (the only thread using it)."""
    before = motion_threads()
    batcher = Batcher(stylizer, 0, (1920, 1080))
    batcher.start()
    try:
        pipelines = [flowing_pipeline(stylizer, registry) for _ in range(3)]
        assert motion_threads() == before + 3
        for pipeline in pipelines:
            batcher.discard(pipeline)
        assert asyncio.run(settled(lambda: motion_threads() == before))
    finally:
        batcher.stop()
        batcher.join(10)
    assert not batcher.is_alive()


@pytest.mark.slow  # (default run's time: 2 s)
@WEBRTC
def test_a_clients_stabiliser_thread_ends_with_it(stylizer, registry, one_thread):  # noqa: F811
    """Stabilize `both` runs the client's flow on a motion thread of its own: gone when the client
    leaves, for each of several clients in turn (it was left running, one more per client), and
    when the server stops with clients connected."""
    async def main():
        before = motion_threads()
        async with served(stylizer, registry, stabilize="both") as (server, url):
            for _ in range(2):
                client = await connected(url)
                await client.wait_frames(3)
                running = motion_threads()
                await client.close()
                assert await all_gone(server) == 0
                assert running == before + 1
                assert await settled(lambda: motion_threads() == before), "the client's motion thread still runs"
            last = await connected(url)  # still connected when the server stops
            await last.wait_frames(3)
            assert motion_threads() == before + 1
        await last.close()
        return motion_threads() - before

    assert asyncio.run(main()) == 0


def test_a_closed_server_refuses_to_run_again_and_closes_twice(stylizer, registry):  # noqa: F811
    """Its worker thread runs once: a second run said so (it was "threads can only be started once")."""
    async def main():
        server = serve_app.Server(settings_for(), stylizer, registry, side=0)
        async with serve_process.running(server):
            pass
        await server.close()  # idempotent
        with pytest.raises(RuntimeError, match="make a new Server"):
            async with serve_process.running(server):
                pass
        return server.batcher.is_alive()

    assert not asyncio.run(main())


# ---- serve: the client ---------------------------------------------------------------------------

@WEBRTC
def test_a_failed_connect_closes_the_client(stylizer, registry, one_thread):  # noqa: F811
    """Refused (a token missing) or nobody listening: the client's ICE sockets, opened with its
    offer, are closed (four descriptors were left each time), and it says it is closed."""
    async def main():
        async with served(stylizer, registry, token="secret") as (_server, url):
            await asyncio.sleep(0.2)
            before = open_fds()
            clients = [ServeClient(target, FrameSource(moving)) for target in (url, "http://127.0.0.1:9") for _ in range(3)]
            for client in clients:
                with pytest.raises((ConnectionRefusedError, OSError)):
                    await client.connect()
            assert await settled(lambda: open_fds() <= before), f"{open_fds() - before} descriptors left open"
            for client in clients:
                with pytest.raises(RuntimeError, match="closed"):
                    await client.connect()

    asyncio.run(main())


@WEBRTC
def test_calls_after_close_raise_at_once(stylizer, registry, one_thread):  # noqa: F811
    async def main():
        async with served(stylizer, registry) as (_server, url):
            async with ServeClient(url, FrameSource(moving)) as client:  # connects, and closes after
                await client.wait_frames(2)
            assert client.closed
            await client.close()  # idempotent
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="closed"):
                client.send({"alpha": 0.5})
            with pytest.raises(RuntimeError, match="closed"):
                await client.wait_frames(100, timeout=10)
            with pytest.raises(RuntimeError, match="closed"):
                await client.wait_message(lambda m: "never" in m, timeout=10)
            waiting = await connected(url)  # closed while another task waits on it
            await waiting.wait_frames(1)
            wait = asyncio.ensure_future(waiting.wait_frames(10 ** 6, timeout=20))
            await asyncio.sleep(0.2)
            await waiting.close()
            with pytest.raises(RuntimeError, match="closed"):
                await asyncio.wait_for(wait, 2)
            return time.monotonic() - started

    assert asyncio.run(main()) < 5


@WEBRTC
def test_a_server_that_stops_ends_the_clients_wait(stylizer, registry, one_thread):  # noqa: F811
    """The server closes its peers as it stops: a client waiting for frames hears of it at once
    (it waited out its whole timeout)."""
    async def main():
        async with served(stylizer, registry) as (_server, url):
            client = await connected(url)
            await client.wait_frames(2)
        started = time.monotonic()
        try:
            with pytest.raises(ConnectionError, match="closed"):
                await client.wait_frames(10 ** 6, timeout=20)
        finally:
            await client.close()
        return time.monotonic() - started

    assert asyncio.run(main()) < 5


# ---- temporal.MotionAhead (the lead's file: see the report's patch) ------------------------------

FRAME = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)


def test_motion_ahead_closes_as_a_context_and_refuses_use_after():
    before = motion_threads()
    with MotionAhead(Stabilizer(), workers=2) as ahead:
        ahead.submit(FRAME)
        assert isinstance(ahead.submit(FRAME).result(timeout=10), Motion)
    assert motion_threads() == before
    ahead.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        ahead.submit(FRAME)


def test_motion_ahead_closed_from_another_thread_mid_stream_never_hangs():
    ahead = MotionAhead(Stabilizer(), workers=2)
    ended: list[BaseException] = []

    def stream() -> None:
        try:
            while True:
                ahead.submit(FRAME).result(timeout=10)
        except BaseException as exc:  # what the consumer sees once it is closed
            ended.append(exc)

    consumer = threading.Thread(target=stream)
    consumer.start()
    time.sleep(0.2)
    ahead.close()
    consumer.join(10)
    assert not consumer.is_alive()
    assert not isinstance(ended[0], TimeoutError), ended  # RuntimeError (closed) or CancelledError


def test_motion_ahead_works_in_a_forked_child():
    """The parent's worker threads do not exist in a child: its futures never ran (a hang)."""
    ahead = MotionAhead(Stabilizer(), workers=2)
    for _ in range(2):
        ahead.submit(FRAME).result(timeout=10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave at once
        try:
            ahead.submit(FRAME).result(timeout=4)
            got = type(ahead.submit(FRAME).result(timeout=4)).__name__
        except BaseException as exc:
            got = f"{type(exc).__name__}: {exc}"
        os.write(write, got.encode())
        os._exit(0)
    os.close(write)
    try:
        said = os.read(read, 1000).decode()
    finally:
        os.close(read)
        os.waitpid(pid, 0)
        ahead.close()
    assert said == "Motion", said


def run_past_main(script: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """`script` in a fresh interpreter (the repository importable), whose main thread ends while a
    thread it started still works."""
    path = tmp_path / "past_main.py"
    path.write_text(textwrap.dedent(script))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow  # (default run's time: a child process's whole video)
def test_motion_ahead_on_a_thread_outlives_the_main_thread(tmp_path):
    """Python shuts its thread pools down before it waits for the threads still running: a thread
    streaming frames when the main thread ended got "cannot schedule new futures after shutdown"."""
    done = run_past_main("""
        import threading, time
        import numpy as np
        from realtime_adain.temporal import MotionAhead, Stabilizer
        from realtime_adain.temporal.flow import Motion

        frame = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
        ahead = MotionAhead(Stabilizer(), workers=2)
        def stream():
            futures = []
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                futures.append(ahead.submit(frame))
                time.sleep(0.01)
            got = [type(f.result(timeout=10)).__name__ for f in futures[1:]]
            print("motions", len(got), set(got), flush=True)
        threading.Thread(target=stream).start()
        time.sleep(0.2)  # the main thread ends with the stream under way
    """, tmp_path)
    assert done.returncode == 0 and "Error" not in done.stderr, done.stderr[-2000:]
    assert "{'Motion'}" in done.stdout, done.stdout


@pytest.mark.slow
def test_a_video_stylized_on_a_thread_outlives_the_main_thread(published_weights, tmp_path):
    """The same for `ra.stylize_video` (its stabiliser's motion runs ahead on a pool): the video
    is finished and published, no traceback."""
    vgg, decoder = published_weights
    source, output = tmp_path / "in.mp4", tmp_path / "out.mp4"
    with av.open(str(source), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for k in range(30):
            frame = av.VideoFrame.from_ndarray(moving(k), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    done = run_past_main(f"""
        import threading
        import numpy as np
        import realtime_adain as ra

        st = ra.Stylizer.load({str(vgg)!r}, {str(decoder)!r}, device="cpu")
        style = st.style(np.full((32, 32, 3), 120, np.uint8), size=None)
        threading.Thread(target=ra.stylize_video, args=({str(source)!r}, {str(output)!r}, style),
                         kwargs=dict(stylizer=st)).start()
    """, tmp_path, timeout=240)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert output.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "out.mp4", "past_main.py"]
