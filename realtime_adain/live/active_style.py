"""The style in use (`ActiveStyle`): the statistics the next frame uses, from a `StyleLibrary`'s
styles, with colour references encoded in the background (`_Encode`; `NoLongerWanted`).
"""

from __future__ import annotations

import threading
import time
from typing import Callable

import numpy as np

from realtime_adain.adain import StyleStats
from realtime_adain.errors import UserError
from realtime_adain.live.style_names import display_names, printable_log
from realtime_adain.live.styles import Style, StyleLibrary


class NoLongerWanted(Exception):
    """A colour reference's state was superseded (`ActiveStyle(current=...)`) before its encode ended."""


class _Encode(threading.Thread):
    """One style's encode in a colour reference's colours, off the thread that waits for it, so
    that the wait can end when its state is no longer wanted. Not a daemon: one left running
    is finished before the interpreter's teardown (torch aborted the process under a thread)."""

    def __init__(self, work: Callable[[], StyleStats]) -> None:
        super().__init__(name="colour-reference")
        self.work = work
        self.stats: StyleStats | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.stats = self.work()
        except BaseException as exc:  # raised again by the waiting thread, as if it had encoded
            self.error = exc

    def outcome(self) -> StyleStats:
        if self.error is not None:
            raise self.error
        return self.stats


WAIT_POLL_S = 0.05  # how often a colour reference's wait asks whether its state is still wanted


