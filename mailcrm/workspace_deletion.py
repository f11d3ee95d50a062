"""Deleting a workspace at scale: set-based, in chunks, in the background.

``Workspace.delete()`` hands the whole tenant to Django's deletion collector, which loads every
contact, message and event into memory to cascade, then deletes them in one transaction whose
COMMIT runs every deferred foreign-key check at once: a workspace of 100,000 contacts sat over
five minutes in that COMMIT (and ``bench/sending.py``'s clean-up hung on it). Here every table
that belongs to a workspace — found from the app registry (every chain of CASCADE keys to
Workspace), so a new model is covered without being named — is emptied with plain
``DELETE … WHERE pk IN (SELECT … LIMIT n)`` statements, children before parents, each chunk
its own transaction. A chunk's foreign-key checks are then
``chunk`` index probes at its COMMIT, the memory used is one chunk of ids, and an interrupted
deletion is finished by running it again (it only ever deletes what is left).

Access goes first (memberships, API keys, invitations, SMTP credentials are the first tables
in the order, see ``ACCESS_FIRST``), so nobody works in a workspace that is half gone. The
progress — rows deleted per table so far — is kept in the cache under
``progress_key(workspace_id)`` while the deletion runs.

No model of the project overrides ``delete()`` or listens to delete signals for these rows;
a model that starts to needs that done here too. The tests put a row in every table of the
plan, for two workspaces, and check one workspace's rows are all gone and the other's kept.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.core.cache import cache
from django.db import connection, models, transaction

from mailcrm import planner_statistics
from mailcrm.models import Workspace

logger = logging.getLogger(__name__)

CHUNK = 5_000
PROGRESS_SECONDS = 24 * 3600
# Tables emptied before anything else: with them gone no user, key or relay login reaches the
# workspace while the rest is deleted.
ACCESS_FIRST = (
    "mailcrm.Membership",
    "mailcrm.ApiKey",
    "mailcrm.Invitation",
    "smtprelay.SmtpCredential",
)


@dataclass(frozen=True)
class Step:
    """One table and how its rows of a workspace are found: ``path`` is the chain of foreign
    keys from the table to the workspace (``("workspace",)``, ``("contact", "workspace")``…).
    ``chunked`` is False for a table referring to itself (automation steps and their parent
    step), deleted in one statement so no chunk leaves a row pointing at a deleted one."""

    model: type[models.Model]
    path: tuple[str, ...]
    chunked: bool = True

    @property
    def label(self) -> str:
        return self.model._meta.label


def _models() -> list[type[models.Model]]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if not model._meta.proxy and model._meta.managed and model is not Workspace
    ]


def _foreign_keys(model: type[models.Model]) -> list[models.ForeignKey]:
    return [f for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)]


def _paths() -> dict[type[models.Model], tuple[str, ...]]:
    """The shortest chain of CASCADE foreign keys from each model to Workspace: the rows the
    ORM's cascade would delete with it (a SET_NULL key keeps its row, so it is no path)."""
    paths: dict[type[models.Model], tuple[str, ...]] = {}
    changed = True
    while changed:
        changed = False
        for model in _models():
            if model in paths:
                continue
            for fk in _foreign_keys(model):
                if fk.remote_field.on_delete is not models.CASCADE:
                    continue
                if fk.related_model is Workspace:
                    paths[model] = (fk.name,)
                elif fk.related_model in paths and fk.related_model is not model:
                    paths[model] = (fk.name, *paths[fk.related_model])
                else:
                    continue
                changed = True
                break
    return paths


@functools.cache
def plan() -> tuple[Step, ...]:
    """Every table with rows of a workspace, in an order that deletes a row only after every
    row of the workspace pointing at it (any foreign key, enforced or not, SET_NULL too), the
    access tables (and what hangs on them) as early as that allows."""
    paths = _paths()
    owned = set(paths)
    for model in _models():
        if model not in owned and any(fk.related_model in owned for fk in _foreign_keys(model)):
            # Nothing outside a workspace points into one today; a model that does would need
            # its keys nulled here before the rows they point at go.
            raise RuntimeError(f"{model._meta.label} points into a workspace without belonging")
    points_at = {
        model: {
            fk.related_model
            for fk in _foreign_keys(model)
            if fk.related_model in owned and fk.related_model is not model
        }
        for model in owned
    }

    # The access tables go first, and so does whatever must go before them (an audit entry
    # naming an API key): a fixpoint over "points at something that goes first".
    first = {m for m in owned if m._meta.label in ACCESS_FIRST}
    while grown := {m for m in owned - first if points_at[m] & first}:
        first |= grown

    ordered: list[type[models.Model]] = []
    pending = sorted(owned, key=lambda m: (m not in first, m._meta.label))
    while pending:
        # The first pending model nothing else pending points at.
        ready = next(
            (m for m in pending if not any(m in points_at[o] for o in pending if o is not m)),
            None,
        )
        if ready is None:
            labels = [m._meta.label for m in pending]
            raise RuntimeError(f"Foreign keys form a cycle among {labels}")
        ordered.append(ready)
        pending.remove(ready)
    return tuple(
        Step(
            model=model,
            path=paths[model],
            chunked=not any(fk.related_model is model for fk in _foreign_keys(model)),
        )
        for model in ordered
    )


