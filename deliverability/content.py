"""Content scoring: rules that read an email's subject, HTML, text and sender the way spam
filters and mailbox providers do, each finding an issue with a code, a severity, a message
and a fix; the issues' penalties give a 0–100 score and a rating.

The HTML is the template source (``{{ unsubscribe_url }}`` not yet filled in), so the rules
accept our variables where a rendered email would have the value."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from mailcrm.models import Workspace

ERROR, WARNING, INFO = "error", "warning", "info"
PENALTIES = {ERROR: 25, WARNING: 10, INFO: 4}
RATINGS = ((90, "excellent"), (75, "good"), (50, "fair"), (0, "poor"))

GMAIL_CLIP_BYTES = 102 * 1024
SUBJECT_MAX = 78  # characters most inboxes show before cutting
SUBJECT_MIN = 4

SPAM_PHRASES = (
    "100% free",
    "100% satisfied",
    "act now",
    "act immediately",
    "apply now",
    "as seen on",
    "best price",
    "big bucks",
    "buy now",
    "call now",
    "cash bonus",
    "claim your prize",
    "click here",
    "congratulations",
    "consolidate debt",
    "dear friend",
    "double your",
    "earn extra cash",
    "earn money",
    "extra income",
    "free gift",
    "free money",
    "get paid",
    "get rich",
    "guaranteed",
    "increase sales",
    "investment opportunity",
    "limited time",
    "lose weight",
    "lowest price",
    "make money",
    "million dollars",
    "miracle",
    "no catch",
    "no credit check",
    "no hidden costs",
    "no obligation",
    "no risk",
    "once in a lifetime",
    "order now",
    "pre-approved",
    "risk-free",
    "risk free",
    "satisfaction guaranteed",
    "this is not spam",
    "unsecured loan",
    "urgent",
    "viagra",
    "casino",
    "weight loss",
    "while supplies last",
    "winner",
    "work from home",
    "you have been selected",
    "you're a winner",
)
_SPAM = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(p) for p in SPAM_PHRASES) + r")(?![\w-])", re.IGNORECASE
)

URL_SHORTENERS = frozenset(
    """bit.ly bitly.com tinyurl.com t.co goo.gl ow.ly is.gd buff.ly rebrand.ly cutt.ly
    shorturl.at tiny.cc rb.gy bl.ink s.id t.ly v.gd lnkd.in soo.gd x.co adf.ly shorte.st
    trib.al dlvr.it qr.ae""".split()
)

DANGEROUS_TAGS = ("script", "form", "iframe", "object", "embed", "applet")
# Elements that never take an end tag, and those whose end tag HTML lets you leave out.
VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)
OPTIONAL_END = frozenset(
    "html head body p li dt dd tr td th thead tbody tfoot option optgroup colgroup caption "
    "rb rt rtc rp".split()
)
_UNSUBSCRIBE_VAR = re.compile(r"\{\{-?\s*unsubscribe_url\b")
_ADDRESS_VAR = re.compile(r"\{\{-?\s*workspace\.physical_address\b")
_URL = re.compile(r"https?://[^\s<>\"')]+", re.IGNORECASE)
_DOMAIN_LIKE = re.compile(
    r"^(?:https?://)?((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,})(?:[/:?#]\S*)?$",
    re.IGNORECASE,
)
_TAG_START = re.compile(r"<[A-Za-z/!?]")
_TEMPLATE_MARKUP = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


@dataclass(frozen=True)
class Issue:
    code: str
    severity: str
    message: str
    fix: str
    penalty: int = 0

    def as_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class ContentScore:
    score: int
    rating: str
    issues: list[Issue] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "rating": self.rating,
            "issues": [issue.as_dict() for issue in self.issues],
        }

    @property
    def codes(self) -> set[str]:
        return {issue.code for issue in self.issues}


def _issue(code: str, severity: str, message: str, fix: str, penalty: int | None = None) -> Issue:
    return Issue(code, severity, message, fix, PENALTIES[severity] if penalty is None else penalty)


# --- reading the HTML --------------------------------------------------------------------------


def _defuse(html: str) -> tuple[str, list[str]]:
    """Comments removed and every '<' that starts a tag never closed by '>' escaped, in one
    linear pass: html.parser rescans an unfinished construct to the end of the input each
    time it meets one, so a run of them takes minutes. Returns the text and what was wrong."""
    problems: list[str] = []
    pieces: list[str] = []
    position = 0
    while True:
        start = html.find("<!--", position)
        if start < 0:
            pieces.append(html[position:])
            break
        end = html.find("-->", start + 4)
        pieces.append(html[position:start])
        if end < 0:
            problems.append("a comment (<!--) is never closed")
            break
        position = end + 3
    source = "".join(pieces)
    out: list[str] = []
    position = 0
    for match in _TAG_START.finditer(source):
        begin = match.start()
        if begin < position:
            continue
        close = source.find(">", begin + 1)
        following = source.find("<", begin + 1)
        out.append(source[position:begin])
        if close < 0 or (0 <= following < close):
            if len(problems) < 5:
                snippet = source[begin : begin + 20].split("\n")[0]
                problems.append(f"'{snippet}' is never closed by '>'")
            out.append("&lt;")
            position = begin + 1
        else:
            # Declarations and processing instructions (doctype, <![endif]>, CDATA) carry
            # nothing we score, and html.parser asserts on odd ones: they are dropped.
            if source[begin + 1] not in "!?":
                out.append(source[begin : close + 1])
            position = close + 1
    out.append(source[position:])
    return "".join(out), problems


class _Reader(HTMLParser):
    """One pass over the HTML: visible text, images, links with their text, the tags that
    have no place in email, and tags left open or closed out of order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.images = 0
        self.links: list[tuple[str, str]] = []
        self.dangerous: list[str] = []
        self.problems: list[str] = []
        self.stack: list[str] = []
        self._hidden = 0
        self._link: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DANGEROUS_TAGS and tag not in self.dangerous:
            self.dangerous.append(tag)
        if tag == "img":
            self.images += 1
        if tag == "a":
            self._link = (dict(attrs).get("href") or "", [])
        if tag in ("style", "script", "head", "title"):
            self._hidden += 1
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self.stack and self.stack[-1] == tag:
            self.stack.pop()
            self._closed(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_TAGS:
            return
        if tag not in self.stack:
            self._problem(f"</{tag}> closes nothing")
            return
        while self.stack:
            open_tag = self.stack.pop()
            self._closed(open_tag)
            if open_tag == tag:
                break
            if open_tag not in OPTIONAL_END:
                self._problem(f"<{open_tag}> is closed by </{tag}>")

    def _closed(self, tag: str) -> None:
        if tag in ("style", "script", "head", "title"):
            self._hidden = max(0, self._hidden - 1)
        if tag == "a" and self._link is not None:
            href, words = self._link
            self.links.append((href, " ".join("".join(words).split())))
            self._link = None

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.text.append(data)
        if self._link is not None:
            self._link[1].append(data)

    def finish(self) -> None:
        self.close()
        unclosed = [tag for tag in self.stack if tag not in OPTIONAL_END]
        for tag in unclosed[:3]:
            self._problem(f"<{tag}> is never closed")
        if self._link is not None:
            self.links.append((self._link[0], " ".join("".join(self._link[1]).split())))

    def _problem(self, text: str) -> None:
        if len(self.problems) < 5:
            self.problems.append(text)


@dataclass
class _Parsed:
    visible_text: str
    images: int
    links: list[tuple[str, str]]
    dangerous: list[str]
    problems: list[str]


def _read_html(html: str) -> _Parsed:
    source, problems = _defuse(html)
    reader = _Reader()
    try:
        reader.feed(source)
        reader.finish()
    except Exception as exc:  # html.parser asserts on some malformed input: never a 500
        problems.append(f"the markup cannot be parsed ({type(exc).__name__})")
    visible = " ".join(_TEMPLATE_MARKUP.sub(" ", "".join(reader.text)).split())
    return _Parsed(
        visible, reader.images, reader.links, reader.dangerous, problems + reader.problems
    )


# --- the rules ---------------------------------------------------------------------------------


def _host(url: str) -> str:
    try:
        host = urlsplit(url.strip()).hostname or ""
    except ValueError:
        return ""
    return host.lower().removeprefix("www.")


def _same_site(a: str, b: str) -> bool:
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _subject_rules(subject: str) -> list[Issue]:
    issues = []
    stripped = subject.strip()
    if not stripped:
        return [
            _issue(
                "subject_missing",
                ERROR,
                "The email has no subject.",
                "Write a subject that says what the email is about.",
            )
        ]
    if len(stripped) > SUBJECT_MAX:
        issues.append(
            _issue(
                "subject_too_long",
                INFO,
                f"The subject has {len(stripped)} characters; inboxes cut it near {SUBJECT_MAX}.",
                "Shorten the subject and put the point first.",
            )
        )
    elif len(stripped) < SUBJECT_MIN:
        issues.append(
            _issue(
                "subject_too_short",
                INFO,
                "The subject is very short and says little.",
                "Use a few words that tell the reader what is inside.",
            )
        )
    letters = [c for c in _TEMPLATE_MARKUP.sub("", stripped) if c.isalpha()]
    capitals = sum(c.isupper() for c in letters)
    if len(letters) >= 6 and capitals / len(letters) > 0.6:
        issues.append(
            _issue(
                "subject_all_caps",
                WARNING,
                f"{round(100 * capitals / len(letters))}% of the subject's letters are capitals.",
                "Write the subject in sentence case; capitals read as shouting to filters.",
            )
        )
    if "!!" in stripped or stripped.count("!") >= 3:
        issues.append(
            _issue(
                "subject_exclamations",
                WARNING,
                "The subject has several exclamation marks.",
                "Use at most one exclamation mark, or none.",
            )
        )
    return issues


def _spam_rule(subject: str, visible: str, text: str) -> list[Issue]:
    found = sorted({m.group(1).lower() for m in _SPAM.finditer(f"{subject}\n{visible}\n{text}")})
    if not found:
        return []
    return [
        _issue(
            "spam_phrases",
            WARNING,
            "Phrases spam filters weigh against you: " + ", ".join(f"“{p}”" for p in found) + ".",
            "Say the same thing in plainer words.",
            penalty=min(5 * len(found), 25),
        )
    ]


def _structure_rules(html: str, text: str, parsed: _Parsed | None) -> list[Issue]:
    issues = []
    if not text.strip():
        issues.append(
            _issue(
                "no_text_part",
                WARNING,
                "There is no plain-text part.",
                "Write a text version (mailcrm derives one from the HTML when left empty, "
                "but a written one reads better and filters expect it).",
            )
        )
    if parsed is None:
        return issues
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        issues.append(
            _issue(
                "html_too_large",
                WARNING,
                f"The HTML is {size // 1024} KB; Gmail clips messages over 102 KB, hiding the "
                "rest (and the unsubscribe link).",
                "Trim the HTML: fewer nested tables, inline styles and comments; link to long "
                "content instead.",
            )
        )
    chars = len(parsed.visible_text)
    if parsed.images and chars < 120 * parsed.images:
        issues.append(
            _issue(
                "image_heavy",
                WARNING if chars else ERROR,
                f"{parsed.images} image(s) with {chars} characters of text.",
                "Put the message in text too; filters distrust image-only mail and many "
                "readers do not load images.",
            )
        )
    if parsed.dangerous:
        tags = ", ".join(f"<{tag}>" for tag in parsed.dangerous)
        issues.append(
            _issue(
                "forbidden_tags",
                ERROR,
                f"The HTML contains {tags}, which mail clients strip or filters punish.",
                "Remove scripts, forms and embedded frames; link to a web page instead.",
            )
        )
    if parsed.problems:
        issues.append(
            _issue(
                "broken_html",
                WARNING,
                "The HTML is broken: " + "; ".join(parsed.problems) + ".",
                "Close every tag in the order it was opened.",
            )
        )
    return issues


def _link_rules(html: str, text: str, parsed: _Parsed | None) -> list[Issue]:
    issues = []
    hrefs = [href for href, _ in parsed.links] if parsed else []
    urls = hrefs + _URL.findall(text)
    shorteners = sorted({_host(url) for url in urls} & URL_SHORTENERS)
    if shorteners:
        issues.append(
            _issue(
                "url_shortener",
                WARNING,
                "Links go through URL shorteners (" + ", ".join(shorteners) + "), which "
                "spammers use to hide where a link leads.",
                "Link to the full address of the page.",
            )
        )
    mismatched = []
    for href, label in parsed.links if parsed else []:
        shown = _DOMAIN_LIKE.match(label)
        target = _host(href)
        if not shown or not target or "{{" in href:
            continue
        shown_host = shown.group(1).lower().removeprefix("www.")
        if not _same_site(shown_host, target):
            mismatched.append(f"“{label}” → {target}")
    if mismatched:
        issues.append(
            _issue(
                "link_domain_mismatch",
                ERROR,
                "Link text shows one domain while the link goes to another: "
                + "; ".join(mismatched[:3])
                + ".",
                "Make the visible address match the link, or use words instead of an address.",
            )
        )
    return issues


def _unsubscribe_path() -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/u/"


def _marketing_rules(
    html: str, text: str, parsed: _Parsed | None, workspace: Workspace | None
) -> list[Issue]:
    issues = []
    sources = f"{html}\n{text}"
    hrefs = [href for href, _ in parsed.links] if parsed else []
    has_unsubscribe = bool(_UNSUBSCRIBE_VAR.search(sources)) or any(
        href.startswith(_unsubscribe_path()) for href in hrefs
    )
    if not has_unsubscribe:
        issues.append(
            _issue(
                "no_unsubscribe",
                ERROR,
                "Marketing mail without an unsubscribe link.",
                "Add a link to {{ unsubscribe_url }} in the footer; the law and the mailbox "
                "providers require one.",
            )
        )
    address = (workspace.physical_address if workspace else "") or ""
    first_line = " ".join(address.strip().splitlines()[0].split()).lower() if address else ""
    shown = " ".join(f"{parsed.visible_text if parsed else ''} {text}".split()).lower()
    if not _ADDRESS_VAR.search(sources) and not (first_line and first_line in shown):
        issues.append(
            _issue(
                "no_physical_address",
                WARNING,
                "Marketing mail without a postal address.",
                "Add {{ workspace.physical_address }} to the footer"
                + ("" if address else " (and set the workspace's address)")
                + "; anti-spam laws such as CAN-SPAM require it.",
            )
        )
    return issues


def _sender_rules(from_email: str) -> list[Issue]:
    from deliverability.validation import FREE_PROVIDERS

    local, _, domain = (from_email or "").strip().lower().rpartition("@")
    if not domain:
        return []
    issues = []
    if domain in FREE_PROVIDERS:
        issues.append(
            _issue(
                "from_free_provider",
                ERROR,
                f"Sending as an @{domain} address from our servers fails {domain}'s DMARC "
                "policy, so receivers reject or junk it.",
                "Send from an address at a domain of your own, set up under Domains.",
            )
        )
    if local.replace("-", "").replace("_", "") in ("noreply", "donotreply"):
        issues.append(
            _issue(
                "from_noreply",
                INFO,
                "A no-reply sender discourages replies, which mailbox providers count as "
                "engagement.",
                "Use an address people can answer.",
            )
        )
    return issues


def score_content(
    *,
    subject: str = "",
    html: str = "",
    text: str = "",
    from_email: str = "",
    workspace: Workspace | None = None,
    marketing: bool = True,
) -> ContentScore:
    """Score an email's content 0–100 with the issues found (transactional mail skips the
    rules that apply to marketing only: unsubscribe link, postal address)."""
    subject, html, text = subject or "", html or "", text or ""
    parsed = _read_html(html) if html.strip() else None
    issues = [
        *_subject_rules(subject),
        *_spam_rule(subject, parsed.visible_text if parsed else "", text),
        *_structure_rules(html, text, parsed),
        *_link_rules(html, text, parsed),
        *(_marketing_rules(html, text, parsed, workspace) if marketing else []),
        *_sender_rules(from_email),
    ]
    if not html.strip() and not text.strip():
        issues.append(
            _issue("no_content", ERROR, "The email has no content.", "Write the email's body.")
        )
    score = max(0, 100 - sum(issue.penalty for issue in issues))
    rating = next(name for floor, name in RATINGS if score >= floor)
    return ContentScore(score, rating, issues)
