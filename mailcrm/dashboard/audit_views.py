"""Settings → Audit log (owners and admins): who changed what, newest first, filtered with the
same FilterSet as ``GET /api/v1/audit-log`` and paged by keyset."""

from __future__ import annotations

import json
from typing import Any

from django.views.generic import TemplateView

from contacts.views.base import PAGE_SIZE, page_cursor
from mailcrm.dashboard.settings_views import SettingsMixin
from mailcrm.filtersets import AuditEntryFilterSet
from mailcrm.keyset import keyset_page
from mailcrm.models import AuditEntry


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def change_lines(changes: dict[str, Any]) -> list[tuple[str, str]]:
    """``(field, "old → new")`` (or the value a creation set) for the page."""
    lines = []
    for field, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            lines.append((field, f"{_shown(value[0])} → {_shown(value[1])}"))
        else:
            lines.append((field, _shown(value)))
    return lines


class AuditLogView(SettingsMixin, TemplateView):
    template_name = "dashboard/settings/audit_log.html"
    section = "audit_log"

    def get_context_data(self, **kwargs):
        filterset = AuditEntryFilterSet(self.request.GET, queryset=self.scoped(AuditEntry))
        page = None
        if filterset.is_valid():
            page = keyset_page(filterset.qs, cursor=page_cursor(self.request), size=PAGE_SIZE)
        for entry in page.rows if page else []:
            entry.change_lines = change_lines(entry.changes)
        next_query = ""
        if page is not None and page.next_cursor:
            query = self.request.GET.copy()
            query["cursor"] = page.next_cursor
            next_query = query.urlencode()
        return super().get_context_data(
            filter_form=filterset.form,
            entries=page.rows if page else [],
            next_query=next_query,
            **kwargs,
        )
