import factory

from contacts.models import (
    Activity,
    ActivityKind,
    Company,
    CompanyRole,
    Contact,
    ContactList,
    ContactTag,
    ListMembership,
    PropertyDefinition,
    PropertyType,
    Segment,
    SegmentKind,
    Tag,
)
from mailcrm.tests.factories import WorkspaceFactory


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    workspace = factory.SubFactory(WorkspaceFactory)
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"tag-{n}")


class ContactTagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactTag

    contact = factory.SubFactory(ContactFactory)
    tag = factory.SubFactory(TagFactory, workspace=factory.SelfAttribute("..contact.workspace"))


class ContactListFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ContactList

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"List {n}")


class ListMembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ListMembership

    contact = factory.SubFactory(ContactFactory)
    contact_list = factory.SubFactory(
        ContactListFactory, workspace=factory.SelfAttribute("..contact.workspace")
    )


class PropertyDefinitionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PropertyDefinition

    workspace = factory.SubFactory(WorkspaceFactory)
    key = factory.Sequence(lambda n: f"prop_{n}")
    type = PropertyType.TEXT


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.example")


class CompanyRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CompanyRole

    contact = factory.SubFactory(ContactFactory)
    company = factory.SubFactory(
        CompanyFactory, workspace=factory.SelfAttribute("..contact.workspace")
    )
    role = "Decision Maker"


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity

    contact = factory.SubFactory(ContactFactory)
    workspace = factory.SelfAttribute("contact.workspace")
    kind = ActivityKind.NOTE
    body = "Called about renewal"
    occurred_at = factory.Faker("date_time_this_year", tzinfo=__import__("datetime").UTC)


class SegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Segment

    workspace = factory.SubFactory(WorkspaceFactory)
    name = factory.Sequence(lambda n: f"Segment {n}")
    kind = SegmentKind.DYNAMIC
    query = "status = active"
