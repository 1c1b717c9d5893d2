"""A download's bytes appended to its `.part`, resumed with HTTP Range requests while the
connection drops (`fetch`), and how each body ended.

A server that sends more than the file's known size (or, size unknown,
`download.MAX_DOWNLOAD_BYTES`) is cut off at that size, so a broken or hostile mirror cannot fill
the disk; that deletes the `.part`, as does an error writing it (a full disk), which names the
weights file. One that trickles (under `MinRate`, 4 KiB/s over a minute) is cut off too, so it
cannot hold the command for ever; what it sent stays in the `.part` for the next run to resume, as
after a dropped connection.
"""

from __future__ import annotations

import http.client
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from tqdm import tqdm

from realtime_adain.progress_bars import bar_off
from realtime_adain.checks import ascii_whole
from realtime_adain.download_http import open_url
from realtime_adain.download_urls import shown
from realtime_adain.errors import UserError, one_line


CHUNK = 1 << 20
ATTEMPTS = 4  # one transfer plus three resumes when the connection drops mid-way


def _resumed_offset(response, offset: int) -> int | None:
    """Where the response's body starts: `offset` for a matching 206, 0 for a full 200 body (or a
    206 holding the whole file, asked for whole); None for any other part."""
    status = getattr(response, "status", None) or 200
    if status != 206:
        return 0  # the server ignored the Range header: start over
    match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", response.headers.get("Content-Range", "").strip(), re.I)
    if not match or int(match.group(1)) != offset:
        return None
    # Asked for all, a part of it is refused (docs/weights.md); an unknown total (`*`) is taken, the
    # size and checksum checks follow.
    whole = match.group(3) == "*" or int(match.group(2)) + 1 == int(match.group(3))
    return offset if offset or whole else None


class _WrongRange(Exception):
    """A resumed request answered from another byte than asked (`given`: its Content-Range)."""

    def __init__(self, offset: int, given: str) -> None:
        super().__init__(offset, given)
        self.offset, self.given = offset, given


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@dataclass(frozen=True)
class SizeLimit:
    """The most bytes a download may have, and what that is (for the error): the file's own size
    where `exact` (`why` then names the file), else a bound."""

    limit: int
    why: str
    exact: bool = False

    def exceeded(self, url: str, sent: int | None = None) -> UserError:
        """`sent`: the size the server announced, where it did ("sends more than 80102481 bytes,
        expected 80102481" read as a contradiction for a file of 80109653)."""
        if self.exact and sent is not None:
            amount = f"{sent} bytes, expected {self.limit} ({self.why})"
        elif self.exact:
            amount = f"more than the expected {self.limit} bytes, the size of {self.why}"
        else:
            amount = ("" if sent is None else f"{sent} bytes, ") + f"more than {self.limit} bytes, {self.why}"
        return UserError(f"{shown(url)}: the server sends {amount}; stopped and deleted the download")


@dataclass(frozen=True)
class MinRate:
    """The slowest transfer accepted: fewer than `bytes_per_s` on average over `window_s` seconds
    ends it. The read timeout alone does not bound a server that trickles a byte now and then
    (80 MB at 1 byte/s is years); at the default a whole window of the slowest accepted pace is
    still a working, if poor, connection (32 kbit/s)."""

    bytes_per_s: float = 4096
    window_s: float = 60.0

    def too_slow(self, url: str, received: int, seconds: float, part: Path) -> UserError:
        """`part`: the download so far, kept (its bytes are good, only slow to come) for the next run;
        none yet where the body's first bytes were what was too slow."""
        kept = _size(part)
        kept_words = (f"{kept} bytes kept in {part} (the next run resumes from them)" if kept
                      else "nothing received to keep")
        return UserError(f"{shown(url)}: too slow, {received} bytes in the last {seconds:.0f} s (under "
                         f"{self.bytes_per_s:g} bytes/s); stopped, {kept_words}; try again later, or use a mirror "
                         "with --base-url")


