"""Content scoring: each rule fires on content that breaks it and stays quiet on clean content;
the score, the rating and the API."""

from __future__ import annotations

import time

import pytest

from deliverability.content import score_content

CLEAN = {
    "subject": "Your October update from Acme",
    "html": (
        "<!doctype html><html><head><style>p{margin:0}</style></head><body>"
        "<h1>October news</h1>"
        "<p>We shipped faster imports and a new report this month. Here is what changed, "
        "and how to use it in your own workspace.</p>"
        '<p><img src="https://acme.example/chart.png" alt="Chart"></p>'
        '<p><a href="https://acme.example/blog">Read the post</a> or visit '
        '<a href="https://www.acme.example/">acme.example</a>.</p>'
        "<!--[if mso]><table><tr><td><![endif]-->"
        "<p>{{ workspace.physical_address }}<br>"
        '<a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        "<!--[if mso]></td></tr></table><![endif]-->"
        "</body></html>"
    ),
    "text": "October news\n\nRead the post: https://acme.example/blog\n\n{{ unsubscribe_url }}",
    "from_email": "news@acme.example",
}


def swap(old: str, new: str) -> dict:
    return {"html": CLEAN["html"].replace(old, new)}


def codes(**changes):
    return score_content(**(CLEAN | changes)).codes


def test_clean_content_scores_full_marks():
    result = score_content(**CLEAN)

    assert result.issues == []
    assert (result.score, result.rating) == (100, "excellent")


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"subject": "Act now: a free gift for you"}, "spam_phrases"),
        (swap("October news", "Click here, you're a winner"), "spam_phrases"),
        ({"subject": "YOUR OCTOBER UPDATE FROM ACME"}, "subject_all_caps"),
        ({"subject": "Your October update!!"}, "subject_exclamations"),
        ({"subject": "A " * 45}, "subject_too_long"),
        ({"subject": "Hi"}, "subject_too_short"),
        ({"subject": "  "}, "subject_missing"),
        ({"text": ""}, "no_text_part"),
        ({"html": '<p>Hi</p><img src="a.png"><img src="b.png">'}, "image_heavy"),
        ({"html": CLEAN["html"] + "<!-- " + "x" * 105_000 + " -->"}, "html_too_large"),
        (swap("{{ unsubscribe_url }}", "https://acme.example/") | {"text": "Hi"}, "no_unsubscribe"),
        (swap("https://acme.example/blog", "https://bit.ly/3xYz"), "url_shortener"),
        ({"text": CLEAN["text"] + "\nhttps://tinyurl.com/abc"}, "url_shortener"),
        (swap("https://www.acme.example/", "https://evil.example/"), "link_domain_mismatch"),
        (swap("{{ workspace.physical_address }}", ""), "no_physical_address"),
        ({"html": CLEAN["html"] + "<script>alert(1)</script>"}, "forbidden_tags"),
        ({"html": CLEAN["html"] + '<form action="/x"><input name="q"></form>'}, "forbidden_tags"),
        ({"html": CLEAN["html"] + '<iframe src="https://x.example"></iframe>'}, "forbidden_tags"),
        (swap("<h1>October news</h1>", "<h1><b>October news</h1>"), "broken_html"),
        (swap("</body>", "<div><span>left open</body>"), "broken_html"),
        ({"html": CLEAN["html"] + "<a href='x'"}, "broken_html"),
        ({"from_email": "acme.news@gmail.com"}, "from_free_provider"),
        ({"from_email": "no-reply@acme.example"}, "from_noreply"),
        ({"html": "", "text": ""}, "no_content"),
    ],
)  # fmt: skip
def test_each_rule_fires(changes, code):
    assert code in codes(**changes)


def test_each_issue_has_a_code_severity_message_and_fix():
    result = score_content(subject="FREE!!!", html="<script>x</script>", text="")

    for issue in result.as_dict()["issues"]:
        assert set(issue) == {"code", "severity", "message", "fix"}
        assert issue["severity"] in ("error", "warning", "info")
        assert issue["message"] and issue["fix"]


