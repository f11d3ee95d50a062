"""Workspace deletion (``mailcrm.workspace_deletion``): every row of the workspace, in every
table the app registry says belongs to one, is gone; every row of another workspace stays."""

from __future__ import annotations

import uuid
from itertools import count

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from mailcrm import workspace_deletion
from mailcrm.models import Role, Workspace
from mailcrm.tests.factories import UserFactory, WorkspaceFactory
from tests.test_query_counts import World

pytestmark = pytest.mark.django_db

_serial = count()


def _rows(workspace: Workspace) -> dict[str, int]:
    """Rows of ``workspace`` per model, found through the ORM along each model's path (not
    the deletion's own SQL)."""
    return {
        step.label: step.model._base_manager.filter(**{"__".join(step.path): workspace}).count()
        for step in workspace_deletion.plan()
    }


def _value(field: models.Field, workspace: Workspace):
    """A plain valid value for a required field; a key points at a row of ``workspace``."""
    if isinstance(field, models.ForeignKey):
        related = field.related_model
        if related is Workspace:
            return workspace
        path = next(s.path for s in workspace_deletion.plan() if s.model is related)
        return related._base_manager.filter(**{"__".join(path): workspace}).first()
    n = next(_serial)
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return timezone.now().date()
    if isinstance(field, models.IntegerField):
        return 1
    if isinstance(field, models.BinaryField):
        return b"x"
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.JSONField):
        return {}
    return f"x{n}"[: field.max_length or 100]


def _fill(workspace: Workspace, model: type[models.Model]) -> None:
    """One row of a model ``World`` does not fill (rows that come from sending, tracking,
    relays, privacy requests …), every required field and the path to the workspace set."""
    path = next(s.path for s in workspace_deletion.plan() if s.model is model)
    values = {}
    for field in model._meta.concrete_fields:
        required = not (field.null or field.has_default() or field.primary_key)
        if field.name == path[0] or (required and not getattr(field, "auto_now_add", False)):
            values[field.name] = _value(field, workspace)
    model._base_manager.create(**values)


def _world(name: str) -> Workspace:
    workspace = WorkspaceFactory(name=name)
    owner = UserFactory()
    workspace.memberships.create(user=owner, role=Role.OWNER)
    World(workspace, owner).grow(2)
    for step in workspace_deletion.plan():
        if not step.model._base_manager.filter(**{"__".join(step.path): workspace}).exists():
            _fill(workspace, step.model)
    return workspace


def test_deleting_a_workspace_removes_its_rows_in_every_table_and_no_other():
    doomed, kept = _world("doomed"), _world("kept")
    before_doomed, before_kept = _rows(doomed), _rows(kept)
    assert all(before_doomed.values()) and all(before_kept.values())

    counts = workspace_deletion.workspace_delete(doomed.pk, chunk=3)

    assert not Workspace.objects.filter(pk=doomed.pk).exists()
    assert _rows(doomed) == dict.fromkeys(before_doomed, 0)
    assert _rows(kept) == before_kept
    assert {label: n for label, n in counts.items() if label != "mailcrm.Workspace"} == {
        label: n for label, n in before_doomed.items() if n
    }
    assert workspace_deletion.progress(doomed.pk)["done"] is True


def test_deleting_again_finishes_the_job_and_a_deleted_workspace_is_nothing_to_do():
    doomed = _world("doomed")
    steps = workspace_deletion.plan()
    db_id = Workspace._meta.pk.get_db_prep_value(doomed.pk, connection)
    # As if interrupted after the first half of the tables.
    for step in steps[: len(steps) // 2]:
        workspace_deletion._delete_step(step, db_id, chunk=2, on_chunk=lambda n: None)
    workspace_deletion.workspace_delete(doomed.pk)
    assert not any(_rows(doomed).values())
    assert workspace_deletion.workspace_delete(doomed.pk) == {}


def test_access_goes_first():
    labels = [step.label for step in workspace_deletion.plan()]
    for access in workspace_deletion.ACCESS_FIRST:
        assert labels.index(access) < labels.index("contacts.Contact")


def test_the_order_deletes_what_points_at_a_row_before_the_row():
    steps = workspace_deletion.plan()
    position = {step.model: index for index, step in enumerate(steps)}
    for step in steps:
        for fk in workspace_deletion._foreign_keys(step.model):
            if fk.related_model in position and fk.related_model is not step.model:
                assert position[step.model] < position[fk.related_model], (step.label, fk.name)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's indexes")
def test_every_enforced_key_into_a_workspace_row_is_indexed():
    """Deleting a row makes PostgreSQL look for rows still pointing at it, once per row: an
    unindexed referencing column is a scan of that table per deleted row."""
    owned = {step.model for step in workspace_deletion.plan()} | {Workspace}
    missing = []
    with connection.cursor() as cursor:
        for model in owned:
            constraints = connection.introspection.get_constraints(cursor, model._meta.db_table)
            leading = {c["columns"][0] for c in constraints.values() if c["columns"]}
            for fk in workspace_deletion._foreign_keys(model):
                if fk.db_constraint and fk.related_model in owned and fk.column not in leading:
                    missing.append(f"{model._meta.label}.{fk.column}")
    assert not missing


def test_a_chunk_is_one_statement_per_table_not_one_per_row():
    doomed = _world("doomed")
    with CaptureQueriesContext(connection) as captured:
        workspace_deletion.workspace_delete(doomed.pk, chunk=10_000)
    deletes = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("DELETE")]
    # One DELETE per table (each chunk smaller than 10,000) and the workspace's own.
    assert len(deletes) == len(workspace_deletion.plan()) + 1


def test_the_admin_deletes_through_the_service_without_collecting_rows(admin_client):
    doomed, kept = _world("doomed"), _world("kept")
    url = reverse("admin:mailcrm_workspace_delete", args=[doomed.pk])
    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(url)
    assert page.status_code == 200 and "doomed" in page.content.decode()
    # The confirmation page does not walk the workspace's rows (the collector would read every
    # table pointing at a contact; the changelist's contact count is one aggregate).
    assert not any("contacts_contacttag" in q["sql"] for q in captured.captured_queries)
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not any(_rows(doomed).values())
    assert all(_rows(kept).values())


def test_the_admin_action_deletes_each_selected_workspace(admin_client):
    first, second, kept = _world("first"), _world("second"), _world("kept")
    response = admin_client.post(
        reverse("admin:mailcrm_workspace_changelist"),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not Workspace.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not any(_rows(first).values()) and not any(_rows(second).values())
    assert all(_rows(kept).values())


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's statistics")
def test_tables_whose_statistics_are_stale_are_analysed_and_then_are_not():
    _world("doomed")
    tables = {step.model._meta.db_table for step in workspace_deletion.plan()}
    # What is stale depends on the tests run before in this database (ANALYZE's figures
    # outlive a rolled-back test): whatever it is, it is the plan's tables, and afterwards
    # nothing is.
    assert set(workspace_deletion.analyze_stale()) <= tables
    assert workspace_deletion.analyze_stale() == []


def test_statistics_are_left_alone_off_postgresql():
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL analyses")
    assert workspace_deletion.analyze_stale() == []
