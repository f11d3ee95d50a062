"""Free-text search over a contact's name, email, company and phone.

On PostgreSQL one trigram (pg_trgm) GIN index over the workspace and the lower-cased
concatenation (btree_gin: the index keeps to one workspace's rows) serves both
substring/prefix matches (typeahead: ``LIKE '%jan%'``) and fuzzy matches for typos (word
similarity, ``<%``). On SQLite it falls back to a plain case-insensitive scan. The choice is
made here, once.

Choosing the plan on PostgreSQL. A page of results is the newest matches (ordered by id), and
the planner can either walk the (workspace, id) index backwards, testing each row, or collect
every match from the trigram index and sort them. It picks by the estimated share of matching
rows, assuming matches are spread evenly over time; a word that is frequent but confined to
old contacts (``person12`` in bench/segments.py) then walks most of the table, about a second
on a million contacts. So we look before choosing: a count over the newest ``PROBE_ROWS``
rows (bounded, a few milliseconds). Enough matches there mean the walk fills a page soon
(the words are then written as a condition no index serves, so the walk is the plan);
otherwise the matches' ids are collected from the trigram index first (a statement of their
own) and the page's query gets them as a constant array. Either way the results are the
same rows: the choice changes the plan, never the answer.

Asking the trigram index for every trigram of every word is slow when the words are made of
common trigrams (``first12 last3``: every generated contact has ``fir``, ``rst``, ``las``…): the
index reads each trigram's whole posting list. The same probe of the newest rows tells which
trigram of each word is rarest; the index is asked for those only (one pattern per word, the
other characters masked), and every word is then checked on the rows it returns (``LIKE
ALL(…)``, which the index cannot serve, so the planner keeps it as a filter). The candidates
are a superset of the matches; the answer is the same. Per candidate, what costs is
lower-casing the text (≈ 1 µs outside the C locale), so the text is lower-cased once per
pattern and once for the check, and not at all for the check when the words are ASCII and
found in the text as stored."""

from __future__ import annotations

import heapq

from django.db import connection
from django.db.models import BooleanField, F, Func, Q, QuerySet, TextField, Value

SEARCH_COLUMNS = ("email", "first_name", "last_name", "company", "phone")
MAX_WORDS = 5
FUZZY_MIN_LENGTH = 4
# The newest rows looked at before choosing a plan, and how many of them must match for the
# backward walk of the (workspace, id) index to be the cheap plan: with m matches among the
# newest PROBE_ROWS, a page of 10 is expected within 10 * PROBE_ROWS / m rows (10,000 at m = 3),
# a few milliseconds; below that, collecting the matches through the trigram index costs less.
# (5,000 and 5 until 2026-12-07: the same density, and the probe of a rare word cost ≈ 8 ms.)
PROBE_ROWS = 3000
DENSE_MATCHES = 3
# Beyond this many matches, collecting them costs more than walking: keep the plain filter.
MAX_CANDIDATES = 50_000
# How many of the newest rows are looked at to tell a word's rare trigrams from its common
# ones (an estimate: a sample suffices), and the trigrams asked of the index besides each
# word's rarest: those found in at most RARE_SHARE of the sample (reading their posting lists
# is cheap, and they cut the candidates).
TRIGRAM_SAMPLE_ROWS = 1000
RARE_SHARE = 0.01
# Trigrams of one word weighed by the probe (a long word has many; a few suffice to find a rare
# one).
MAX_TRIGRAMS_PER_WORD = 12

# The index (migrations 0007, 0019) is built on exactly this expression; keep them in step.
INDEX_EXPRESSION = "lower(" + " || ' ' || ".join(SEARCH_COLUMNS) + ")"


class UnfoldedText(Func):
    """email || ' ' || first_name || …, as stored (not lower-cased)."""

    output_field = TextField()
    arg_joiner = " || ' ' || "
    template = "(%(expressions)s)"

    def __init__(self):
        super().__init__(*(F(column) for column in SEARCH_COLUMNS))


