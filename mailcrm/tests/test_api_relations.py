"""An id field takes an id, or null where it is nullable: ``""`` is a 400 in a JSON body, not
null as DRF's form rule would have it (found by the API fuzzing: ``{"domain_id": ""}`` on
``POST /suppressions`` suppressed the address for every domain). A form's empty value is still
"not given" (mailcrm/tests/test_api_forms.py)."""

import pytest

from deliverability.models import Suppression
from deliverability.tests.factories import SendingDomainFactory

pytestmark = pytest.mark.django_db

CAMPAIGN = {"name": "C", "subject": "Hi", "html": "<p>Hi</p>", "from_email": "news@acme.io"}


@pytest.mark.parametrize(
    "path,body,field",
    [
        ("/api/v1/suppressions", {"email": "a@example.com", "domain_id": ""}, "domain_id"),
        ("/api/v1/unsubscribes", {"email": "a@example.com", "domain_id": ""}, "domain_id"),
        ("/api/v1/campaigns", CAMPAIGN | {"sending_domain_id": ""}, "sending_domain_id"),
    ],
)
def test_an_empty_id_in_json_is_a_400(api, path, body, field):
    response = api.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["fields"] == {field: ["Give an id, or null."]}
    assert not Suppression.objects.exists()


def test_null_and_a_real_id_are_still_taken(api, workspace):
    domain = SendingDomainFactory(workspace=workspace)
    everywhere = api.post(
        "/api/v1/suppressions", {"email": "a@example.com", "domain_id": None}, format="json"
    )
    assert everywhere.status_code == 201, everywhere.content
    body = {"email": "b@example.com", "domain_id": str(domain.id)}
    one = api.post("/api/v1/suppressions", body, format="json")
    assert one.status_code == 201, one.content
    assert dict(Suppression.objects.values_list("email", "domain")) == {
        "a@example.com": None,
        "b@example.com": domain.id,
    }
