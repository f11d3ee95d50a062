"""Device analytics of tracking hits, parsed from the user agent by ua-parser."""

import pytest

from campaigns.tracking import describe_agent

IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
IPAD_MAIL = (
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Mobile/15E148"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36"
)
OUTLOOK = (
    "Mozilla/5.0 (Windows NT 10.0; WOW64; Trident/7.0; Microsoft Outlook 16.0.4266; "
    "ms-office; MSOffice 16)"
)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (IPHONE_MAIL, {"device_type": "mobile", "client": "Apple Mail", "os": "iOS"}),
        (IPAD_MAIL, {"device_type": "tablet", "client": "Apple Mail", "os": "iOS"}),
        (ANDROID_CHROME, {"device_type": "mobile", "client": "Chrome", "os": "Android"}),
        (OUTLOOK, {"device_type": "desktop", "client": "Outlook", "os": "Windows"}),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.0",
            {"device_type": "desktop", "client": "Thunderbird", "os": "Linux"},
        ),
        (
            "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com "
            "GoogleImageProxy)",
            {"device_type": "desktop", "client": "Gmail", "os": "Windows"},
        ),
        (
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            {"device_type": "bot", "client": "Googlebot", "os": ""},
        ),
        ("", {"device_type": "unknown", "client": "", "os": ""}),
    ],
)
def test_device_client_and_os_of_an_agent(agent, expected):
    assert describe_agent(agent) == expected


def test_long_garbage_agents_fit_the_columns():
    described = describe_agent("x" * 5000)
    assert described["device_type"] == "desktop"
    assert len(described["client"]) <= 100 and len(described["os"]) <= 100
