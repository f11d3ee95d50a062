"""Email templates: a workspace's reusable subject, HTML and text, personalised at send time in
the rendering sandbox (``templates.rendering``)."""

from __future__ import annotations

from django.db import models

from mailcrm.ids import uuid7
from mailcrm.models import Workspace
from mailcrm.querysets import WorkspaceQuerySet


class EmailTemplate(models.Model):
    """Reusable content; campaigns and transactional sends take what they do not set themselves
    (subject, HTML, text, sender) from here."""

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=998, blank=True)
    html = models.TextField(blank=True)
    text = models.TextField(blank=True, help_text="Derived from the HTML when left empty.")
    from_name = models.CharField(max_length=200, blank=True)
    from_email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["workspace", "name"], name="emailtemplate_ws_name")]

    def __str__(self) -> str:
        return self.name
