"""`live -o` and the `r` key's recording: an MP4 file that appears only when finalised.

It holds room on its disk ahead of what it writes (`DiskRoom`), so a disk that fills up stops it
at once, playable, rather than losing it; and it is written in fragments (`RECORDING_CONTAINER`),
so a process killed outright (SIGKILL, the OOM killer, a power cut) leaves what it wrote playable.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import threading
from pathlib import Path
from typing import Callable

import av

from realtime_adain.atomic import PendingOutput
from realtime_adain.errors import UserError
from realtime_adain.file_modes import FILE_MODE
from realtime_adain.live.disk_room import DiskRoom
from realtime_adain.live.encoder_thread import EncodedOutput, EncoderThread
from realtime_adain.made_folders import folder_handle, lost_during_run
from realtime_adain.output_paths import MOST_PARTIAL_NUMBERS, link_first_free, partial_path, writable_target
from realtime_adain.stale_temporaries import name_unjudged, of_this_space, temporary_names, writer_gone
from realtime_adain.video.sequence import ffmpeg_name

RECORDING_CLOSE_TIMEOUT = 30.0  # encoding at most QUEUE_FRAMES frames and flushing to a local disk
# A recording is written as fragmented MP4 (a header, then a moof box and the packets for each
# second), which FFmpeg turns into an ordinary MP4 when it is finished (`hybrid_fragmented`: the
# index at the end, as before): a SIGKILL lost the whole file, whose only index is written last,
# and x264 holds ~10 s of frames at 1-2 fps. Each packet is flushed (`flush_packets`) so a killed
# run's last fragments are not left in FFmpeg's 32 KiB buffer. Fragments have no edit list: B-frames'
# delay is taken by negative composition offsets (else every frame played 2 frames late). FFmpeg
# before 8.0 (libavformat 62) has no hybrid mode: a plain MP4 there.
RECORDING_CONTAINER = ({"movflags": "hybrid_fragmented+negative_cts_offsets", "frag_duration": "1000000",
                        "flush_packets": "1"}
                       if av.library_versions["libavformat"] >= (62, 0, 0) else {})


def plays(path: Path) -> bool:
    """Whether a file that had a write error still decodes (FFmpeg may close it without a complaint)."""
    try:
        with av.open(ffmpeg_name(path)) as container:
            next(container.decode(video=0))
        return True
    except (av.FFmpegError, OSError, StopIteration):
        return False


def keep_killed_recordings(final: Path) -> list[Path]:
    """What recordings of `final` killed outright (SIGKILL, a power cut) left, kept as its
    NAME.partial.mp4 (-1, -2, ..., never over a file): their hidden `.NAME.realtime-adain-PID-*.part.mp4`, whose
    process is known to be gone (`writer_gone`: not one of another container's, perhaps recording),
    plays up to its last fragment. One that does not play (killed before its first fragment) is removed. Done as a new recording of that name starts: left hidden, the next
    output into the folder would remove it unseen (stale_temporaries.remove_stale_temporaries).
    One whose writer cannot be looked up (another container's, or this container's before it
    restarted: a new PID namespace) is named, left where it is: it may be recording."""
    hidden = temporary_names(re.escape(final.stem), re.escape(final.suffix))
    kept = []
    try:
        found = [(entry, match) for entry in os.scandir(final.parent)
                 if (match := hidden.fullmatch(entry.name)) and entry.is_file(follow_symlinks=False)]
    except OSError:
        return kept
    entries = [entry for entry, match in found if writer_gone(match)]
    for entry, match in found:
        if not of_this_space(match):
            with contextlib.suppress(OSError):
                name_unjudged(entry.path, "a recording", "; if it is not recording, rename it to keep it "
                              "(untouched a day, the next output into the folder removes it)")
    for entry in entries:
        with contextlib.suppress(OSError):
            if plays(Path(entry.path)):
                os.truncate(entry.path, os.stat(entry.path).st_size)  # (gives back room `DiskRoom` held beyond its end)
                os.chmod(entry.path, FILE_MODE)
                kept.append(_claim_partial_name(Path(entry.path), final))
            os.unlink(entry.path)
    return kept


def _claim_partial_name(path: Path, final: Path) -> Path:
    """`path` at the first free partial name of `final` (OSError if none could be had)."""
    claimed, linked = link_first_free(path, [partial_path(final, number) for number in range(MOST_PARTIAL_NUMBERS)])
    if claimed is None:
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(final))
    if not linked:  # (no hard links here: FAT)
        os.rename(path, claimed)
    return claimed


class Recorder(EncodedOutput):
    """An MP4 file that appears only when finalised: written as a hidden .part file, then renamed.

    A recording that failed (a full disk) keeps its frames as NAME.partial.mp4 if the file could
    still be finalised, else nothing: never a file that does not play. That is settled the moment
    it fails, while the session goes on; `error` is None until then. One killed outright is kept
    so by the next recording of its name (`keep_killed_recordings`).
    """

    key = "path"

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float, log: Callable[..., None],
                 replaces: bool = True) -> None:
        """`replaces`: whether the finished file may replace one at `path` (`-o`, a name the user
        gave), or takes the next free number (`r`, a name chosen free when it began)."""
        self.path = Path(path)
        self.replaces = replaces
        self.published: Path | None = None
        self._settled = False  # what is kept (if anything) is decided and in place
        self._settle_lock = threading.Lock()
        for kept in keep_killed_recordings(writable_target(self.path)):
            log("killed-recording-kept", path=str(kept))
        self._pending = PendingOutput(self.path)
        # (held on the .part's folder: a failure with the .part gone says whether its folder went)
        self._folder = folder_handle(self._pending.path.parent)
        room = DiskRoom(self._pending.path)
        options = {"preset": "veryfast", "crf": "20"}
        try:
            self._encoder = EncoderThread(ffmpeg_name(self._pending.path), "mp4", size, fps, options, log, label=str(self.path),
                                          container_options=RECORDING_CONTAINER, room=room, stopped=self._settle, key=self.key)
        except BaseException:  # (a UserError, or memory short: no .part left either way)
            room.release()
            self._pending.discard()
            self._release_folder()
            raise

    @property
    def written(self) -> int:
        """Frames in the file kept; with none kept, the frames it was given (lost with it): a
        folder removed before the first packet (FFmpeg opens the file then) said frames=0."""
        return self._encoder.written if self.published else self._encoder.taken

    @property
    def error(self) -> str | None:
        """Why the recording stopped, once what it keeps is in place (so a report can name it)."""
        return self._encoder.error if self._settled else None

    @property
    def label(self) -> str:
        return str(self.path)

    @property
    def outcome(self) -> str:
        """Once closed, the file that was kept: the path, its .partial twin, or "" (none)."""
        return str(self.published or "")

    def close(self) -> Path | None:
        """Finalise; the file exists (complete and playable) only if frames were written."""
        self._encoder.close(RECORDING_CLOSE_TIMEOUT)
        self._settle()
        return self.published

    def _settle(self) -> None:
        """Decide what is kept, once: at close, or from the encoder's thread the moment it failed."""
        with self._settle_lock:
            if not self._settled:
                try:
                    self.published = self._finalise()
                finally:
                    self._release_folder()
                self._settled = True

    def _release_folder(self) -> None:
        if self._folder is not None:
            os.close(self._folder)
            self._folder = None

    def _finalise(self) -> Path | None:
        written = self._encoder.written
        if self._encoder.error is not None and not os.path.lexists(self._pending.path):
            # FFmpeg opens the file at the first packet, after x264's lookahead: a folder removed
            # before then was said as FFmpeg's bare "No such file or directory".
            self._encoder.error = str(lost_during_run(self._pending.target, self._pending.path, "its temporary file",
                                                      self._pending.path.parent, self._folder))
        try:
            if written and self._encoder.error is None:
                return self._pending.publish() if self.replaces else self._pending.publish_unclaimed()
            if written and self._encoder.finalised and plays(self._pending.path):
                return self._pending.publish_partial()
        except UserError as exc:  # renaming failed: the recording is lost, say why
            self._encoder.error = self._encoder.error or str(exc)
            return None
        self._pending.discard()
        return None
