from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"

    def ready(self) -> None:
        from contacts.models import Contact
        from mailcrm.usage import register_counter

        register_counter(
            "contacts", lambda workspace: Contact.objects.for_workspace(workspace).count()
        )
