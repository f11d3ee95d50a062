"""Import jobs: ``import_start`` checks the file and the mapping, stores the upload and
queues the task; ``import_run`` (the task body) claims the job, validates rows and writes them
in chunks, keeping progress and every rejected row with its reason."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import BinaryField, Q
from django.db.models.functions import Length, Lower, Substr
from django.utils import timezone

from contacts.imports import parsing, writing
from contacts.imports.reading import (
    ImportFileError,
    Unreadable,
    data_rows,
    file_layout,
    read_preview,
)
from contacts.imports.rows import IMPORT_FIELDS, PROPERTY_PREFIX, Plan, Row
from contacts.models import (
    MAX_STORED_ROW_ERRORS,
    Contact,
    ContactList,
    ImportJob,
    ImportUpload,
    JobStatus,
    PropertyType,
)
from contacts.properties import definitions_for
from contacts.services import property_definition_create, tags_get_or_create
from mailcrm import events
from mailcrm.exceptions import DomainError
from mailcrm.models import Workspace

logger = logging.getLogger("mailcrm.imports")

MAX_IMPORT_BYTES = 50 * 1024 * 1024
CHUNK_ROWS = 5000
# A run whose worker died is taken over by the next delivery after this long.
STALE_RUN = timedelta(minutes=30)


class ImportTooLarge(DomainError):
    status_code = 413
    code = "too_large"

    def __init__(self, size: int):
        limit = MAX_IMPORT_BYTES // (1024 * 1024)
        super().__init__(
            f"The file is {size / (1024 * 1024):.1f} MB; imports take at most {limit} MB.",
            limit_bytes=MAX_IMPORT_BYTES,
        )


def _validate_mapping(
    mapping: Mapping[str, Any], columns: list[str], property_keys: Iterable[str]
) -> dict[str, str]:
    if not isinstance(mapping, Mapping):
        raise ValidationError({"mapping": ["Must be an object from CSV column to field."]})
    keys = set(property_keys)
    errors: list[str] = []
    cleaned: dict[str, str] = {}
    seen: dict[str, str] = {}
    for column, target in mapping.items():
        if target in (None, "", "ignore"):
            continue
        if not isinstance(target, str):
            errors.append(f"Column '{column}': the target must be text.")
            continue
        target = target.strip()
        if column not in columns:
            errors.append(f"Column '{column}' is not in the file.")
        elif target.startswith(PROPERTY_PREFIX):
            key = target[len(PROPERTY_PREFIX) :]
            if key not in keys:
                errors.append(
                    f"Column '{column}': unknown property '{key}'; define it first "
                    "or create it with the import."
                )
        elif target not in IMPORT_FIELDS:
            fields = ", ".join(IMPORT_FIELDS)
            errors.append(
                f"Column '{column}': unknown field '{target}'. "
                f"Use one of {fields} or properties.<key>."
            )
        if target in seen:
            errors.append(f"Columns '{seen[target]}' and '{column}' both map to '{target}'.")
        seen.setdefault(target, column)
        cleaned[column] = target
    if "email" not in seen and not errors:
        errors.append("Map one column to email.")
    if errors:
        raise ValidationError({"mapping": errors})
    return cleaned


def _clean_new_properties(
    workspace: Workspace, create_properties: Mapping[str, str] | None
) -> dict[str, str]:
    existing = set(definitions_for(workspace))
    wanted: dict[str, str] = {}
    for key, kind in (create_properties or {}).items():
        if key in existing:
            continue
        if kind not in PropertyType.values:
            raise ValidationError({"create_properties": [f"'{key}': unknown type '{kind}'."]})
        if kind in (PropertyType.SELECT, PropertyType.MULTI_SELECT):
            raise ValidationError(
                {"create_properties": [f"'{key}': define a select property with its options."]}
            )
        wanted[key] = kind
    return wanted


def import_start(
    *,
    workspace: Workspace,
    data: bytes,
    filename: str,
    mapping: Mapping[str, str] | None,
    update_existing: bool = True,
    tags: Iterable[str] = (),
    contact_list: ContactList | None = None,
    created_by=None,
    create_properties: Mapping[str, str] | None = None,
    validate_emails: bool = False,
) -> ImportJob:
    """Check the file and the mapping, store the upload and queue the run. Without a mapping,
    the one suggested from the headers is used."""
    if len(data) > MAX_IMPORT_BYTES:
        raise ImportTooLarge(len(data))
    preview = read_preview(data, workspace)
    if not preview.rows:
        raise ImportFileError("The file has a header but no rows.")
    if contact_list is not None and contact_list.workspace_id != workspace.pk:
        raise ValidationError({"list_id": ["No such list."]})
    new_properties = _clean_new_properties(workspace, create_properties)
    mapping = _validate_mapping(
        preview.suggested_mapping if mapping is None else mapping,
        preview.columns,
        [*definitions_for(workspace), *new_properties],
    )
    with transaction.atomic():
        for key, kind in new_properties.items():
            property_definition_create(workspace=workspace, key=key, type=kind)
        if isinstance(tags, str):
            tags = tags.split(",")
        names = [name for name in tags if name.strip()]
        tag_names = [tag.name for tag in tags_get_or_create(workspace=workspace, names=names)]
        job = ImportJob.objects.create(
            workspace=workspace,
            created_by=created_by if getattr(created_by, "pk", None) else None,
            filename=(filename or "")[:255],
            mapping=mapping,
            update_existing=update_existing,
            validate_emails=validate_emails,
            tags=tag_names,
            contact_list=contact_list,
        )
        ImportUpload.objects.create(job=job, content=data)
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _enqueue(job_id: Any) -> None:
    from django_q.tasks import async_task

    async_task("contacts.tasks.run_import", str(job_id), group="imports")


@dataclass
class _Progress:
    processed: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_STORED_ROW_ERRORS:
            self.errors.append({"row": row, "reason": reason})

    def save(self, job: ImportJob, **extra: Any) -> None:
        ImportJob.objects.filter(pk=job.pk).update(
            processed=self.processed,
            created=self.created,
            updated=self.updated,
            skipped=self.skipped,
            error_count=self.error_count,
            errors=self.errors,
            **extra,
        )


def _claim(job_id: Any) -> ImportJob | None:
    """Take the job if it is queued, or running but abandoned; a finished job is left alone."""
    now = timezone.now()
    claimable = Q(status=JobStatus.QUEUED) | Q(
        status=JobStatus.RUNNING, started_at__lt=now - STALE_RUN
    )
    try:
        won = ImportJob.objects.filter(claimable, pk=job_id).update(
            status=JobStatus.RUNNING, started_at=now
        )
    except (ValueError, ValidationError):
        return None
    if not won:
        return None
    return ImportJob.objects.select_related("workspace").get(pk=job_id)


def _count_rows(records: Iterator[tuple[int, list[str]]]) -> int:
    total = 0
    try:
        for _ in records:
            total += 1
    except Unreadable:
        total += 1
    return total


def _room_for_new(workspace: Workspace) -> int | None:
    limit = workspace.limit_contacts
    if limit is None:
        return None
    current = Contact.objects.for_workspace(workspace).values("id")[:limit].count()
    return max(limit - current, 0)


def _apply_contact_limit(job: ImportJob, rows: list[Row], progress: _Progress) -> list[Row]:
    """Rows that would create contacts beyond the plan's limit are rejected with a reason;
    rows for existing contacts always pass."""
    room = _room_for_new(job.workspace)
    if room is None or room >= len(rows):
        return rows
    existing = set(
        Contact.objects.for_workspace(job.workspace)
        .annotate(email_lower=Lower("email"))
        .filter(email_lower__in=[row.email_lower for row in rows])
        .values_list("email_lower", flat=True)
    )
    kept = []
    limit = job.workspace.limit_contacts
    for row in rows:
        if row.email_lower in existing:
            kept.append(row)
        elif room > 0:
            room -= 1
            kept.append(row)
        else:
            progress.reject(row.number, f"the workspace's plan allows {limit} contacts")
            progress.processed += 1
    return kept


def _flush(job: ImportJob, rows: list[Row], tag_ids: list, progress: _Progress) -> None:
    rows = _refuse_erased(job, rows, progress)
    if job.validate_emails:
        rows = _screen(job, rows, progress)
    with transaction.atomic():
        rows = _apply_contact_limit(job, rows, progress)
        if rows:
            outcome = writing.write_chunk(job, rows, tag_ids=tag_ids)
            progress.created += len(outcome.created)
            progress.updated += len(outcome.updated)
            progress.skipped += len(outcome.skipped)
            progress.processed += len(rows)
        progress.save(job)


def _refuse_erased(job: ImportJob, rows: list[Row], progress: _Progress) -> list[Row]:
    """Addresses erased at their owner's request are never imported again (one query)."""
    from privacy.services import erased_among

    erased = erased_among(job.workspace_id, [row.email_lower for row in rows])
    if not erased:
        return rows
    for row in rows:
        if row.email_lower in erased:
            progress.reject(row.number, "erased at the person's request; not imported")
            progress.processed += 1
    return [row for row in rows if row.email_lower not in erased]


def _screen(job: ImportJob, rows: list[Row], progress: _Progress) -> list[Row]:
    """Refuse rows whose address is invalid (syntax, no such domain, no mail server); risky
    ones go in, flagged by their recorded validation. Outside the write transaction: DNS
    lookups can take seconds (one per domain, cached)."""
    from deliverability.validation import screen_addresses

    refused = screen_addresses(job.workspace, [row.email_lower for row in rows])
    if not refused:
        return rows
    kept = []
    for row in rows:
        if row.email_lower in refused:
            progress.reject(row.number, refused[row.email_lower])
            progress.processed += 1
        else:
            kept.append(row)
    return kept


def import_run(job_id: Any) -> ImportJob | None:
    """The task body: safe to run twice (a finished or running job is left alone)."""
    job = _claim(job_id)
    if job is None:
        return None
    progress = _Progress()
    try:
        _run(job, progress)
    except ValidationError as exc:
        _fail(job, progress, " ".join(exc.messages))
    except Exception as exc:  # the job must end in a state the user can read
        logger.exception("import %s failed", job.pk)
        _fail(job, progress, f"The import stopped on an internal error ({type(exc).__name__}).")
    else:
        _finish(job, progress, status=JobStatus.DONE)
    ImportUpload.objects.filter(job_id=job.pk).delete()
    job.refresh_from_db()
    return job