class SearchText(Func):
    """lower(email || ' ' || first_name || …): what the trigram index holds (the very SQL of
    INDEX_EXPRESSION: the unfolded text brings its own parentheses)."""

    output_field = TextField()
    template = "lower%(expressions)s"

    def __init__(self):
        super().__init__(UnfoldedText())


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


def _dense_among_newest(queryset: QuerySet, words: list[str]) -> int:
    """How many of the newest PROBE_ROWS rows match every word, counting up to DENSE_MATCHES.

    A derived table with ORDER BY … LIMIT, so the probe reads those rows by the (workspace, id)
    index whatever the words are: never more than PROBE_ROWS."""
    newest = queryset.annotate(probe_text=SearchText()).order_by("-pk").values("probe_text")
    sql, params = newest[:PROBE_ROWS].query.sql_with_params()
    likes = " AND ".join(["newest.probe_text LIKE %s"] * len(words))
    patterns = [f"%{connection.ops.prep_for_like_query(word)}%" for word in words]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM ({sql}) AS newest WHERE {likes} "  # nosec B608 - identifiers are ours, values are bound parameters
            f"LIMIT {DENSE_MATCHES}) AS found",
            [*params, *patterns],
        )
        (found,) = cursor.fetchone()
    return found


def _trigrams(word: str) -> list[str]:
    """The word's three-letter pieces that pg_trgm would extract from ``LIKE '%piece%'`` as
    exactly that trigram: ASCII letters and digits only (others split words or depend on the
    server's locale)."""
    found: list[str] = []
    for start in range(len(word) - 2):
        piece = word[start : start + 3]
        if piece.isascii() and piece.isalnum() and piece not in found:
            found.append(piece)
    step = -(-len(found) // MAX_TRIGRAMS_PER_WORD)  # spread over a long word
    return found[:: max(step, 1)]


def _rare_trigrams(queryset: QuerySet, words: list[str]) -> list[list[str]]:
    """Per word, its rarest trigram among the newest TRIGRAM_SAMPLE_ROWS rows and any other
    found in at most RARE_SHARE of them (none for a word without a trigram to ask the index
    for)."""
    per_word = [_trigrams(word) for word in words]
    pieces = sorted({piece for pieces in per_word for piece in pieces})
    if not pieces:
        return per_word
    newest = queryset.annotate(probe_text=SearchText()).order_by("-pk").values("probe_text")
    sql, params = newest[:TRIGRAM_SAMPLE_ROWS].query.sql_with_params()
    counts = ", ".join(["count(*) FILTER (WHERE newest.probe_text LIKE %s)"] * len(pieces))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), {counts} FROM ({sql}) AS newest",  # nosec B608 - identifiers are ours, values are bound parameters
            [*(f"%{piece}%" for piece in pieces), *params],
        )
        probed, *found = cursor.fetchone()
    seen = dict(zip(pieces, found, strict=True))
    chosen: list[list[str]] = []
    for word_pieces in per_word:
        if not word_pieces:
            chosen.append([])
            continue
        rarest = min(word_pieces, key=lambda piece: seen[piece])
        chosen.append([p for p in word_pieces if p == rarest or seen[p] <= probed * RARE_SHARE])
    return chosen


def _masked(word: str, pieces: list[str]) -> str:
    """The word with every character outside ``pieces`` replaced by ``_`` (any one
    character): a LIKE pattern every text containing the word matches, from which pg_trgm
    extracts those trigrams only (``person12`` with ``on1`` and ``n12``: ``on12``). One
    pattern per word: the index's recheck computes the searched text once per pattern."""
    covered = [False] * len(word)
    for piece in pieces:
        start = word.find(piece)
        while start != -1:
            covered[start : start + 3] = [True] * 3
            start = word.find(piece, start + 1)
    return "".join(c if keep else "_" for c, keep in zip(word, covered, strict=True)).strip("_")