def _selection(step: Step) -> str:
    """SQL selecting the primary keys of ``step``'s rows of workspace ``%s``: for the path
    (contact, workspace) ``SELECT id FROM t WHERE contact_id IN (SELECT id FROM contacts
    WHERE workspace_id = %s)``."""
    quote = connection.ops.quote_name
    owners = [step.model]
    for name in step.path[:-1]:
        owners.append(owners[-1]._meta.get_field(name).related_model)
    condition = f"{quote(owners[-1]._meta.get_field(step.path[-1]).column)} = %s"
    for owner, name in zip(reversed(owners[1:]), reversed(step.path[:-1]), strict=True):
        parent = owners[owners.index(owner) - 1]
        column = quote(parent._meta.get_field(name).column)
        condition = (
            f"{column} IN (SELECT {quote(owner._meta.pk.column)} "  # nosec B608 - identifiers are ours, values are bound parameters
            f"FROM {quote(owner._meta.db_table)} WHERE {condition})"
        )
    model = step.model
    return (
        f"SELECT {quote(model._meta.pk.column)} FROM {quote(model._meta.db_table)} "  # nosec B608 - identifiers are ours, values are bound parameters
        f"WHERE {condition}"
    )


def _delete_step(step: Step, workspace_id, *, chunk: int, on_chunk: Callable[[int], None]) -> int:
    select = _selection(step)
    table = connection.ops.quote_name(step.model._meta.db_table)
    pk = connection.ops.quote_name(step.model._meta.pk.column)
    limit = f" LIMIT {int(chunk)}" if step.chunked else ""
    sql = f"DELETE FROM {table} WHERE {pk} IN ({select}{limit})"  # nosec B608 - identifiers are ours, values are bound parameters
    total = 0
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [workspace_id])
                deleted = max(cursor.rowcount, 0)
        total += deleted
        if deleted:
            on_chunk(deleted)
        if not step.chunked or deleted < chunk:
            return total


def analyze_stale(steps: tuple[Step, ...] | None = None) -> list[str]:
    """ANALYZE the plan's tables whose statistics are stale (``mailcrm.planner_statistics``).
    Why here: each deleted row makes PostgreSQL check the tables referring to it with a plan
    made from their statistics; a table bulk-loaded since its last ANALYZE looks empty, and
    the check becomes a scan of it for every row deleted. Returns the tables analysed."""
    return planner_statistics.analyze_stale([step.model._meta.db_table for step in steps or plan()])


def progress_key(workspace_id) -> str:
    return f"workspace-deletion:{Workspace._meta.pk.to_python(workspace_id)}"


def progress(workspace_id) -> dict | None:
    """Rows deleted so far per table (and ``"done"``), while or after a deletion runs."""
    return cache.get(progress_key(workspace_id))


def workspace_delete(workspace_id, *, chunk: int = CHUNK) -> dict[str, int]:
    """Delete the workspace and every row that belongs to it; returns rows deleted per table.

    Idempotent: running it again after an interruption deletes what is left (and a workspace
    already gone is nothing to do). Each chunk commits on its own; called inside a
    transaction (a test, a synchronous admin action) the chunks are savepoints of it."""
    key = progress_key(workspace_id)
    pk = Workspace._meta.pk
    workspace_id = pk.get_db_prep_value(pk.to_python(workspace_id), connection)
    counts: dict[str, int] = {}
    state = {"done": False, "table": "", "deleted": counts}
    analyze_stale()
    for step in plan():
        state["table"] = step.label

        def on_chunk(deleted: int, label: str = step.label) -> None:
            counts[label] = counts.get(label, 0) + deleted
            cache.set(key, state, PROGRESS_SECONDS)

        _delete_step(step, workspace_id, chunk=chunk, on_chunk=on_chunk)
    with transaction.atomic(), connection.cursor() as cursor:
        table = connection.ops.quote_name(Workspace._meta.db_table)
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [workspace_id])  # nosec B608 - identifiers are ours, values are bound parameters
        if cursor.rowcount:
            counts[Workspace._meta.label] = cursor.rowcount
    state.update(done=True, table="")
    cache.set(key, state, PROGRESS_SECONDS)
    logger.info("workspace %s deleted: %s", workspace_id, counts)
    return counts


def workspace_delete_later(workspace_id) -> None:
    """Queue the deletion for a worker (run at once when tasks are synchronous). A deletion
    longer than the cluster's task timeout (600 s: a workspace of millions of rows on a busy
    machine) is stopped and retried, and the retry carries on where it stopped."""
    from django.conf import settings

    cache.set(
        progress_key(workspace_id),
        {"done": False, "table": "", "deleted": {}},
        PROGRESS_SECONDS,
    )
    if settings.Q_CLUSTER.get("sync"):
        workspace_delete(workspace_id)
        return
    from django_q.tasks import async_task

    async_task("mailcrm.workspace_deletion.workspace_delete", str(workspace_id), group="deletion")