def _fail(job: ImportJob, progress: _Progress, reason: str) -> None:
    _finish(job, progress, status=JobStatus.FAILED, failure_reason=reason)


@transaction.atomic
def _finish(job: ImportJob, progress: _Progress, *, status: str, **extra: Any) -> None:
    """Record the outcome and announce it: one ``import.finished`` event closes the
    ``contacts.imported`` events of the chunks."""
    progress.save(job, status=status, finished_at=timezone.now(), **extra)
    events.emit(
        job.workspace,
        events.IMPORT_FINISHED,
        subject_id=job.pk,
        data={
            "import_id": job.pk,
            "status": status,
            "processed": progress.processed,
            "created": progress.created,
            "updated": progress.updated,
            "skipped": progress.skipped,
            "rejected": progress.error_count,
        },
    )


# Fetched whole, a 45 MB upload peaked at about 250 MB over its own size (the driver receives
# bytea as hex text, then decodes it): most of a 1,000,000-row import's peak memory.
UPLOAD_SLICE = 4 * 1024 * 1024


def _upload_slices(job_id: Any) -> Iterator[bytes] | None:
    """The uploaded file's bytes, slice after slice (None when the upload is gone)."""
    uploads = ImportUpload.objects.filter(job_id=job_id)
    size = uploads.annotate(size=Length("content")).values_list("size", flat=True).first()
    if size is None:
        return None
    return (
        bytes(
            uploads.annotate(
                part=Substr("content", start + 1, UPLOAD_SLICE, output_field=BinaryField())
            )
            .values_list("part", flat=True)
            .get()
        )
        for start in range(0, size, UPLOAD_SLICE)
    )


@contextmanager
def _spooled_upload(job_id: Any) -> Iterator[Path | None]:
    """The uploaded file copied slice by slice into a temporary file, whose path the import
    reads three times (encoding, count, rows) through the page cache: neither held in memory
    nor mapped (a mapping's pages count in the worker's resident size as the bytes did — a
    1,000,000-row file held as bytes was 42 MB of the task's peak, twice that while joined)."""
    slices = _upload_slices(job_id)
    if slices is None:
        yield None
        return
    with tempfile.NamedTemporaryFile(prefix="import-", dir=settings.VAR_DIR) as spool:
        for part in slices:
            spool.write(part)
        spool.flush()
        yield Path(spool.name)


def _run(job: ImportJob, progress: _Progress) -> None:
    with _spooled_upload(job.pk) as data:
        if data is None:
            raise ImportFileError("The uploaded file is gone.")
        _import_rows(job, progress, data)


def _import_rows(job: ImportJob, progress: _Progress, data: Path | bytes) -> None:
    layout = file_layout(data)
    total = _count_rows(data_rows(data, layout))
    ImportJob.objects.filter(pk=job.pk).update(total_rows=total)
    records = data_rows(data, layout)
    plan = Plan.build(job.workspace, job.mapping, layout.columns)
    tag_ids = [tag.pk for tag in tags_get_or_create(workspace=job.workspace, names=job.tags)]
    # The next chunk is read and validated on another thread while this one is written.
    for chunk in parsing.ahead(parsing.chunks(records, plan, CHUNK_ROWS)):
        for number, reason in chunk.rejected:
            progress.reject(number, reason)
            progress.processed += 1
        _flush(job, chunk.rows, tag_ids, progress)
