"""The segment query language: grammar (valid and invalid), semantics, isolation, and a
property-based check that the database agrees with a plain Python evaluator."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.models import Contact, PropertyType, SegmentKind
from contacts.query import And, Condition, Not, Or, QueryError, compile_query, compile_search, parse
from contacts.tests.factories import (
    CompanyFactory,
    CompanyRoleFactory,
    ContactFactory,
    ContactListFactory,
    ContactTagFactory,
    ListMembershipFactory,
    PropertyDefinitionFactory,
    SegmentFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


def matching(workspace, query):
    return set(
        Contact.objects.for_workspace(workspace)
        .filter(compile_query(query, workspace, now=NOW))
        .values_list("email", flat=True)
    )


# --- grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "status = active AND lifecycle_stage IN (lead, customer) AND created_at > 2024-01-01",
        'properties.industry = "Technology" AND properties.country = "USA"',
        "last_opened_at > -30d OR score > 50",
        'tag = vip AND NOT list = "Conference Attendees 2025"',
        'properties.lifetime_value >= 1000 AND properties.product_interests CONTAINS "analytics"',
        'email ENDS WITH "@example.com" AND phone IS SET',
        "status = active and (score >= 10 or NOT tag = vip)",
        "status=active",
        "x NOT IN ('a', \"b\", c)",
        "email starts with 'a' or email ends with b",
        "phone is not set",
        "created_at < now AND created_at >= -6m AND updated_at > -2w",
        'first_name = "O\\"Brien"',
        "NOT NOT score = 1",
        "android = 1 AND notes = 2 AND order = 3",
    ],
)
def test_valid_queries_parse(text):
    assert parse(text) is not None


def test_keywords_are_case_insensitive_and_precedence_is_and_over_or():
    tree = parse("a = 1 or b = 2 AND c = 3")
    assert isinstance(tree, Or)
    assert isinstance(tree.items[1], And)
    assert parse("NOT a = 1") == parse("not a = 1")


def test_quoted_values_keep_spaces_and_escapes():
    tree = parse('name = "Jane \\"JJ\\" Smith"')
    assert isinstance(tree, Condition)
    assert tree.values[0].text == 'Jane "JJ" Smith'
    assert tree.values[0].quoted


@pytest.mark.parametrize(
    "text,position,reason",
    [
        ("", 0, "empty"),
        ("(status = active", 16, "missing ')'"),
        ("status = active)", 15, "')' without '('"),
        ("status = ", 9, "ends too early"),
        ("status == active", 8, "unexpected"),
        ('email = "abc', 8, "unterminated"),
        ("status active", 7, "unexpected"),
        ("AND status = active", 4, "expected an operator"),
        ("status IN ()", 11, "unexpected"),
        ("status = active AND", 19, "ends too early"),
        ("score > 5 & x", 10, "unexpected '&'; expected ',', AND, OR"),
    ],
)
def test_bad_syntax_reports_position_and_reason(text, position, reason):
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert caught.value.position == position
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    "text,reason",
    [
        ("shoe_size = 42", "unknown field 'shoe_size'"),
        ("properties.nope = 1", "unknown property 'nope'"),
        ("score > lots", "not a number"),
        ("status = deleted", "not a status"),
        ("created_at > yesterday", "not a date"),
        ("score CONTAINS 5", "CONTAINS cannot be used"),
        ("tag CONTAINS v", "CONTAINS cannot be used"),
        ("properties.ltv CONTAINS 5", "CONTAINS cannot be used"),
        ("properties.ltv > abc", "not a number"),
        ("tag = nothing-here", "no tag named"),
        ("list = Nowhere", "no list named"),
        ("segment = Nowhere", "no segment named"),
        ("company.ceo = x", "unknown field 'company.ceo'"),
        ("tracking_opt_out = maybe", "not true or false"),
    ],
)
def test_meaningless_queries_are_refused_with_a_reason(workspace, text, reason):
    PropertyDefinitionFactory(workspace=workspace, key="ltv", type=PropertyType.NUMBER)
    with pytest.raises(QueryError) as caught:
        compile_query(text, workspace)
    assert reason in caught.value.reason


# --- semantics ---------------------------------------------------------------------------------


@pytest.fixture
def people(workspace):
    PropertyDefinitionFactory(workspace=workspace, key="ltv", type=PropertyType.NUMBER)
    PropertyDefinitionFactory(workspace=workspace, key="industry", type=PropertyType.TEXT)
    PropertyDefinitionFactory(workspace=workspace, key="signup", type=PropertyType.DATE)
    PropertyDefinitionFactory(workspace=workspace, key="seen", type=PropertyType.DATETIME)
    PropertyDefinitionFactory(
        workspace=workspace, key="interests", type=PropertyType.MULTI_SELECT, options=["a", "b"]
    )
    ann = ContactFactory(
        workspace=workspace,
        email="Ann@Example.com",
        phone="+1 555",
        score=60,
        last_opened_at=NOW - timedelta(days=3),
        properties={
            "ltv": 1500,
            "industry": "SaaS",
            "signup": "2025-01-10",
            "interests": ["a"],
            "seen": "2025-06-01T10:00:00Z",
        },
    )
    bob = ContactFactory(
        workspace=workspace,
        email="bob@other.org",
        status="unsubscribed",
        score=5,
        properties={"ltv": 20, "industry": "Retail", "interests": []},
    )
    cy = ContactFactory(workspace=workspace, email="cy@example.com", lifecycle_stage="customer")
    vip = TagFactory(workspace=workspace, name="VIP")
    ContactTagFactory(contact=ann, tag=vip)
    ListMembershipFactory(
        contact=bob, contact_list=ContactListFactory(workspace=workspace, name="Conf 2025")
    )
    CompanyRoleFactory(
        contact=cy, company=CompanyFactory(workspace=workspace, domain="acme.io", spend=900)
    )
    return ann, bob, cy


@pytest.mark.parametrize(
    "query,expected",
    [
        ("status = active", {"Ann@Example.com", "cy@example.com"}),
        ("email = ann@example.com", {"Ann@Example.com"}),
        ("email IN (BOB@OTHER.ORG)", {"bob@other.org"}),
        ('email ENDS WITH "@EXAMPLE.com"', {"Ann@Example.com", "cy@example.com"}),
        ("email CONTAINS other", {"bob@other.org"}),
        ("phone IS SET", {"Ann@Example.com"}),
        ("phone IS NOT SET", {"bob@other.org", "cy@example.com"}),
        ("score > 50 OR lifecycle_stage = customer", {"Ann@Example.com", "cy@example.com"}),
        ("last_opened_at > -30d", {"Ann@Example.com"}),
        ("NOT last_opened_at > -30d", {"bob@other.org", "cy@example.com"}),
        ("last_opened_at = 2025-06-12", {"Ann@Example.com"}),
        ("last_opened_at != 2025-06-12", set()),
        ("properties.ltv >= 1000", {"Ann@Example.com"}),
        ("properties.ltv != 20", {"Ann@Example.com"}),
        ("NOT properties.ltv = 20", {"Ann@Example.com", "cy@example.com"}),
        ("properties.ltv IN (20, 1500)", {"Ann@Example.com", "bob@other.org"}),
        ("properties.industry = saas", set()),
        ("properties.industry = SaaS", {"Ann@Example.com"}),
        ("properties.industry CONTAINS saas", {"Ann@Example.com"}),
        ("properties.signup < 2025-02-01", {"Ann@Example.com"}),
        ("properties.signup IS NOT SET", {"bob@other.org", "cy@example.com"}),
        ("properties.seen >= 2025-06-01", {"Ann@Example.com"}),
        ("properties.seen > 2025-06-01", set()),
        ("properties.seen < -1w", {"Ann@Example.com"}),
        ("properties.interests CONTAINS a", {"Ann@Example.com"}),
        ("properties.interests != a", {"bob@other.org"}),
        ("properties.interests IS SET", {"Ann@Example.com"}),
        ("tag = vip", {"Ann@Example.com"}),
        ("tag != vip", {"bob@other.org", "cy@example.com"}),
        ("tag IS NOT SET", {"bob@other.org", "cy@example.com"}),
        ('list = "Conf 2025"', {"bob@other.org"}),
        ("NOT list = 'Conf 2025' AND tag IS NOT SET", {"cy@example.com"}),
        ("company.domain = ACME.io", {"cy@example.com"}),
        ("company.spend > 500", {"cy@example.com"}),
        ("company.domain IS NOT SET", {"Ann@Example.com", "bob@other.org"}),
    ],
)
def test_semantics(workspace, people, query, expected):
    assert matching(workspace, query) == expected


def test_a_list_may_be_named_by_id(workspace, people):
    contact_list = people[1].lists.get()
    assert matching(workspace, f"list = {contact_list.id}") == {"bob@other.org"}


def test_names_resolve_only_inside_the_workspace(workspace, outsider):
    ContactFactory(workspace=workspace, email="mine@example.com")
    with pytest.raises(QueryError):
        compile_query("tag = outsider-tag", workspace)
    with pytest.raises(QueryError):
        compile_query(f"list = {outsider.list.id}", workspace)
    everything = compile_query("status = active OR status != active", workspace)
    found = Contact.objects.for_workspace(workspace).filter(everything)
    assert outsider.contact not in found


def test_segments_may_reference_segments_but_not_in_a_cycle(workspace, people):
    SegmentFactory(workspace=workspace, name="Engaged", query="score > 50")
    SegmentFactory(
        workspace=workspace, name="Engaged actives", query="segment = Engaged AND status = active"
    )
    assert matching(workspace, 'segment = "Engaged actives"') == {"Ann@Example.com"}
    a = SegmentFactory(workspace=workspace, name="A", query="segment = B")
    SegmentFactory(workspace=workspace, name="B", query="segment = A")
    with pytest.raises(QueryError, match="refers back to itself"):
        compile_query(f"segment = {a.id}", workspace)


def test_a_static_segment_matches_its_members(workspace, people):
    segment = SegmentFactory(workspace=workspace, name="Picked", kind=SegmentKind.STATIC, query="")
    segment.contacts.add(people[2])
    assert matching(workspace, "segment = Picked") == {"cy@example.com"}
    assert matching(workspace, "segment != Picked") == {"Ann@Example.com", "bob@other.org"}


def test_search_accepts_key_value_shorthand(workspace, people):
    def search(text):
        found = Contact.objects.for_workspace(workspace).filter(compile_search(text, workspace))
        return set(found.values_list("email", flat=True))

    assert search("industry:SaaS") == {"Ann@Example.com"}
    assert search('status:active industry:"SaaS"') == {"Ann@Example.com"}
    assert search("lifecycle_stage:customer") == {"cy@example.com"}
    with pytest.raises(QueryError):
        search("nonsense:x")


# --- the database agrees with a plain Python evaluator -----------------------------------------

TAGS = ["red", "blue", "green"]
LISTS = ["L1", "L2"]
DAYS = [NOW - timedelta(days=d) for d in (1, 10, 40, 400)]


def _moment(text):
    if text.startswith("-"):
        return NOW - timedelta(days=int(text[1:-1])), False
    return datetime.fromisoformat(text).replace(tzinfo=UTC), True


def _compare(op, actual, target):
    return {
        "=": actual == target,
        "!=": actual != target,
        ">": actual > target,
        ">=": actual >= target,
        "<": actual < target,
        "<=": actual <= target,
    }[op]


def _evaluate_moment(op, actual, text):
    if actual is None:
        return False
    start, is_day = _moment(text)
    if not is_day:
        return _compare(op, actual, start)
    end = start + timedelta(days=1)
    inside = start <= actual < end
    return {
        "=": inside,
        "!=": not inside,
        ">": actual >= end,
        ">=": actual >= start,
        "<": actual < start,
        "<=": actual < end,
    }[op]


def evaluate(node, person) -> bool:
    """The reference semantics, written independently of the compiler."""
    if isinstance(node, And):
        return all(evaluate(item, person) for item in node.items)
    if isinstance(node, Or):
        return any(evaluate(item, person) for item in node.items)
    if isinstance(node, Not):
        return not evaluate(node.item, person)
    op, values = node.op, [v.text for v in node.values]
    field = node.field
    if field in ("first_name", "email"):
        actual = person[field]
        fold = (lambda s: s.lower()) if field == "email" else (lambda s: s)
        if op == "is_set":
            return actual != ""
        if op == "is_not_set":
            return actual == ""
        if op in ("=", "!="):
            return (fold(actual) == fold(values[0])) == (op == "=")
        if op in ("in", "not_in"):
            return (fold(actual) in [fold(v) for v in values]) == (op == "in")
        low, want = actual.lower(), values[0].lower()
        return {
            "contains": want in low,
            "starts": low.startswith(want),
            "ends": low.endswith(want),
        }[op]
    if field == "status":
        inside = person["status"] in values
        return inside if op in ("=", "in") else not inside
    if field == "score":
        if op in ("in", "not_in"):
            return (person["score"] in [int(v) for v in values]) == (op == "in")
        return _compare(op, person["score"], int(values[0]))
    if field == "last_opened_at":
        if op in ("is_set", "is_not_set"):
            return (person["last_opened_at"] is not None) == (op == "is_set")
        return _evaluate_moment(op, person["last_opened_at"], values[0])
    if field in ("tag", "list"):
        have = {name.lower() for name in person[field + "s"]}
        if op in ("is_set", "is_not_set"):
            return bool(have) == (op == "is_set")
        hit = any(v.lower() in have for v in values)
        return hit if op in ("=", "in") else not hit
    if field == "company.domain":
        domains = [d for d in person["domains"]]
        if op in ("is_set", "is_not_set"):
            return any(domains) == (op == "is_set")
        hit = any(d.lower() == values[0].lower() for d in domains)
        return hit if op == "=" else any(d.lower() != values[0].lower() for d in domains)
    key = field.split(".", 1)[1]
    props = person["properties"]
    value = props.get(key)
    present = key in props and value is not None and value != "" and value != []
    if op == "is_set":
        return present
    if op == "is_not_set":
        return not present
    if key == "ltv":
        if not isinstance(value, int | float) or isinstance(value, bool):
            return False
        if op in ("in", "not_in"):
            return (value in [int(v) for v in values]) == (op == "in")
        return _compare(op, value, int(values[0]))
    if key == "industry":
        if not isinstance(value, str):
            return False
        if op in ("=", "!="):
            return (value == values[0]) == (op == "=")
        if op in ("in", "not_in"):
            return (value in values) == (op == "in")
        low, want = value.lower(), values[0].lower()
        return {
            "contains": want in low,
            "starts": low.startswith(want),
            "ends": low.endswith(want),
        }[op]
    if key == "signup":
        if not isinstance(value, str):
            return False
        return _compare(op, value, _moment(values[0])[0].date().isoformat())
    if key == "interests":
        if not isinstance(value, list):
            return False
        hit = any(v in value for v in values)
        return hit if op in ("=", "contains", "in") else not hit
    raise AssertionError(field)


WORDS = ["", "ann", "bo", "Ann", "x"]
person_strategy = st.fixed_dictionaries(
    {
        "first_name": st.sampled_from(WORDS),
        "email_local": st.sampled_from(["ann", "bob", "Cy"]),
        "email_domain": st.sampled_from(["example.com", "Other.org"]),
        "status": st.sampled_from(["active", "unsubscribed", "bounced"]),
        "score": st.integers(0, 100),
        "last_opened_at": st.one_of(st.none(), st.sampled_from(DAYS)),
        "tags": st.lists(st.sampled_from(TAGS), unique=True, max_size=2),
        "lists": st.lists(st.sampled_from(LISTS), unique=True, max_size=2),
        "domains": st.lists(st.sampled_from(["acme.io", "", "Beta.io"]), max_size=2),
        "properties": st.fixed_dictionaries(
            {},
            optional={
                "ltv": st.one_of(st.integers(-5, 2000), st.just("12"), st.just(True)),
                "industry": st.one_of(st.sampled_from(["SaaS", "saas", "Retail", ""]), st.just(7)),
                "signup": st.sampled_from(["2024-12-31", "2025-01-01", "2025-06-14"]),
                "interests": st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3),
            },
        ),
    }
)


def _value(strategy):
    return strategy.map(lambda v: f'"{v}"' if v == "" or " " in v else v)


condition_strategy = st.one_of(
    st.builds(
        lambda op, v: f"first_name {op} {v}",
        st.sampled_from(["=", "!="]),
        _value(st.sampled_from(WORDS)),
    ),
    st.builds(
        lambda op, v: f"first_name {op} {v}",
        st.sampled_from(["CONTAINS", "STARTS WITH", "ENDS WITH"]),
        st.sampled_from(["a", "n", "AN"]),
    ),
    st.builds(lambda v: f"email = {v}@example.com", st.sampled_from(["ANN", "bob"])),
    st.builds(lambda v: f'email ENDS WITH "{v}"', st.sampled_from(["@EXAMPLE.com", ".org"])),
    st.builds(
        lambda vs: f"status IN ({', '.join(vs)})",
        st.lists(st.sampled_from(["active", "bounced"]), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, n: f"score {op} {n}",
        st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
        st.integers(0, 100),
    ),
    st.builds(
        lambda op, d: f"last_opened_at {op} {d}",
        st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
        st.sampled_from(["-5d", "-30d", DAYS[1].date().isoformat(), DAYS[2].date().isoformat()]),
    ),
    st.sampled_from(
        [
            "last_opened_at IS SET",
            "last_opened_at IS NOT SET",
            "first_name IS SET",
            "tag IS SET",
            "list IS NOT SET",
            "company.domain IS SET",
            "properties.ltv IS SET",
            "properties.industry IS NOT SET",
            "properties.interests IS SET",
            "properties.signup IS SET",
        ]
    ),
    st.builds(
        lambda op, t: f"tag {op} {t}", st.sampled_from(["=", "!="]), st.sampled_from(TAGS + ["RED"])
    ),
    st.builds(
        lambda ts: f"tag NOT IN ({', '.join(ts)})",
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=2),
    ),
    st.builds(
        lambda op, name: f"list {op} {name}", st.sampled_from(["=", "!="]), st.sampled_from(LISTS)
    ),
    st.builds(
        lambda op, d: f"company.domain {op} {d}",
        st.sampled_from(["=", "!="]),
        st.sampled_from(["acme.io", "BETA.io"]),
    ),
    st.builds(
        lambda op, n: f"properties.ltv {op} {n}",
        st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
        st.integers(-5, 2000),
    ),
    st.builds(
        lambda ns: f"properties.ltv IN ({', '.join(map(str, ns))})",
        st.lists(st.integers(0, 20), min_size=1, max_size=3),
    ),
    st.builds(
        lambda op, v: f"properties.industry {op} {v}",
        st.sampled_from(["=", "!=", "CONTAINS", "STARTS WITH"]),
        st.sampled_from(["SaaS", "saas", "Re"]),
    ),
    st.builds(
        lambda op, d: f"properties.signup {op} {d}",
        st.sampled_from(["=", "!=", ">", ">=", "<", "<="]),
        st.sampled_from(["2025-01-01", "2024-12-31", "-1d"]),
    ),
    st.builds(
        lambda op, v: f"properties.interests {op} {v}",
        st.sampled_from(["CONTAINS", "=", "!="]),
        st.sampled_from(["a", "b", "c"]),
    ),
)

query_strategy = st.recursive(
    condition_strategy,
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"({a}) AND ({b})", inner, inner),
        st.builds(lambda a, b: f"({a}) OR ({b})", inner, inner),
        st.builds(lambda a: f"NOT ({a})", inner),
    ),
    max_leaves=5,
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    people=st.lists(person_strategy, max_size=6),
    queries=st.lists(query_strategy, min_size=1, max_size=6),
)
def test_the_database_agrees_with_the_python_evaluator(workspace, people, queries):
    with transaction.atomic():
        PropertyDefinitionFactory(workspace=workspace, key="ltv", type=PropertyType.NUMBER)
        PropertyDefinitionFactory(workspace=workspace, key="industry", type=PropertyType.TEXT)
        PropertyDefinitionFactory(workspace=workspace, key="signup", type=PropertyType.DATE)
        PropertyDefinitionFactory(
            workspace=workspace,
            key="interests",
            type=PropertyType.MULTI_SELECT,
            options=["a", "b", "c"],
        )
        tags = {name: TagFactory(workspace=workspace, name=name) for name in TAGS}
        lists = {name: ContactListFactory(workspace=workspace, name=name) for name in LISTS}
        expected_people = {}
        for n, person in enumerate(people):
            email = f"{person['email_local']}{n}@{person['email_domain']}"
            contact = ContactFactory(
                workspace=workspace,
                email=email,
                first_name=person["first_name"],
                status=person["status"],
                score=person["score"],
                last_opened_at=person["last_opened_at"],
                properties=person["properties"],
            )
            for name in person["tags"]:
                ContactTagFactory(contact=contact, tag=tags[name])
            for name in person["lists"]:
                ListMembershipFactory(contact=contact, contact_list=lists[name])
            for domain in person["domains"]:
                CompanyRoleFactory(
                    contact=contact, company=CompanyFactory(workspace=workspace, domain=domain)
                )
            expected_people[email] = dict(person, email=email)
        for query in queries:
            tree = parse(query)
            expected = {
                email for email, person in expected_people.items() if evaluate(tree, person)
            }
            assert matching(workspace, query) == expected, query
        transaction.set_rollback(True)
