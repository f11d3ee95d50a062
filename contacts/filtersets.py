"""One FilterSet per model, shared by the dashboard and the API: a filtered dashboard URL is
also a valid API query. Tag and list filters resolve inside the current workspace; naming
another workspace's tag or list is "not found"."""

from __future__ import annotations

import datetime
import uuid

import django_filters
from django import forms
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.functions import Lower
from django.http import Http404

from contacts.models import (
    Activity,
    ActivityKind,
    Company,
    Contact,
    ContactList,
    ContactSource,
    ContactStatus,
    LifecycleStage,
    Segment,
    Tag,
)
from contacts.query import QueryError, compile_search
from contacts.search import search
from mailcrm.api.pagination import MAX_PAGE_SIZE, counts_asked, planner_rows
from mailcrm.filters import UtcIsoDateTimeFilter
from mailcrm.keyset import InvalidCursor, decode_cursor

# created_before: how many matching rows (read from contact_ws_created) are counted to find
# the newest id among them (≈ 0.6 µs each); beyond that the newest-first walk of contact_ws_id
# finds it instead.
CREATED_BEFORE_PROBE_ROWS = 20_000
# ...and how many of the newest contacts are looked at first: a match among them means the
# plain walk fills a page at once, and nothing else is read.
CREATED_BEFORE_NEWEST_ROWS = 100


def newest_id_created_before(
    workspace, moment: datetime.datetime, after: datetime.datetime | None = None
) -> tuple[bool, str | None]:
    """The newest id among the workspace's contacts created before ``moment`` (and at or after
    ``after``): ``(True, id)`` (``id`` None when there are none), or ``(False, None)`` when the
    newest contacts already match (the plain walk fills a page at once). Up to
    CREATED_BEFORE_PROBE_ROWS matches are read from the (workspace, created_at, id) index
    (≈ 0.6 µs each); beyond that, contact_ws_id (which holds created_at) is walked from the
    newest id to the first match without visiting the table (≈ 0.1 µs per newer contact).
    PostgreSQL only (it has no ``max`` of a uuid: the text form, compared bytewise, sorts the
    same)."""
    contacts = Contact.objects.filter(workspace=workspace)
    newest = contacts.order_by("-pk").values("created_at")[:CREATED_BEFORE_NEWEST_ROWS]
    matching = contacts.filter(created_at__lt=moment)
    if after is not None:
        matching = matching.filter(created_at__gte=after)
    probe = matching.order_by("created_at").values("pk")[: CREATED_BEFORE_PROBE_ROWS + 1]
    sql, params = probe.query.sql_with_params()
    with connection.cursor() as cursor:
        if CREATED_BEFORE_NEWEST_ROWS:
            newest_sql, newest_params = newest.query.sql_with_params()
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM ({newest_sql}) AS newest "  # nosec B608 - our SQL, bound values
                "WHERE newest.created_at < %s"
                + (" AND newest.created_at >= %s)" if after else ")"),
                [*newest_params, moment, *([after] if after else [])],
            )
            if cursor.fetchone()[0]:
                return False, None
        cursor.execute(
            f'SELECT count(*), max(found.pk::text COLLATE "C") FROM ({sql}) AS found',  # nosec B608 - our SQL, bound values
            params,
        )
        found, newest_id = cursor.fetchone()
    if found <= CREATED_BEFORE_PROBE_ROWS:
        return True, newest_id
    # Many match, but not among the newest: the first match of a newest-first walk is the
    # newest matching id (exact whatever the ids), read from the index alone.
    first = matching.order_by("-pk").values_list("pk", flat=True).first()
    return True, None if first is None else str(first)


# created_after: how many contacts past the page's start (the cursor, or the newest contact) the
# newest-first walk is expected to read at most (index only, ≈ 0.1 µs each). When fewer than a
# largest page's worth of them match, the walk would run on past the oldest match to the
# workspace's oldest contact (the last page: 1,000,000 contacts, newest 15 % matching, 280 ms);
# the oldest matching id is then looked up and bounds it.
CREATED_AFTER_WINDOW_ROWS = 20_000
# (Only the cost depends on it: unbounded or bounded, the walk lists the same rows.)
CREATED_AFTER_FILLED_ROWS = MAX_PAGE_SIZE + 1
# ...either from every match (contact_ws_created, ≈ 0.24 µs each) or by an oldest-first walk of
# contact_ws_id to the first match (≈ 0.08 µs per older contact): the matches are read when the
# planner expects fewer of them than this share of the older contacts.
CREATED_AFTER_READ_MATCHES_BELOW = 0.32