def test_a_link_to_our_unsubscribe_path_counts(settings):
    settings.PUBLIC_BASE_URL = "https://mail.acme.example"
    html = CLEAN["html"].replace("{{ unsubscribe_url }}", "https://mail.acme.example/u/abc")

    assert "no_unsubscribe" not in codes(html=html)


def test_the_workspace_address_written_out_counts(workspace):
    workspace.physical_address = "1 Main Street\nSpringfield"
    html = CLEAN["html"].replace("{{ workspace.physical_address }}", "1 Main  Street, Springfield")

    result = score_content(**(CLEAN | {"html": html}), workspace=workspace)

    assert "no_physical_address" not in result.codes


def test_transactional_mail_needs_no_unsubscribe_or_address():
    html = "<p>Your password reset code is 123456. It expires in ten minutes, so use it soon.</p>"

    result = score_content(**(CLEAN | {"html": html}), marketing=False)

    assert not result.codes & {"no_unsubscribe", "no_physical_address"}


def test_link_text_on_the_same_site_is_fine():
    html = CLEAN["html"].replace(
        '<a href="https://www.acme.example/">acme.example</a>',
        '<a href="https://click.acme.example/r/1">www.acme.example/pricing</a>',
    )

    assert "link_domain_mismatch" not in codes(html=html)


def test_optional_end_tags_are_not_broken_html():
    html = CLEAN["html"].replace(
        "<h1>October news</h1>", "<table><tr><td>One<td>Two</table><ul><li>a<li>b</ul><p>x"
    )

    assert "broken_html" not in codes(html=html)


def test_the_score_falls_with_issues_and_is_rated():
    poor = score_content(
        subject="FREE MONEY!!! ACT NOW",
        html="<p>Click here <a href='https://bit.ly/x'>paypal.com</a></p><script></script>",
        text="",
        from_email="x@gmail.com",
    )

    assert poor.score == 0 and poor.rating == "poor"
    fair = score_content(**(CLEAN | {"text": "", "subject": "Your October update!!"}))
    assert (fair.score, fair.rating) == (80, "good")


@pytest.mark.parametrize("piece", ["<!--", "<a ", "<![CDATA[", "<![a>", "<a title='<b>'>", "</b>"])
def test_hostile_html_is_scored_quickly(piece):
    started = time.monotonic()

    result = score_content(subject="Hello there", html=piece * 40_000, text="x")

    assert time.monotonic() - started < 30  # a stall guard (super-linear parsing takes minutes)
    assert 0 <= result.score <= 100


# --- API ---------------------------------------------------------------------------------------


def test_api_scores_content(api):
    response = api.post("/api/v1/content/score", CLEAN, format="json")

    assert response.status_code == 200
    assert response.json() == {"score": 100, "rating": "excellent", "issues": []}


def test_api_reports_issues(api):
    response = api.post(
        "/api/v1/content/score", {"subject": "WIN BIG!!!", "html": "<p>Hi</p>"}, format="json"
    )

    body = response.json()
    assert response.status_code == 200
    assert body["rating"] in ("excellent", "good", "fair", "poor")
    assert {"subject_all_caps", "no_unsubscribe", "no_text_part"} <= {
        issue["code"] for issue in body["issues"]
    }


def test_api_uses_the_workspace_address(api, workspace):
    workspace.physical_address = "1 Main Street"
    workspace.save()
    html = CLEAN["html"].replace("{{ workspace.physical_address }}", "1 Main Street")

    body = api.post("/api/v1/content/score", CLEAN | {"html": html}, format="json").json()

    assert "no_physical_address" not in {issue["code"] for issue in body["issues"]}


@pytest.mark.parametrize("body", [{"subject": ["x"]}, {"html": {"a": 1}}, {"subject": "x" * 1000}])
def test_api_refuses_odd_bodies(api, body):
    assert api.post("/api/v1/content/score", body, format="json").status_code == 400


def test_api_needs_a_key(anon_api):
    assert anon_api.post("/api/v1/content/score", CLEAN, format="json").status_code == 401
