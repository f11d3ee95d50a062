"""The text part derived once per HTML template (rendering.text_template) reads as the text
derived from each recipient's rendered HTML did; where it could not, the HTML is derived per
recipient as before."""

import pytest

from templates.rendering import CompiledTemplate, html_to_text, text_template

BENCH = """<html><head><style>p { color: #333; font-family: sans-serif }</style></head>
<body><h1>Hello {{ contact.first_name|default('there') }},</h1>
<p>Our {{ contact.properties.plan|default('free') }} plan news for {{ contact.company }}.</p>
<p><a href="https://example.org/news?id=1">Read the news</a> or
<a href="https://example.org/pricing">see the prices</a>.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>"""

TEMPLATES = [
    BENCH,
    "<p>Hi {{ name }}</p><ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>",
    "<h2>{% if vip %}Dear VIP{% else %}Hello{% endif %} {{ name }}</h2>\n\n<p>  spaced   out  </p>",
    "<div>{{ name|upper }} &amp; {{ name|title }} &lt;3 &nbsp;</div><br><p>{{ missing }}</p>",
    '<a href="{{ url }}">{{ url }}</a> and <a href="{{ url }}">text</a>',
    '<a href="https://acme.example/{{ id }}?a=1&amp;b=2">go</a>',
    "<p>{# a comment #}x{% raw %}<b>not {jinja}</b>{% endraw %}</p>",
    "<table><tr><td>{{ name }}</td><td>{{ 3 * 4 }}</td></tr></table>",
    '<p style="color: {{ colour }}" class="{% if vip %}vip{% endif %}">styled</p>',
    '<head><title>{{ name }}</title></head><script>var x = "{{ name }}";</script><p>body</p>',
    "<p>{% set greeting = 'Howdy' %}{{ greeting }} {{ name }}</p><!-- {{ name }} -->",
    '<p><a href="mailto:{{ email }}">write</a> <a href="#{{ name }}">anchor</a></p>',
    "{{ name }}<b>&#125;</b>}",  # braces beside a construct that do not make another
]

CONTEXTS = [
    {
        "name": "Jane",
        "id": 42,
        "vip": True,
        "items": ["a", "b"],
        "url": "https://x.example/u/1",
        "email": "jane@example.com",
        "colour": "red",
        "contact": {"first_name": "Jane", "company": "Acme", "properties": {"plan": "pro"}},
        "unsubscribe_url": "https://x.example/u/tok",
    },
    {"name": "", "vip": False, "items": [], "url": "#nowhere", "contact": {}},
    {"name": "Tom & <Jerry>", "url": "javascript:alert(1)", "items": ["<b>x</b>"]},
    {"name": "  Ann\n\n  Lee\t", "items": [" a ", "\nb\n"], "url": "https://x.example/ a"},
]


@pytest.mark.parametrize("html", TEMPLATES)
@pytest.mark.parametrize("context", CONTEXTS)
def test_the_text_part_reads_as_the_text_of_each_recipients_html(html, context):
    compiled = CompiledTemplate("s", html, "")
    assert compiled._parts["derived"] is not None  # these are derived once
    rendered = compiled.render(context)
    assert rendered.text == html_to_text(rendered.html)


def test_the_bench_campaign_is_derived_once():
    source = text_template(BENCH)
    assert source is not None and "{{ contact.first_name|default('there') }}" in source
    assert "(https://example.org/news?id=1)" in source


def test_values_are_never_html_escaped_in_the_text_part():
    rendered = CompiledTemplate("s", "<p>Hi {{ name }}</p>", "").render({"name": 'Tom & "J" <b>'})
    assert rendered.html == "<p>Hi Tom &amp; &#34;J&#34; &lt;b&gt;</p>"
    assert rendered.text == 'Hi Tom & "J" <b>'


@pytest.mark.parametrize(
    "html",
    [
        "<p>{{ name|e }}</p>",  # escaped by hand: the text would show the escapes
        "<p>{{ name|escape }}</p>",
        "<p>&#123;{ name }}</p>",  # text that reads as Jinja once decoded
        "<p>&#123;&#123; 7 * 7 }}</p>",
        "<p>{% raw %}{{ not jinja }}{% endraw %}</p>",
        '<p data-x="{% if vip %}">a</p>{% endif %}',  # a construct lost with its attribute
        "<p>\ufdd0</p>",
        "<b>&#123;</b>{{ name }}",  # text that would join a construct into another one
    ],
)
def test_what_cannot_be_derived_once_is_derived_per_recipient(html):
    compiled = CompiledTemplate("s", html, "")
    assert compiled._parts["derived"] is None
    rendered = compiled.render({"name": "<b>Jo</b>", "vip": True})
    assert rendered.text == html_to_text(rendered.html)


def test_a_given_text_part_is_used_as_is_and_nothing_is_derived():
    compiled = CompiledTemplate("s", "<p>Hi {{ name }}</p>", "Plain {{ name }}")
    assert compiled._parts["derived"] is None
    assert compiled.render({"name": "Jo"}).text == "Plain Jo"


def test_an_href_is_spelled_out_per_recipient_only_when_it_is_a_web_or_mail_link():
    compiled = CompiledTemplate("s", '<a href="{{ url }}">Unsubscribe</a>', "")
    assert compiled.render({"url": "https://x.example/u"}).text == (
        "Unsubscribe (https://x.example/u)"
    )
    assert compiled.render({"url": "#u"}).text == "Unsubscribe"
    assert compiled.render({}).text == "Unsubscribe"