def oldest_id_created_after(
    workspace,
    moment: datetime.datetime,
    before: datetime.datetime | None = None,
    below: str | None = None,
) -> tuple[bool, str | None]:
    """The oldest id among the workspace's contacts created at or after ``moment`` (and before
    ``before``): ``(True, id)`` (``id`` None when there are none), or ``(False, None)`` when
    the newest-first walk from ``below`` (the page's cursor; the newest contact without one)
    fills a page within CREATED_AFTER_WINDOW_ROWS contacts anyway. The mirror of
    ``newest_id_created_before``; PostgreSQL only."""
    contacts = Contact.objects.filter(workspace=workspace)
    matching = contacts.filter(created_at__gte=moment)
    if before is not None:
        matching = matching.filter(created_at__lt=before)
    ahead = contacts if below is None else contacts.filter(pk__lt=below)
    window = ahead.order_by("-pk").values("created_at")[:CREATED_AFTER_WINDOW_ROWS]
    window_sql, window_params = window.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM (SELECT 1 FROM "  # nosec B608 - our SQL, bound values
            f"({window_sql}) AS ahead WHERE ahead.created_at >= %s"
            + (" AND ahead.created_at < %s" if before else "")
            + " LIMIT %s) AS filled",
            [*window_params, moment, *([before] if before else []), CREATED_AFTER_FILLED_ROWS],
        )
        if cursor.fetchone()[0] >= CREATED_AFTER_FILLED_ROWS:
            return False, None
        matches = planner_rows(matching) or 0
        older = max((planner_rows(contacts) or 0) - matches, 0)
        if matches <= CREATED_AFTER_READ_MATCHES_BELOW * older:
            sql, params = matching.order_by().values("pk").query.sql_with_params()
            cursor.execute(
                f'SELECT min(found.pk::text COLLATE "C") FROM ({sql}) AS found',  # nosec B608 - our SQL, bound values
                params,
            )
            return True, cursor.fetchone()[0]
    # The first match of an oldest-first walk is the oldest matching id (exact whatever the
    # ids), read from the index alone.
    first = matching.order_by("pk").values_list("pk", flat=True).first()
    return True, None if first is None else str(first)


def newest_window(params, workspace) -> QuerySet | None:
    """For a contacts list filtered by the segment language (``query``), the workspace's
    contacts, among whose newest a newest-first page is looked for first
    (``mailcrm.keyset.newest_window_rows``): PostgreSQL cannot estimate most of its
    conditions (a text's suffix, a property's prefix) and, guessing them rare, collects and
    sorts every match. None for other lists: their filters are estimated or bounded here, and
    the check (an EXPLAIN) would only cost them."""
    if not (params.get("query") or "").strip():
        return None
    return Contact.objects.filter(workspace=workspace)


def request_workspace(request):
    """The workspace of an API key, or of the signed-in dashboard user."""
    return getattr(request.user, "workspace", None) or getattr(request, "workspace", None)


def _by_id_or_name(queryset, value: str, *, ignore_case: bool):
    try:
        return queryset.filter(id=uuid.UUID(value)).first()
    except ValueError:
        pass
    if ignore_case:
        return queryset.annotate(name_lower=Lower("name")).filter(name_lower=value.lower()).first()
    return queryset.filter(name=value).first()


class ContactFilterForm(forms.Form):
    """Compiles the ``query`` field while validating, so a bad query is a field error (400 in
    the API) with its position and reason, never an exception."""

    workspace = None

    def clean_query(self):
        text = self.cleaned_data.get("query") or ""
        self.compiled_query = None
        if text.strip():
            try:
                self.compiled_query = compile_search(text, self.workspace)
            except QueryError as exc:
                # Params, not an f-string: the reason quotes the query, and django-filter
                # %-formats the message (a "%" in the query was a 500).
                raise forms.ValidationError(
                    "%(reason)s (at position %(position)s)",
                    params={"reason": exc.reason, "position": exc.position},
                ) from None
        return text


class ContactFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    status = django_filters.ChoiceFilter(choices=ContactStatus.choices)
    lifecycle_stage = django_filters.ChoiceFilter(choices=LifecycleStage.choices, label="Stage")
    source = django_filters.ChoiceFilter(choices=ContactSource.choices)
    tag = django_filters.CharFilter(method="filter_tag", label="Tag (name or id)")
    list = django_filters.CharFilter(method="filter_list", label="List (name or id)")
    segment = django_filters.CharFilter(method="filter_segment", label="Segment (name or id)")
    query = django_filters.CharFilter(method="filter_query", label="Query")
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", method="filter_created_after"
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", method="filter_created_before"
    )
    archived = django_filters.BooleanFilter(method="filter_archived", label="Archived")
    # Whether the rows are read one keyset page at a time (ContactPageFilterSet).
    pages_only = False

    class Meta:
        model = Contact
        fields = ["q", "status", "lifecycle_stage", "source", "tag", "list", "segment", "query"]
        form = ContactFilterForm

    @property
    def form(self):
        form = super().form
        form.workspace = request_workspace(self.request)
        return form

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        # Archived contacts are hidden unless asked for.
        if self.form.cleaned_data.get("archived") is None:
            queryset = queryset.filter(archived_at__isnull=True)
        return queryset

    def filter_q(self, queryset, name, value):
        newest, below = self._newest_page()
        return search(queryset, value, newest=newest, below=below)

    def _newest_page(self) -> tuple[int | None, str | None]:
        """For a list read a page at a time (``pages_only``) newest first, with no count
        asked: the most rows a page reads (a largest page, and one more to tell whether
        another follows) and the id of its cursor. (None, None) otherwise: every match."""
        if not self.pages_only or counts_asked(self.data) or self._id_bound_workspace() is None:
            return None, None
        return MAX_PAGE_SIZE + 1, self._cursor_id()

    def filter_created_before(
        self, queryset: QuerySet, name: str, value: datetime.datetime
    ) -> QuerySet:
        """``created_at < value``. The list is newest first by id, and PostgreSQL, not knowing
        that ids follow creation, walks (workspace, id) from the newest contact expecting
        matches all along; a date far in the past then reads nearly the whole workspace
        (1,000,000 contacts, oldest 1 %: 2 s). Unless the newest contacts match, the newest
        id among the matches is looked up first from an index alone and the walk starts
        there: exact whatever the ids, since no match is newer than that id."""
        queryset = queryset.filter(created_at__lt=value)
        workspace = self._id_bound_workspace()
        if workspace is None:
            return queryset
        after = self.form.cleaned_data.get("created_after")
        bounded, newest = newest_id_created_before(workspace, value, after)
        if not bounded:
            return queryset
        return queryset.none() if newest is None else queryset.filter(pk__lte=newest)

    def filter_created_after(
        self, queryset: QuerySet, name: str, value: datetime.datetime
    ) -> QuerySet:
        """``created_at >= value``. Newest first, the walk reads the matches (the newest
        contacts, for a recent date) quickly; but a page near the end of them (fewer matches
        left than a page) walks on through every older contact. When the walk from the page's
        cursor does not find a page's worth within a window, the oldest matching id is looked
        up and the walk stops there: exact whatever the ids, since no match is older."""
        queryset = queryset.filter(created_at__gte=value)
        workspace = self._id_bound_workspace()
        if workspace is None:
            return queryset
        bounded, oldest = oldest_id_created_after(
            workspace, value, self.form.cleaned_data.get("created_before"), self._cursor_id()
        )
        if not bounded:
            return queryset
        return queryset.none() if oldest is None else queryset.filter(pk__gte=oldest)

    def _id_bound_workspace(self):
        """The workspace whose date filter bounds the walk by id, or None where the bound does
        not apply: not PostgreSQL, no workspace, or a list in another order (which has its
        own index; the bound would not help it)."""
        workspace = request_workspace(self.request) if self.request is not None else None
        if connection.vendor != "postgresql" or workspace is None:
            return None
        if (self.data.get("ordering") or "-pk").lstrip("-") not in ("pk", "id"):
            return None
        return workspace

    def _cursor_id(self) -> str | None:
        """The id of the request's newest-first cursor (None without one, or when it is not
        valid: the pagination refuses it)."""
        raw = self.data.get("cursor")
        try:
            return str(decode_cursor(raw)[1]) if raw else None
        except InvalidCursor:
            return None

    def filter_tag(self, queryset, name, value):
        tags = Tag.objects.for_workspace(request_workspace(self.request))
        tag = _by_id_or_name(tags, value.strip(), ignore_case=True)
        if tag is None:
            raise Http404("No such tag.")
        return queryset.filter(contacttag__tag=tag)

    def filter_list(self, queryset, name, value):
        lists = ContactList.objects.for_workspace(request_workspace(self.request))
        contact_list = _by_id_or_name(lists, value.strip(), ignore_case=False)
        if contact_list is None:
            raise Http404("No such list.")
        return queryset.filter(listmembership__contact_list=contact_list)

    def filter_segment(self, queryset, name, value):
        segments = Segment.objects.for_workspace(request_workspace(self.request))
        segment = _by_id_or_name(segments, value.strip(), ignore_case=True)
        if segment is None:
            raise Http404("No such segment.")
        return queryset.filter(segmentmembership__segment=segment)

    def filter_query(self, queryset, name, value):
        compiled = getattr(self.form, "compiled_query", None)
        return queryset if compiled is None else queryset.filter(compiled)

    def filter_archived(self, queryset, name, value):
        if value is None:
            return queryset
        return queryset.filter(archived_at__isnull=not value)


class ContactPageFilterSet(ContactFilterSet):
    """ContactFilterSet for lists read one keyset page at a time (the API's contacts list, the
    dashboard's): a search may then hold only the rows a page can read (``search``'s
    ``newest``). Exports, bulk actions and counts use ContactFilterSet: every match."""

    pages_only = True


class TagFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")

    class Meta:
        model = Tag
        fields = ["q"]


class ContactListFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")

    class Meta:
        model = ContactList
        fields = ["q", "double_opt_in"]


class CompanyFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Search")
    industry = django_filters.CharFilter(lookup_expr="iexact")
    domain = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Company
        fields = ["q", "industry", "domain"]

    def filter_q(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(domain__icontains=value))


class ActivityFilterSet(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ActivityKind.choices)

    class Meta:
        model = Activity
        fields = ["kind"]


class SegmentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")

    class Meta:
        model = Segment
        fields = ["q", "kind"]