class _PaceWatch:
    """Cuts a body off (`cut_off`, shutting its socket) when fewer than `min_rate` bytes of it came
    in a window (`slow`: how many, in how many seconds). A timer, not a check between reads: a
    chunked body's framing is read inside one `read1`, and a server that sent trailer lines for
    ever, or a chunk-size line a byte every few seconds (each restarting the read timeout), held
    `weights download` for good. Use as a context manager; count each block in `received`."""

    def __init__(self, min_rate: MinRate, cut_off: Callable[[], None]) -> None:
        self.received = 0
        self.slow: tuple[int, float] | None = None
        self._min_rate, self._cut_off = min_rate, cut_off
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "_PaceWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()  # (one cutting off just now: `slow` is set before the read returns)

    def _watch(self) -> None:
        window_start, window_bytes = time.monotonic(), 0
        while not self._done.wait(self._min_rate.window_s):
            elapsed, came = time.monotonic() - window_start, self.received - window_bytes
            if came < self._min_rate.bytes_per_s * elapsed:
                self.slow = (came, elapsed)
                self._cut_off()
                return
            window_start, window_bytes = time.monotonic(), self.received


# How a body ended: as its length or chunked coding says (or, size unknown, at the close: "whole"),
# by an error or short of its Content-Length ("dropped"), or by a close short of the pinned size
# with no length to go by ("closed early": cut, or all of a shorter file; only a resume tells).
Ending = Literal["whole", "dropped", "closed early"]


