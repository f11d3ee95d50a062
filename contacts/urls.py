"""Dashboard pages of the contacts app, included by mailcrm.dashboard.urls at the root under
the namespace "dashboard:contacts"."""

from django.urls import path

from contacts import views

app_name = "contacts"

urlpatterns = [
    path("contacts/", views.ContactsView.as_view(), name="contacts"),
    path("contacts/new/", views.ContactCreateView.as_view(), name="contact_new"),
    path("contacts/bulk/", views.BulkActionView.as_view(), name="contacts_bulk"),
    path("contacts/export/", views.ContactsExportView.as_view(), name="contacts_export"),
    path("contacts/merge/", views.MergeView.as_view(), name="merge"),
    path("contacts/bulk/<uuid:pk>/", views.BulkJobView.as_view(), name="bulk_job"),
    path("contacts/<uuid:pk>/", views.ContactDetailView.as_view(), name="contact"),
    path("contacts/<uuid:pk>/edit/", views.ContactEditView.as_view(), name="contact_edit"),
    path("contacts/<uuid:pk>/delete/", views.ContactDeleteView.as_view(), name="contact_delete"),
    path("contacts/<uuid:pk>/archive/", views.ContactArchiveView.as_view(), name="contact_archive"),
    path("contacts/<uuid:pk>/restore/", views.ContactRestoreView.as_view(), name="contact_restore"),
    path("contacts/<uuid:pk>/tags/", views.ContactTagView.as_view(), name="contact_tag"),
    path(
        "contacts/<uuid:pk>/tags/<uuid:tag_pk>/remove/",
        views.ContactUntagView.as_view(),
        name="contact_untag",
    ),
    path("contacts/<uuid:pk>/activities/", views.ContactActivityView.as_view(), name="contact_log"),
    path("contacts/<uuid:pk>/lists/", views.ContactListAddView.as_view(), name="contact_list_add"),
    path(
        "contacts/<uuid:pk>/lists/<uuid:list_pk>/remove/",
        views.ContactListRemoveView.as_view(),
        name="contact_list_remove",
    ),
    path("tags/", views.TagsView.as_view(), name="tags"),
    path("tags/new/", views.TagCreateView.as_view(), name="tag_new"),
    path("tags/<uuid:pk>/edit/", views.TagEditView.as_view(), name="tag_edit"),
    path("tags/<uuid:pk>/delete/", views.TagDeleteView.as_view(), name="tag_delete"),
    path("lists/", views.ListsView.as_view(), name="lists"),
    path("lists/new/", views.ListCreateView.as_view(), name="list_new"),
    path("lists/<uuid:pk>/", views.ListDetailView.as_view(), name="list"),
    path("lists/<uuid:pk>/edit/", views.ListEditView.as_view(), name="list_edit"),
    path("lists/<uuid:pk>/delete/", views.ListDeleteView.as_view(), name="list_delete"),
    path("segments/", views.SegmentsView.as_view(), name="segments"),
    path("segments/new/", views.SegmentCreateView.as_view(), name="segment_new"),
    path("segments/preview/", views.SegmentPreviewView.as_view(), name="segment_preview"),
    path("segments/<uuid:pk>/", views.SegmentDetailView.as_view(), name="segment"),
    path("segments/<uuid:pk>/edit/", views.SegmentEditView.as_view(), name="segment_edit"),
    path("segments/<uuid:pk>/delete/", views.SegmentDeleteView.as_view(), name="segment_delete"),
    path("segments/<uuid:pk>/refresh/", views.SegmentRefreshView.as_view(), name="segment_refresh"),
    path("segments/<uuid:pk>/export/", views.SegmentExportView.as_view(), name="segment_export"),
    path("scoring/", views.ScoringView.as_view(), name="scoring"),
    path("imports/", views.ImportsView.as_view(), name="imports"),
    path("imports/new/", views.ImportUploadView.as_view(), name="import_new"),
    path("imports/new/<str:token>/", views.ImportMappingView.as_view(), name="import_map"),
    path("imports/<uuid:pk>/", views.ImportDetailView.as_view(), name="import"),
    path("properties/", views.PropertiesView.as_view(), name="properties"),
    path("properties/new/", views.PropertyCreateView.as_view(), name="property_new"),
    path("properties/<uuid:pk>/edit/", views.PropertyEditView.as_view(), name="property_edit"),
    path(
        "properties/<uuid:pk>/delete/", views.PropertyDeleteView.as_view(), name="property_delete"
    ),
]
