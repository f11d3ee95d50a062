"""Every URL route of the project, read from the URL configuration, for the tests that walk
them all (isolation, scopes, query counts): a new route is walked without being listed."""

from __future__ import annotations

from typing import Any, NamedTuple

from django.urls import URLPattern, URLResolver, get_resolver


class Route(NamedTuple):
    path: str  # the pattern's text, prefixes joined: "api/v1/contacts/<uuid:pk>"
    name: str  # namespaced: "dashboard:contacts:contact"
    callback: Any


def all_routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str = "", namespace: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            elif isinstance(pattern, URLPattern):
                path = prefix + str(pattern.pattern)
                found.append(Route(path, f"{namespace}:{pattern.name}", pattern.callback))

    walk(get_resolver().url_patterns)
    return found
