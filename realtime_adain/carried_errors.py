"""An exception of a caller's own iterable carried through a stream of ours (an engine's threads,
its out-of-memory wording) and raised as itself at the end: a MemoryError of the caller's frame
generator was said as the engine's ('frames: out of memory; lower batch')."""

from __future__ import annotations

from typing import Iterable, Iterator


class CallersError(Exception):
    """An exception of the caller's own iterable, carried through the engine's stream
    (`errors_carried`) to be raised as itself (`callers_errors_raised`): a MemoryError of the
    caller's frame generator was said as the engine's ('frames: out of memory; lower batch'), the
    original suppressed."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__} from the caller's iterable")
        self.error = error


def errors_carried(items: Iterable) -> Iterator:
    """`items`, what iterating them raises carried as a `CallersError`."""
    try:
        iterator = iter(items)
    except Exception as exc:
        raise CallersError(exc) from None
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as exc:
            raise CallersError(exc) from None
        yield item


def callers_errors_raised(results: Iterator) -> Iterator:
    """`results`, a `CallersError` raised as the caller's own error it carries."""
    try:
        yield from results
    except CallersError as carried:
        error = carried.error
    else:
        return
    try:
        raise error  # (outside the except: not "during handling of" the carrier)
    finally:  # (a local holding it, and its traceback this frame: a cycle kept the caller's frames, and their copies)
        del error