class _Like(Func):
    """``text LIKE pattern`` with the pattern as given (wildcards kept)."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, text: Func, pattern: str):
        super().__init__(text, Value(pattern))

    def as_sql(self, compiler, connection, **extra):
        text_sql, text_params = compiler.compile(self.source_expressions[0])
        pattern_sql, pattern_params = compiler.compile(self.source_expressions[1])
        return f"{text_sql} LIKE {pattern_sql}", [*text_params, *pattern_params]


class _LikeAll(Func):
    """``lower(text) LIKE ALL(patterns)``: every word in the text, the text lower-cased once
    for all of them. No index serves ``LIKE ALL`` (an array), so the planner keeps it a filter
    on the rows the trigram index returned.

    For ASCII words the text as stored is tried first (``text LIKE ALL(…) OR lower(text) LIKE
    ALL(…)``, evaluated in that order): lower-casing never changes an ASCII lower-case
    character, so a word found in the stored text is in the lower-cased one, and
    lower-casing (per character through wide characters, the costliest step of the check)
    is left for the rest: ``person12``'s 11,111 candidates, all stored in lower case."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, patterns: list[str]):
        self.stored_first = all(pattern.isascii() for pattern in patterns)
        super().__init__(UnfoldedText(), Value(patterns))

    def as_sql(self, compiler, connection, **extra):
        text_sql, text_params = compiler.compile(self.source_expressions[0])
        patterns_sql, patterns_params = compiler.compile(self.source_expressions[1])
        lowered = f"lower{text_sql} LIKE ALL({patterns_sql}::text[])"
        if not self.stored_first:
            return lowered, [*text_params, *patterns_params]
        stored = f"{text_sql} LIKE ALL({patterns_sql}::text[])"
        return f"({stored} OR {lowered})", [*text_params, *patterns_params] * 2


def _words_in_text(words: list[str]) -> Q:
    """Every word in the text, as a condition no index serves: where the probe found the
    words dense among the newest rows, the walk of the (workspace, id) index finds a page
    soon, and that is then the only plan left to the planner (given the trigram index, it
    took it whenever it guessed the words rare: ``example7.com``, 20,000 matches on a
    million contacts, 110 ms collecting and sorting them all instead of ≈ 3 ms)."""
    return Q(_LikeAll([f"%{connection.ops.prep_for_like_query(word)}%" for word in words]))


def _rare_first_condition(queryset: QuerySet, words: list[str]) -> tuple[QuerySet, Q]:
    """The words' condition written so that the trigram index is asked only for the rarest
    trigrams (one masked pattern per word); every word is then checked in full on the rows
    it returns, all words on one computation of the text (``LIKE ALL``): ``person12``, 11,111
    candidates, 38 → 17 ms (three computations of the text per row before, two now)."""
    per_word = _rare_trigrams(queryset, words)
    if not any(per_word):
        return queryset, _substring_condition(words)
    condition = Q()
    for word, pieces in zip(words, per_word, strict=True):
        if pieces:
            condition &= Q(_Like(SearchText(), f"%{_masked(word, pieces)}%"))
    return queryset, condition & _words_in_text(words)