def _transfer(url: str, part: Path, label: str, limit: SizeLimit, min_rate: MinRate,
              after_close: bool = False) -> tuple[Ending, int, bool]:
    """Append what the server sends to `part` (resuming it), never beyond `limit` bytes in all and
    never slower than `min_rate`; (how the body ended, the byte it was appended at: 0 where `part`
    was started over, whether that was for a 416 to the request for the rest). `after_close`: the
    body before was "closed early", so only a 206 from its end continues it; any other answer (a
    416, the whole file again) says it was all the server has, left to the size check (taken as cut,
    a shorter file was fetched again and again)."""
    offset = _size(part)
    response = open_url(url, offset)
    if after_close and (response is None or _resumed_offset(response, offset) != offset):
        if response is not None:
            response.close()
        return "whole", offset, False
    asked, refused = offset, response is None
    if refused:  # 416: discard the stale partial file and fetch the whole file
        part.unlink(missing_ok=True)
        offset = 0
        response = open_url(url, 0)
    with response:
        if response.headers.get("Content-Type", "").lower().startswith("text/html"):
            raise UserError(f"{shown(url)}: the server answered with a web page (text/html), not the weights file: "
                            "a login or error page, or a wrong URL?")
        # (each header of the name: `identity` then `gzip` passed a check of the first)
        encoding = ", ".join(c for c in _header_values(response.headers, "Content-Encoding") if c != "identity")
        if encoding:  # (its compressed bytes were refused as "not a readable weights file")
            raise UserError(f"{shown(url)}: the server sent the file compressed (Content-Encoding: "
                            f"{one_line(encoding)[:40]}), which was not asked for; try again later, or use a mirror "
                            "with --base-url")
        _refuse_unread_framing(url, response.headers)
        start = _resumed_offset(response, offset)
        if start is None and not offset:  # part of a file it was asked for whole
            raise UserError(f"{shown(url)}: the server answered with part of the file (HTTP 206) to a request for "
                            "all of it; try again later, or use a mirror with --base-url")
        if start is None:  # a range we did not ask for: drop the partial file, start over
            part.unlink(missing_ok=True)
            raise _WrongRange(offset, response.headers.get("Content-Range", ""))
        if asked:  # (said once the answer tells: a server ignoring Range sends the whole file again)
            why = ("the server refuses the range request (HTTP 416)" if refused else
                   "the server sends the whole file (it does not resume)")
            tqdm.write(f"{label}: resuming from byte {offset}" if start else
                       f"{label}: asked from byte {asked}, {why}: downloading again from the start")
        length = ascii_whole(response.headers.get("Content-Length", ""))
        total = start + length if length is not None else None
        # (with neither a length nor chunks, the body ends where the connection does)
        ends_by_close = total is None and not getattr(response, "chunked", False)
        if total is not None and total > limit.limit:
            part.unlink(missing_ok=True)
            raise limit.exceeded(url, total)
        received = start
        if not start:  # a new file, not the old one truncated: a hard link to it elsewhere keeps its bytes
            part.unlink(missing_ok=True)
        with open(part, "ab" if start else "wb") as out, tqdm(
            total=total or (limit.limit if limit.exact else None), initial=start, unit="B", unit_scale=True,
            unit_divisor=1024, desc=label, disable=bar_off(), leave=False,
        ) as bar, _PaceWatch(min_rate, response.cut_off) as pace:
            while True:
                lost = None
                try:
                    block = response.read1(CHUNK)  # what has arrived: `read` would wait for a whole CHUNK
                except (OSError, http.client.HTTPException, OverflowError) as exc:  # reset, timeout, IncompleteRead
                    block, lost = b"", exc  # (OverflowError: a chunk size below -2**63, `_malformed_chunks`)
                if pace.slow is not None:  # (cut off: what read1 made of it, an end or an error, is moot)
                    out.close()
                    raise min_rate.too_slow(url, *pace.slow, part)
                if _malformed_chunks(response, lost):  # (was "interrupted 4 times before any data arrived")
                    out.close()
                    part.unlink(missing_ok=True)
                    raise UserError(f"{shown(url)}: the server's answer is malformed (chunked, but its body is not in "
                                    "chunks); stopped and deleted the download; try again later, or use a mirror "
                                    "with --base-url")
                if lost is not None:
                    tqdm.write(f"{label}: connection lost after {received} bytes ({type(lost).__name__})")
                    return "dropped", start, refused
                if not block:
                    break
                if received + len(block) > limit.limit:
                    out.close()
                    part.unlink(missing_ok=True)
                    raise limit.exceeded(url)
                out.write(block)
                received += len(block)
                pace.received += len(block)
                bar.update(len(block))
            out.flush()
            os.fsync(out.fileno())
        if total is not None and received < total:
            return "dropped", start, refused
        if ends_by_close and limit.exact and received < limit.limit:
            tqdm.write(f"{label}: the server closed the connection after {received} of the {limit.limit} bytes")
            return "closed early", start, refused
        return "whole", start, refused


def _header_values(headers, name: str) -> list[str]:
    """The comma-separated values of each `name` header (one or several), stripped, lower case."""
    return [v.strip().lower() for header in headers.get_all(name) or () for v in header.split(",") if v.strip()]


def _refuse_unread_framing(url: str, headers) -> None:
    """Refuse an answer whose body's framing would end up in the file: a transfer coding other
    than exactly `chunked` (http.client unchunks only that one: "gzip, chunked" was written with
    its chunk-size lines, and the file was blamed), or Content-Length headers that disagree (the
    first was taken: 10 bytes read of a longer file; RFC 9110 calls the answer invalid)."""
    codings = _header_values(headers, "Transfer-Encoding")
    if codings not in ([], ["chunked"], ["identity"]):  # (identity: none, as HTTP/1.1's first RFC had it)
        raise UserError(f"{shown(url)}: the server sent the file in a transfer coding that was not asked for "
                        f"(Transfer-Encoding: {one_line(', '.join(codings))[:40]}; only chunked is read); try again "
                        "later, or use a mirror with --base-url")
    lengths = list(dict.fromkeys(_header_values(headers, "Content-Length")))
    if len(lengths) > 1:
        said = " and ".join(one_line(length)[:20] for length in lengths[:3])
        raise UserError(f"{shown(url)}: the server's answer is malformed (Content-Length {said} at once); try "
                        "again later, or use a mirror with --base-url")


