"""Tell the layout of an interaction file from its first lines.

Two layouts are read: a *table* (one record per line, a constant number of
fields: ``user item [rating [timestamp]]``, optionally a header) and *user
lines* (one line per user, ``user item item ...``, the LightGCN format). The
sniffer decides from the first :data:`SAMPLE_LINES` lines; what it cannot
decide it reports with the file name, the line and the command-line option
that settles it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from advrec.errors import DataError

SAMPLE_LINES = 1000
#: field roles accepted by ``--columns`` (``-`` skips a field); ``items`` means user lines
ROLES = {"user": "user", "item": "item", "rating": "rating", "value": "rating", "timestamp": "timestamp",
         "time": "timestamp", "items": "items", "-": None, "_": None, "skip": None}
SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|", "space": None,
             "whitespace": None}
_SEP_CANDIDATES = ("::", "\t", ",", ";", "|")
_HEADER_WORDS = {"user", "item", "rating", "value", "timestamp", "time", "userid", "itemid", "movieid", "user_id",
                 "item_id", "movie_id", "uid", "iid", "ts", "weight", "score", "count"}
_DEFAULT_ROLES = {2: ("user", "item"), 3: ("user", "item", "rating"), 4: ("user", "item", "rating", "timestamp")}


@dataclass(frozen=True)
class Layout:
    """How to read one file: ``kind`` ``"table"`` or ``"lines"``, separator, header, field roles."""

    kind: str
    sep: str | None
    header: bool
    roles: tuple[str | None, ...] = ()

    def describe(self) -> str:
        """E.g. ``"table, tab-separated, no header, columns user,item,rating,timestamp"``."""
        sep = {None: "whitespace", "\t": "tab", ",": "comma"}.get(self.sep, repr(self.sep))
        if self.kind == "lines":
            return f"one line per user (user item item ...), {sep}-separated"
        cols = ",".join(r or "-" for r in self.roles) if self.roles else "from the header"
        return f"table, {sep}-separated, {'header' if self.header else 'no header'}, columns {cols}"


def parse_columns(spec: str | None) -> tuple[str | None, ...] | None:
    """``"user,item,rating"`` -> roles per field (``--columns``); None stays None."""
    if spec is None:
        return None
    out = []
    for name in (p.strip().lower() for p in spec.split(",")):
        if name not in ROLES:
            raise DataError(f"--columns: unknown column {name!r}; use user, item, rating, timestamp, '-' "
                            "(skip) or 'user,items' for one line per user")
        out.append(ROLES[name])
    if "items" in out:
        if out != ["user", "items"]:
            raise DataError("--columns: 'items' is only valid as 'user,items' (one line per user)")
    elif "user" not in out or "item" not in out or len({r for r in out if r}) != len([r for r in out if r]):
        raise DataError(f"--columns {spec!r}: name user and item exactly once (other roles at most once)")
    return tuple(out)


def parse_sep(sep: str | None) -> str | None:
    """``--sep`` value: a character, ``tab``/``comma``/... or ``space``/``whitespace``."""
    if sep is None:
        return None
    return SEP_NAMES.get(sep.lower(), sep)


def sample(raw: bytes, label: str, encoding: str = "utf-8") -> list[tuple[int, str]]:
    """The first non-blank lines as ``(line number, text)``."""
    out = []
    for n, line in enumerate(raw.split(b"\n", SAMPLE_LINES)[:SAMPLE_LINES], start=1):
        text = line.decode(encoding, errors="replace").rstrip("\r")
        if text.strip():
            out.append((n, text))
    if not out:
        raise DataError(f"{label}: file is empty")
    return out


def _fields(text: str, sep: str | None) -> list[str]:
    return text.split() if sep is None else [f.strip() for f in text.split(sep)]


def _number(tok: str) -> bool:
    try:
        float(tok)
    except ValueError:
        return False
    return True


def guess_sep(lines: list[tuple[int, str]]) -> str | None:
    """The first of ``::``, tab, comma, ``;``, ``|`` found on every sampled line, else whitespace."""
    for cand in _SEP_CANDIDATES:
        if all(cand in t for _, t in lines):
            return cand
    return None


def looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """A header: a known column word, or words above numbers in the next line."""
    if any(f.strip().strip('"').lower() in _HEADER_WORDS for f in first):
        return True
    if second is None or len(first) != len(second):
        return False
    return any(not _number(a) and _number(b) for a, b in zip(first, second))


def user_lines_or_pairs(rows: list[tuple[int, list[str]]], label: str) -> str | None:
    """``"lines"``, ``"pairs"`` or None (ambiguous) for headerless whitespace rows.

    Pair files repeat users (anywhere, sorted or not); user-line files list each
    user once and vary in length. A non-numeric token is reported with its line.
    """
    for n, fields in rows:
        for pos, tok in enumerate(fields):
            if not (tok.isdigit() or (pos >= 2 and _number(tok))):
                what = "an integer id" if pos < 2 else "a number"
                raise DataError(f"{label} line {n}: field {pos + 1} {tok!r} is not {what}")
    counts = Counter(len(f) for _, f in rows)
    users = [f[0] for _, f in rows]
    if len(set(users)) < len(users):
        return "pairs"
    if len(counts) > 1 or max(counts) > 3:
        return "lines"
    if max(counts) == 2 or any(not f[2].isdigit() for _, f in rows):
        return "pairs"
    return None


def sniff_layout(raw: bytes, label: str, *, sep: str | None = None, header: bool | None = None,
                 columns: tuple[str | None, ...] | None = None, encoding: str = "utf-8") -> Layout:
    """The :class:`Layout` of a file, from its first lines and the options given.

    Parameters
    ----------
    raw
        The file's bytes.
    label
        File name for messages.
    sep, header, columns
        What the user said (``--sep``, ``--header``, ``--columns``); None: sniffed.
    """
    lines = sample(raw, label, encoding)
    sep = sep if sep is not None else guess_sep(lines)
    if columns == ("user", "items"):
        return Layout("lines", sep, bool(header))
    first = _fields(lines[0][1], sep)
    second = _fields(lines[1][1], sep) if len(lines) > 1 else None
    has_header = looks_like_header(first, second) if header is None else header
    body = [(n, _fields(t, sep)) for n, t in lines[1 if has_header else 0:]]
    if columns is not None:
        return Layout("table", sep, has_header, columns)
    if has_header:
        return Layout("table", sep, True, ())
    if sep is None:
        kind = user_lines_or_pairs(body, label)
        if kind is None:
            raise DataError(
                f"{label}: cannot tell LightGCN lines from user-item pairs (every line has 3 integer fields "
                "and no user repeats); pass --columns user,items (one line per user) or --columns "
                "user,item,rating")
        if kind == "lines":
            return Layout("lines", None, False)
    width = Counter(len(f) for _, f in body).most_common(1)[0][0]
    if width not in _DEFAULT_ROLES:
        raise DataError(f"{label} line {body[0][0]}: {width} fields per line and no header; say what they are "
                        "with --columns (e.g. --columns user,item,rating,timestamp,- ; '-' skips a field)")
    return Layout("table", sep, False, _DEFAULT_ROLES[width])
