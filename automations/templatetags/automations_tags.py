"""Template helpers other apps' pages use to offer automations (the contacts bulk bar)."""

from __future__ import annotations

from typing import Any

from django import template

from automations.models import Automation

register = template.Library()


@register.simple_tag
def enrollable_automations(workspace: Any) -> list[tuple[Any, str]]:
    """(id, name) of the workspace's automations contacts may be enrolled in by hand."""
    if workspace is None:
        return []
    return list(
        Automation.objects.for_workspace(workspace)
        .enrollable()
        .order_by("name")
        .values_list("pk", "name")
    )