class ActiveStyle:
    """The statistics the next frame uses, recomputed only when the choice of style changes.

    Switching and mixing are free (cached statistics, and a mix of statistics is a weighted sum).
    Colour preservation needs the style recoloured to the content, which means encoding it again:
    that happens once, with the frame at hand as the colour reference, when it is switched on or
    the style changes while it is on (key `c` twice takes a new reference), never per frame.
    Given `current` (the state the session wants now), a reference whose state was superseded
    meanwhile (`c` pressed again) is not encoded, nor waited for: `c` twice quickly froze the
    picture for the seconds of an encode no frame would use.
    The choice is looked up again only when the state changes (a key, or a rescan, after which
    the controller always has a new state), and includes the files' digests, so a style edited
    on disk and rescanned is used from the next frame on (`look`: and starts the stabiliser afresh).
    """

    def __init__(self, library: StyleLibrary, log: Callable[..., None] = lambda *args, **kwargs: None,
                 stopped: Callable[[], bool] = lambda: False, current: Callable[[], object] | None = None) -> None:
        """`stopped()`: the session is ending; a colour reference then encodes no further style.
        `current()`: the state wanted now (the controller's); without it, every state asked for is
        wanted and its reference is encoded on the calling thread."""
        self.library = library
        self.log = printable_log(log)
        self.stopped = stopped
        self.current = current
        self._last_encode: _Encode | None = None  # the last colour reference's encode (one left running: at most one)
        self.encoding = False  # a colour reference is being encoded (the exit does not wait for it)
        # (state, `choice(state)`) as one value: `look` is also asked on the window's thread (`s` while paused)
        self._chosen: tuple[object, tuple[list[Style], tuple]] = (None, ([], ()))
        self._key: tuple | None = None
        self._stats: StyleStats | None = None

    def stats(self, state, frame: np.ndarray) -> StyleStats:
        """`state` is the controller's `LiveState`; `frame` (RGB) is the colour reference if needed."""
        chosen, key = self._choice_of(state)
        if key != self._key or self._stats is None:
            try:
                self._stats = self._compute(chosen, state.mix, frame if state.preserve_color else None, key)
            except NoLongerWanted:  # (this frame, already superseded, in the styles' own colours; nothing kept)
                return self._compute(chosen, state.mix, None, key)
            self._key = key
        return self._stats

    def look(self, state) -> tuple:
        """What the picture depends on: `state.look` and the files of the styles it chooses (their
        digests). A style edited on disk and rescanned keeps its name but not its look: the
        stabiliser starts afresh and a paused frame is stylized again, as after a key."""
        return state.look + (self._choice_of(state)[1][0],)

    def _choice_of(self, state) -> tuple[list[Style], tuple]:
        """`choice(state)`, looked up once per state (an immutable value) for `stats` and `look` alike."""
        chosen_for, chosen = self._chosen
        if state is not chosen_for:
            chosen = self.choice(state)
            self._chosen = (state, chosen)
        return chosen

    def choice(self, state) -> tuple[list[Style], tuple]:
        """The styles `state` names (the first style for a name gone) and the key of their
        statistics: the same key, the same statistics (`serve` compares keys on its worker while
        a colour reference is encoded on another thread; this reads nothing that encoding changes)."""
        styles = self.library.styles  # one list: a rescan replaces it whole, meanwhile too
        names = display_names(styles)
        wanted = [state.style_name] + ([state.style_names[state.next_style]] if state.mix else [])
        chosen = [styles[names.index(name)] if name in names else styles[0] for name in wanted]
        key = (tuple(style.digest for style in chosen), state.mix, state.preserve_color,
               state.color_epoch if state.preserve_color else 0)
        return chosen, key

    def _compute(self, chosen: list[Style], mix: float, reference: np.ndarray | None, key: tuple) -> StyleStats:
        stats = [style.stats for style in chosen]
        if reference is not None:
            stats = self._recoloured(chosen, reference, key) or stats
        return stats[0] if len(stats) == 1 else StyleStats.mix(stats, [1.0 - mix, mix])

    def _recoloured(self, chosen: list[Style], reference: np.ndarray, key: tuple) -> list[StyleStats] | None:
        """The styles encoded in the reference's colours; None (the cached statistics are used,
        and the log says why) when an image is no longer usable: deleted or replaced on disk
        while running, which must not end the session (nor, in `serve`, lose other clients' frames).
        ValueError: `Stylizer.style_stats` refusing the image it was given. Once `stopped()`, no
        further style is encoded (None): each takes seconds at a large --style-size on a CPU.
        NoLongerWanted: `key` is not the current state's (nothing said: no reference was taken)."""
        started, stats = time.monotonic(), []
        self.encoding = True
        try:
            for style in chosen:
                if self.stopped():
                    return None
                if not self._wanted(key):
                    raise NoLongerWanted
                stats.append(self._encoded(style, reference, key))
        except (UserError, OSError, ValueError) as exc:
            self.log("color-reference-failed", reason=str(exc), using="the style's colours")
            return None
        finally:
            self.encoding = False
        self.log("color-reference", styles=len(chosen), ms=round(1000 * (time.monotonic() - started)))
        return stats

    def _wanted(self, key: tuple) -> bool:
        """Whether the state wanted now still chooses statistics of `key` (always, without `current`)."""
        return self.current is None or self._choice_of(self.current())[1] == key

    def _encoded(self, style: Style, reference: np.ndarray, key: tuple) -> StyleStats:
        """`style` encoded in the reference's colours: here without `current`; else on its own
        thread (`_Encode`, after one left running before it: never two at once), waited for while
        `key` is wanted (NoLongerWanted once it is not; the encode then ends unwatched). While the
        session stops it is waited for, as an encode here would be (the exit does not wait for it)."""
        def encode() -> StyleStats:
            return self.library.stylizer.style_stats(self.library.style_image(style), color_reference=reference)

        if self.current is None:
            return encode()
        if self._last_encode is not None:
            self._waited(self._last_encode, key)
        self._last_encode = _Encode(encode)
        self._last_encode.start()
        return self._waited(self._last_encode, key).outcome()

    def _waited(self, work: _Encode, key: tuple) -> _Encode:
        """`work` once it has ended, asking meanwhile whether `key` is still wanted (once at least)."""
        while True:
            if not self.stopped() and not self._wanted(key):
                raise NoLongerWanted
            work.join(WAIT_POLL_S)
            if not work.is_alive():
                return work
