from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from templates import services
from templates.models import EmailTemplate
from templates.rendering import compile_template


class EmailTemplateAdminForm(forms.ModelForm):
    class Meta:
        model = EmailTemplate
        fields = ["workspace", "name", "subject", "html", "text", "from_name", "from_email"]

    def clean(self):
        data = super().clean()
        try:
            compile_template(data.get("subject", ""), data.get("html", ""), data.get("text", ""))
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field, message)
        return data


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    """Saved through the services, so a template that does not compile is never stored."""

    form = EmailTemplateAdminForm
    list_display = ["name", "subject", "from_email", "workspace", "updated_at"]
    list_filter = ["workspace"]
    list_select_related = ["workspace"]
    search_fields = ["name", "subject"]
    autocomplete_fields = ["workspace"]

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS}
        if change:
            services.template_update(template=obj, **data)
        else:
            obj.pk = services.template_create(workspace=form.cleaned_data["workspace"], **data).pk

    def delete_model(self, request, obj):
        services.template_delete(template=obj)

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []
