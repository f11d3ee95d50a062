"""A counting SMTP sink for benchmarks: aiosmtpd on loopback in its own process, keeping only
how many messages it accepted (so a million messages cost no memory)."""

from __future__ import annotations

import multiprocessing
import time

from tests.smtp import free_port


class _CountingHandler:
    def __init__(self, counter):
        self.counter = counter

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's naming)
        with self.counter.get_lock():
            self.counter.value += 1
        return "250 OK"


def _serve(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(_CountingHandler(counter), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    while True:
        time.sleep(3600)


class CountingSink:
    """``with CountingSink() as sink:`` … ``sink.count`` messages received so far."""

    def __init__(self):
        self.port = free_port()
        context = multiprocessing.get_context("spawn")
        self._counter = context.Value("q", 0)
        self._ready = context.Event()
        self._process = context.Process(
            target=_serve, args=(self.port, self._counter, self._ready), daemon=True
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
