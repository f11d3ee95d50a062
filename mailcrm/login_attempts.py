"""Sign-in attempts limited per username and client address (django-axes).

django-axes' backend insists on the request, because it locks out by address. Only a sign-in
form posted over HTTP can be guessed at, and every such path (the dashboard's and the admin's
login views) passes the request; calls without one come from our own code (the test client's
``login()``, management commands), so they skip the lockout check rather than fail."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginAttemptsBackend(AxesStandaloneBackend):
    def authenticate(
        self,
        request: HttpRequest | None = None,
        username: str | None = None,
        password: str | None = None,
        **kwargs,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