def _malformed_chunks(response, lost: BaseException | None) -> bool:
    """Whether a chunked body's framing is not chunks, after a read (`lost`: its error, if any). A
    negative chunk size ("-10") http.client takes, and `read1` hands on what follows, framing
    included, as the body's bytes: the chunk's count left is below zero then (checked before the
    block is written). A chunk-size line that is no number, or longer than a line may be, fails the
    read, as a connection lost at a chunk's end does: http.client raises IncompleteRead for both,
    after a ValueError from the size line (empty where it was lost). A size past a C ssize_t
    ("-8000000000000001") fails `read1` with an OverflowError (a traceback, its .part left)."""
    if isinstance(lost, OverflowError):
        return True
    chunk_left = getattr(response, "chunk_left", None) if getattr(response, "chunked", False) else None
    if isinstance(chunk_left, int) and chunk_left < 0:
        return True
    size_line = lost.__context__ if lost is not None else None
    return isinstance(lost, http.client.LineTooLong) or (
        isinstance(lost, http.client.IncompleteRead) and isinstance(size_line, ValueError)
        and not str(size_line).endswith(": b''"))


def fetch(url: str, part: Path, label: str, limit: SizeLimit, attempts: int = ATTEMPTS,
          min_rate: MinRate = MinRate()) -> bool:
    """Download `url` into `part` (at most `limit` bytes, at least `min_rate`), resuming with Range
    requests while the connection drops. True when the file is built on the bytes `part` held
    before (an earlier run's, perhaps from another URL: nothing says where they came from)."""
    if limit.exact and _size(part) == limit.limit:  # (a run stopped while verifying it: asking for more is a 416)
        return True
    try:
        return _fetch_resuming(url, part, label, limit, attempts, min_rate)
    except BaseException:  # (a Ctrl-C too) an empty `.part` is nothing to resume, and kept the run's new folders
        if not _size(part):
            part.unlink(missing_ok=True)
        raise


def _fetch_resuming(url: str, part: Path, label: str, limit: SizeLimit, attempts: int, min_rate: MinRate) -> bool:
    """`fetch` once the `.part` needs more bytes."""
    wrong_range = None
    on_kept = _size(part) > 0
    ending = None
    restarted = None  # how the last try, asked for the rest, started over instead
    for _ in range(attempts):
        asked = _size(part)
        try:
            ending, start, refused = _transfer(url, part, label, limit, min_rate, after_close=ending == "closed early")
            on_kept &= start > 0
            if ending == "whole":
                return on_kept
            wrong_range, restarted = None, None
            if asked and not start:
                restarted = "it refuses the range request: HTTP 416" if refused else "it sends the whole file again"
        except _WrongRange as exc:
            wrong_range, on_kept, restarted = exc, False, None
            tqdm.write(f"{label}: asked from byte {exc.offset}, the server sent {one_line(exc.given[:80]) or 'no range'}: starting over")
    if restarted:  # (what `part` holds is not worth keeping: the next run starts over too)
        part.unlink(missing_ok=True)
        raise UserError(f"{shown(url)}: download interrupted {attempts} times, and the server does not resume (asked "
                        f"for the rest, {restarted}); try again later, or use a mirror with --base-url")
    have = _size(part)
    if not have and wrong_range is not None:  # (data came each time; what it resumed with did not fit)
        raise UserError(f"{shown(url)}: download interrupted {attempts} times, and the server answers a resumed "
                        f"request with another part of the file (asked from byte {wrong_range.offset}, sent "
                        f"{one_line(wrong_range.given[:80]) or 'no range'}); try again later, or use a mirror with --base-url")
    if not have:  # nothing to resume from
        raise UserError(f"{shown(url)}: download interrupted {attempts} times before any data arrived")
    raise UserError(
        f"{shown(url)}: download interrupted {attempts} times ({have} bytes kept in {part}); "
        "run `realtime-adain weights download` again with the same options (URLs, --dir, --no-checksum) to resume"
    )
