"""A small HTTP client for the mailcrm REST API: authentication, the API's error format,
retries with backoff, ``Retry-After``, and cursor pagination."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from mailcrm_cli import __version__

# Exit codes (documented in the README and in `mailcrm-cli --help`).
EXIT_OK = 0
EXIT_API_ERROR = 1  # the API refused the request (4xx other than 401/403)
EXIT_USAGE = 2  # bad command line or missing configuration (click uses 2 as well)
EXIT_UNAVAILABLE = 3  # network failure, 5xx or 429 still failing after the retries
EXIT_AUTH = 4  # 401 (missing, wrong or revoked key) or 403 (the key may not do this)

API_PREFIX = "/api/v1"
# A request that never reached the server is always safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# Answers that say the server did not act on the request (a proxy or an overloaded server).
_UNAVAILABLE = {502, 503, 504}
_IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}
MAX_RETRY_AFTER = 120.0


class CliError(Exception):
    """An error the command line reports and turns into an exit code."""

    exit_code = EXIT_API_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(CliError):
    exit_code = EXIT_USAGE


class NetworkError(CliError):
    exit_code = EXIT_UNAVAILABLE


class ApiError(CliError):
    """An error answer of the API: ``{"error": {"code", "message", "fields", …}}``."""

    def __init__(self, status: int, body: Any, text: str = "") -> None:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            error = {}
        message = error.get("message") or (text.strip()[:200] if text else "") or "Error."
        super().__init__(str(message))
        self.status = status
        self.code: str = str(error.get("code") or "error")
        self.fields: dict[str, list[str]] = error.get("fields") or {}
        # Anything else the API put in the error (e.g. the existing contact's id on a 409).
        self.extra = {
            key: value
            for key, value in error.items()
            if key not in ("code", "message", "fields") and value is not None
        }
        self.body = body
        if status in (401, 403):
            self.exit_code = EXIT_AUTH
        elif status >= 500 or status == 429:
            self.exit_code = EXIT_UNAVAILABLE


def api_base(url: str) -> str:
    """``https://crm.example.com`` → ``https://crm.example.com/api/v1`` (kept if already there)."""
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"The URL must start with http:// or https:// (got {url!r}).")
    if not url.endswith(API_PREFIX):
        url += API_PREFIX
    return url


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Client:
    """Talks to one mailcrm server with one API key.

    Retries: a request that never reached the server, a 502/503/504 and a 429 are retried for
    any method (the server did not act on them); other 5xx and broken connections are retried
    only when repeating the request is harmless (GET, PUT, DELETE…, or a POST carrying an
    ``Idempotency-Key``). Waits grow 0.5 s, 1 s, 2 s… with jitter; a 429's ``Retry-After``
    is honoured (up to two minutes).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> None:
        self.base = api_base(url)
        self.retries = max(0, retries)
        self.backoff = backoff
        self.sleep = sleep
        self.on_retry = on_retry
        self.http = httpx.Client(
            timeout=timeout,
            headers={
                "X-API-Key": api_key,
                "Accept": "application/json",
                "User-Agent": f"mailcrm-cli/{__version__}",
            },
            follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def url(self, path: str) -> str:
        return self.base + "/" + path.lstrip("/")

    # --- sending -------------------------------------------------------------------------

    def _may_repeat(self, method: str, headers: dict[str, str] | None) -> bool:
        has_key = any(name.lower() == "idempotency-key" for name in headers or {})
        return method in _IDEMPOTENT or has_key

    def _wait(self, attempt: int, reason: str, retry_after: float | None = None) -> None:
        delay = retry_after
        if delay is None:
            delay = self.backoff * (2**attempt) * (1 + random.random() * 0.25)
        if self.on_retry:
            self.on_retry(reason, delay)
        self.sleep(delay)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a request with retries; return a 2xx response or raise ``CliError``."""
        method = method.upper()
        params = {k: v for k, v in (params or {}).items() if v is not None and v != ()}
        may_repeat = self._may_repeat(method, headers)
        attempt = 0
        while True:
            request = self.http.build_request(
                method,
                self.url(path),
                params=params,
                json=json,
                data=data,
                files=files,
                headers=headers,
            )
            try:
                response = self.http.send(request, stream=stream)
            except httpx.TransportError as exc:
                retryable = isinstance(exc, _NOT_SENT) or may_repeat
                if retryable and attempt < self.retries:
                    self._wait(attempt, f"network error ({exc.__class__.__name__})")
                    attempt += 1
                    continue
                raise NetworkError(
                    f"Cannot reach {self.base}: {exc or exc.__class__.__name__}"
                ) from None
            status = response.status_code
            if status < 400:
                return response
            retryable = status == 429 or status in _UNAVAILABLE or (status >= 500 and may_repeat)
            if retryable and attempt < self.retries:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                response.close()
                self._wait(attempt, f"HTTP {status}", wait)
                attempt += 1
                continue
            raise self._error(response)

    @staticmethod
    def _error(response: httpx.Response) -> ApiError:
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = None
        return ApiError(response.status_code, body, response.text)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and decode the JSON answer (``None`` for an empty one, e.g. 204)."""
        response = self.send(method, path, **kwargs)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"The server answered {response.status_code} with something that is not JSON "
                f"({response.headers.get('content-type', 'no content type')})."
            ) from None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Any:
        return self.request("POST", path, json=body, **kwargs)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.request("DELETE", path, **kwargs)

    @contextmanager
    def stream(self, path: str, **params: Any) -> Iterator[httpx.Response]:
        """A streamed GET (for CSV exports); the body is read by the caller."""
        response = self.send("GET", path, params=params, stream=True)
        try:
            yield response
        finally:
            response.close()

    # --- pagination ----------------------------------------------------------------------

    def paginate(
        self, path: str, params: dict[str, Any] | None = None, *, limit: int | None = 50
    ) -> Iterator[dict]:
        """Yield items across cursor pages until ``limit`` (``None``: all of them).

        The cursor is taken out of ``next`` and sent to our own base URL, so a server that
        builds ``next`` with another host name (behind a proxy) still pages correctly."""
        params = dict(params or {})
        page_size = 500 if limit is None else max(1, min(limit, 500))
        params["page_size"] = page_size
        seen = 0
        while True:
            page = self.get(path, **params)
            for item in page.get("results", []):
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            cursor = next_cursor(page.get("next"))
            if not cursor:
                return
            params["cursor"] = cursor


def next_cursor(next_url: str | None) -> str | None:
    if not next_url:
        return None
    values = parse_qs(urlsplit(next_url).query).get("cursor")
    return values[0] if values else None