def _matching_ids(
    queryset: QuerySet, condition: Q, newest: int | None = None, below: str | None = None
) -> str | None:
    """The ids of the rows matching ``condition`` as one comma-separated text, collected
    through the trigram index; None when there are more than MAX_CANDIDATES (the walk is then
    cheaper). With ``newest``, only the newest ``newest`` of them below the id ``below``.

    The query is evaluated once, on its own: the planner cannot fold it into a walk of the
    ordered index, so it takes the trigram index's bitmap."""
    matching = queryset.filter(condition)
    if newest is not None and below is not None:
        matching = matching.filter(pk__lt=below)
    sql, params = matching.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # string_agg, not array_to_string(ARRAY(…)): the same text, ≈ 10 ms less for 11,111 ids.
        cursor.execute(
            f"SELECT count(*), coalesce(string_agg(found.pk::text, ','), '') "  # nosec B608 - our SQL, bound values
            f"FROM ({sql} LIMIT {MAX_CANDIDATES + 1}) AS found",
            params,
        )
        found, ids = cursor.fetchone()
    if found > MAX_CANDIDATES:
        return None
    if newest is not None and found > newest:
        # The newest by their text: a uuid's canonical text sorts as its bytes do. (Here, not
        # in the query: PostgreSQL's top-N sort of the 11,111 uuids cost ≈ 3 ms more.)
        ids = ",".join(heapq.nlargest(newest, ids.split(",")))
    return ids


class _IdAmong(Func):
    """``id = ANY(string_to_array(ids, ',')::uuid[])``: a constant array the planner folds at
    plan time, so it knows how many ids there are. In the default order (newest first) it then
    walks the primary key backwards with the ids as index keys and stops after a page: for
    ``person12`` (11,111 matches on 1,000,000 contacts) 47 buffers and ~5 ms instead of
    fetching and sorting all 11,111 rows (~34,000 buffers, ~100 ms) as it did when the ids were
    hidden in ``ARRAY(SELECT unnest(…))``. In any other order it looks the ids up and sorts, as
    before. (The walk of the (workspace, id) index it once preferred when it knew the count
    came with ``id IN (…)``, which the (workspace, id) index answers only as a filter.)"""

    output_field = BooleanField()
    conditional = True

    def __init__(self, ids: str):
        super().__init__(F("pk"), Value(ids))

    def as_sql(self, compiler, connection, **extra):
        pk_sql, pk_params = compiler.compile(self.source_expressions[0])
        ids_sql, ids_params = compiler.compile(self.source_expressions[1])
        return f"{pk_sql} = ANY(string_to_array({ids_sql}, ',')::uuid[])", [
            *pk_params,
            *ids_params,
        ]


def _only(queryset: QuerySet, ids: str) -> QuerySet:
    """These rows (one text parameter), fetched by primary key for any ordering and page; in
    the default order only the page's rows are read (see ``_IdAmong``)."""
    if not ids:
        return queryset.none()
    return queryset.filter(_IdAmong(ids))


def search(
    queryset: QuerySet, text: str, *, newest: int | None = None, below: str | None = None
) -> QuerySet:
    """Contacts matching every word of ``text`` somewhere in name, email, company or phone.
    On PostgreSQL, when nothing matches exactly, words are matched by trigram similarity so
    that a typo still finds the person (fuzzy matching is kept out of ordinary searches: it
    would flood them with near misses).

    With ``newest``, the caller reads at most that many rows newest first below the id
    ``below`` (a page after its cursor): where the matches' ids are collected, only those are,
    and the queryset holds no other match. ``person12``'s 11,111 ids cost the page's query
    7–10 ms of planning (the planner weighs every element of the array) where 501 cost
    ≈ 0.5 ms. Never for a count, an export or another order: they need every match."""
    words = _words(text)
    if not words:
        return queryset
    if connection.vendor != "postgresql":
        return queryset.filter(_substring_condition(words))
    if _dense_among_newest(queryset, words) >= DENSE_MATCHES:
        return queryset.filter(_words_in_text(words))
    queryset = queryset.alias(search_text=SearchText())
    exact = _substring_condition(words)
    ids = _matching_ids(*_rare_first_condition(queryset, words), newest, below)
    if ids is None:
        return queryset.filter(exact)
    if ids or all(len(word) < FUZZY_MIN_LENGTH for word in words):
        return _only(queryset, ids)
    fuzzy = _fuzzy_condition(words)
    ids = _matching_ids(queryset, fuzzy, newest, below)
    return queryset.filter(fuzzy) if ids is None else _only(queryset, ids)
