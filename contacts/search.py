"""Free-text search over a contact's name, email, company and phone.

On PostgreSQL one trigram (pg_trgm) GIN index over the lower-cased concatenation serves both
substring/prefix matches (typeahead: ``LIKE '%jan%'``) and fuzzy matches for typos (word
similarity, ``<%``). On SQLite it falls back to a plain case-insensitive scan. The choice is
made here, once."""

from __future__ import annotations

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, TextField, Value

SEARCH_COLUMNS = ("email", "first_name", "last_name", "company", "phone")
MAX_WORDS = 5
FUZZY_MIN_LENGTH = 4

# The index in migration 0007 is built on exactly this expression; keep them in step.
INDEX_EXPRESSION = "lower(" + " || ' ' || ".join(SEARCH_COLUMNS) + ")"


class SearchText(Func):
    """lower(email || ' ' || first_name || …): what the trigram index holds."""

    output_field = TextField()
    arg_joiner = " || ' ' || "
    template = "lower(%(expressions)s)"

    def __init__(self):
        super().__init__(*(F(column) for column in SEARCH_COLUMNS))


class WordSimilar(Func):
    """``word <% text``: the word is similar to some part of the text (pg_trgm)."""

    output_field = BooleanField()
    conditional = True
    template = "(%(expressions)s)"
    arg_joiner = " <%% "


def _words(text: str) -> list[str]:
    return [word.lower() for word in text.split()[:MAX_WORDS] if word]


def _substring_condition(words: list[str]) -> Q:
    condition = Q()
    for word in words:
        if connection.vendor == "postgresql":
            condition &= Q(search_text__contains=word)
        else:
            match = Q()
            for column in SEARCH_COLUMNS:
                match |= Q(**{f"{column}__icontains": word})
            condition &= match
    return condition


def _fuzzy_condition(words: list[str]) -> Q:
    condition = Q()
    for word in words:
        match = Q(search_text__contains=word)
        if len(word) >= FUZZY_MIN_LENGTH:
            match |= Q(WordSimilar(Value(word), SearchText()))
        condition &= match
    return condition


def search(queryset, text: str):
    """Contacts matching every word of ``text`` somewhere in name, email, company or phone.
    On PostgreSQL, when nothing matches exactly, words are matched by trigram similarity so
    that a typo still finds the person (fuzzy matching is kept out of ordinary searches: it
    would flood them with near misses)."""
    words = _words(text)
    if not words:
        return queryset
    if connection.vendor != "postgresql":
        return queryset.filter(_substring_condition(words))
    queryset = queryset.alias(search_text=SearchText())
    exact = queryset.filter(_substring_condition(words))
    if all(len(word) < FUZZY_MIN_LENGTH for word in words) or exact.exists():
        return exact
    return queryset.filter(_fuzzy_condition(words))
