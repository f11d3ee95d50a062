"""A counting SMTP sink for benchmarks: aiosmtpd on loopback in its own process, keeping how many
messages it accepted and how many of them it had already received (same ``Message-ID``
header, or, for a message without one, the same recipients): the several-workers run must
show 0 duplicates. It keeps one key per message (about 100 bytes; 100 MB for a million).

``sink.count`` is every message accepted, ``sink.duplicates`` those seen before, so
``count - duplicates`` distinct messages arrived."""

from __future__ import annotations

import multiprocessing
import time

from tests.smtp import free_port


def _key(content: bytes, recipients: list[str]) -> bytes:
    """The message's Message-ID header (the head only is searched), else its recipients."""
    head = content[: content.find(b"\r\n\r\n")]
    start = head.find(b"\nMessage-ID:")
    if start < 0:
        start = head.lower().find(b"\nmessage-id:")
    if start >= 0:
        end = head.find(b"\n", start + 1)
        return head[start + 12 : end if end >= 0 else len(head)].strip()
    return ",".join(recipients).encode()


class _CountingHandler:
    def __init__(self, counter, duplicates):
        self.counter = counter
        self.duplicates = duplicates
        self.seen: set[bytes] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        key = _key(envelope.original_content or envelope.content, envelope.rcpt_tos)
        # One event loop: no other handler runs between the test and the add.
        if key in self.seen:
            with self.duplicates.get_lock():
                self.duplicates.value += 1
        else:
            self.seen.add(key)
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def _serve(port: int, counter, duplicates, ready) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_CountingHandler(counter, duplicates), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


class CountingSink:
    """``with CountingSink() as sink:`` … ``sink.count`` messages received so far,
    ``sink.duplicates`` of them received before (same Message-ID)."""

    def __init__(self):
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self._counter = context.Value("q", 0)
        self._duplicates = context.Value("q", 0)
        self._ready = context.Event()
        self._process = context.Process(
            target=_serve,
            args=(self.port, self._counter, self._duplicates, self._ready),
            daemon=True,
        )

    def __enter__(self) -> CountingSink:
        self._process.start()
        if not self._ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")
        return self

    def __exit__(self, *exc) -> None:
        self._process.terminate()
        self._process.join(5)

    @property
    def count(self) -> int:
        return self._counter.value

    @property
    def duplicates(self) -> int:
        return self._duplicates.value

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_for(self, total: int, timeout: float, stall: float | None = None) -> bool:
        """Wait until ``total`` messages have arrived; False after ``timeout`` seconds, or
        after ``stall`` seconds without a new message."""
        deadline = time.monotonic() + timeout
        last, moved = self.count, time.monotonic()
        while self.count < total:
            now = time.monotonic()
            if now > deadline or (stall and now - moved > stall):
                return False
            if self.count != last:
                last, moved = self.count, now
            time.sleep(0.05)
        return True
