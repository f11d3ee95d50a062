"""The Django admin of the contact database, made for operators.

Every write with consequences goes through `contacts.services`, so an edit in the admin
records the same activities and events as one through the API or the dashboard. Forms check
what the services would refuse (duplicates, property types) up front, so the operator sees a
form error instead of a crash; changelists select and annotate their relations up front.

The pages live in submodules; importing them registers them with the admin site."""

from contacts.admin import audience, contacts, segments

__all__ = ["audience", "contacts", "segments"]
