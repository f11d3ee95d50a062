"""`manage.py create_workspace NAME --owner EMAIL [--password PW]`

Creates a workspace, its owner (or reuses the user with that email) and an API key. The key is
printed alone on the last line of the output: scripts read it with `tail -n 1`."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from mailcrm import audit, services


class Command(BaseCommand):
    help = "Create a workspace with its owner and an API key (printed alone on the last line)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The workspace's name.")
        parser.add_argument("--owner", required=True, help="The owner's email address.")
        parser.add_argument(
            "--password",
            help="The owner's password (sets it on an existing user too). Without it a new "
            "user has no usable password until one is set with `manage.py changepassword`.",
        )
        parser.add_argument("--key-name", default="Default", help="Name of the API key.")

    def handle(self, *args, name: str, owner: str, password: str | None, key_name: str, **opts):
        name, email = name.strip(), owner.strip()
        if not name:
            raise CommandError("The workspace needs a name.")
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{owner!r} is not a valid email address.") from None
        existed = get_user_model().objects.filter(email__iexact=email).exists()
        with audit.acting(label="manage.py create_workspace"):
            workspace, user = services.workspace_create(
                name=name, owner_email=email, owner_password=password or None
            )
            key, secret = services.api_key_create(
                workspace=workspace, name=key_name, created_by=user
            )

        self.stdout.write(f"Created workspace “{workspace.name}” ({workspace.id}).")
        if existed:
            note = "password changed" if password else "password unchanged"
            self.stdout.write(f"Owner: {user.email} (existing user, {note}).")
        elif password:
            self.stdout.write(f"Owner: {user.email} (new user; signs in with the given password).")
        else:
            self.stdout.write(
                f"Owner: {user.email} (new user without a password: "
                f"set one with `manage.py changepassword {user.email}`)."
            )
        self.stdout.write(f"API key “{key.name}” ({key.prefix}…): shown once, store it now:")
        self.stdout.write(secret)
