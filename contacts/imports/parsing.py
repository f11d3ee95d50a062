"""Reading and validating an import's rows into chunks, on a thread of its own.

Parsing is pure Python (the csv module, clean_row, the COPY values); writing a chunk is mostly
waiting for the database. Run one after the other, each leaves a core idle; here the next
chunk is parsed while the database writes the previous one (psycopg releases the GIL while
it waits), and no database work happens on the parsing thread, so the job keeps one
connection and one transaction per chunk."""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from contacts.imports.reading import Unreadable
from contacts.imports.rows import Plan, Row, clean_row
from contacts.imports.writing import prepare
from contacts.properties import PropertyError

# How many parsed chunks may wait for the writer: enough to keep both sides busy, few enough
# that memory stays a few chunks.
AHEAD = 2


@dataclass
class Chunk:
    rows: list[Row] = field(default_factory=list)
    # (row number, reason) of the rows refused while reading this chunk, in file order.
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _digest(email: str) -> int:
    return int.from_bytes(hashlib.blake2b(email.encode(), digest_size=16).digest())


def chunks(records: Iterator[tuple[int, list[str]]], plan: Plan, size: int) -> Iterator[Chunk]:
    """Validated rows in chunks of ``size``, duplicates of an earlier row refused. The last
    chunk may be empty (it still carries the rejections after the last full chunk)."""
    # Addresses seen so far, by a 128-bit digest rather than the text: 125 instead of 150 MB
    # for a million (this map is most of a 1,000,000-row import's peak memory); the chance of
    # a collision among a million addresses is below 1 in 10^26.
    seen: dict[int, int] = {}
    chunk = Chunk()
    try:
        for number, cells in records:
            try:
                row = clean_row(plan, number, cells)
            except PropertyError as exc:
                chunk.rejected.append((number, str(exc)))
                continue
            first = seen.setdefault(_digest(row.email_lower), number)
            if first != number:
                chunk.rejected.append((number, f"{row.email} already appears in row {first}"))
                continue
            chunk.rows.append(row)
            if len(chunk.rows) >= size:
                prepare(chunk.rows)
                yield chunk
                chunk = Chunk()
    except Unreadable as exc:
        reason = f"cannot be read ({exc.reason}); the rest of the file is skipped"
        chunk.rejected.append((exc.row, reason))
    prepare(chunk.rows)
    yield chunk


_DONE = object()


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


def ahead(items: Iterator[Any], depth: int = AHEAD) -> Iterator[Any]:
    """Yield what ``items`` yields, producing it on another thread up to ``depth`` items in
    advance. An exception there is raised here; when the consumer stops early, the thread
    stops too."""
    handoff: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Failed(exc))
            return
        put(_DONE)

    thread = threading.Thread(target=produce, name="import-parser", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item
    finally:
        stop.set()
        thread.join()
