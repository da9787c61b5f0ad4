"""MovieLens side files: ``u.user``, ``u.item``, ``users.dat``, ``movies.dat`` / ``movies.csv``.

Each reader returns a table indexed by the MovieLens id, validated: ids defined
twice, codes outside the documented sets and malformed lines raise
:class:`DataError` naming the file and line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.parsing import read_source, read_table
from advrec.data.record_checks import check_range, check_unique
from advrec.errors import DataError

#: ``u.genre`` order of the 19 genre flags in ``u.item``.
ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
    "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)
#: The 18 genres listed in the ML-1M README.
ML1M_GENRES = ML100K_GENRES[1:]
#: ML-1M occupation codes (README).
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
)
#: ML-1M age-group codes (README); the code is the lower bound of the group.
ML1M_AGE_CODES = (1, 18, 25, 35, 45, 50, 56)
GENDERS = ("F", "M")


def title_year(titles: pd.Series) -> pd.Series:
    """The ``(YYYY)`` at the end of MovieLens titles as float (NaN when absent)."""
    return titles.str.extract(r"\((\d{4})\)\s*$", expand=False).astype(np.float64)


def _check_gender(values: pd.Series, label: str, first: int) -> None:
    bad = ~values.isin(GENDERS).to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataError(f"{label} line {first + r}: gender {values.iloc[r]!r} is not one of {list(GENDERS)}")


def read_u_user(
    path: str | Path | bytes, label: str | None = None, *, sep: str = "|", header: list[str] | None = None
) -> pd.DataFrame:
    """``u.user``: ``user id | age | gender | occupation | zip code`` (RecBole: tab-separated, header)."""
    cols = [("id", "int"), ("age", "int"), ("gender", "str"), ("occupation", "str"), ("zip_code", "str")]
    df, first = read_table(path, cols, sep=sep, header=header, label=label)
    label = label or Path(str(path)).name
    check_unique(df["id"], label=label, field="user id", first_line=first)
    check_range(df["age"], label=label, field="age", first_line=first, lo=1, hi=120)
    _check_gender(df["gender"], label, first)
    return df.set_index("id")


def read_u_item(path: str | Path | bytes, label: str | None = None) -> pd.DataFrame:
    """``u.item`` (latin-1): id, title, dates, IMDb URL and 19 genre flags."""
    cols = [("id", "int"), ("title", "str"), ("release_date", "str?"), ("video_release_date", "str?"),
            ("imdb_url", "str?")] + [(f"genre:{g}", "int") for g in ML100K_GENRES]
    df, first = read_table(path, cols, sep="|", encoding="latin-1", label=label)
    label = label or Path(str(path)).name
    check_unique(df["id"], label=label, field="movie id", first_line=first)
    for g in ML100K_GENRES:
        check_range(df[f"genre:{g}"], label=label, field=f"genre flag {g!r}", first_line=first, allowed=[0, 1])
    dates = pd.to_datetime(df["release_date"], format="%d-%b-%Y", errors="coerce")
    bad = df["release_date"].notna().to_numpy() & dates.isna().to_numpy()
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise DataError(f"{label} line {first + r}: release date {df['release_date'].iloc[r]!r} is not DD-Mon-YYYY")
    # the film's year from the title, as for ML-1M (release_date is often a later re-release)
    df["year"] = title_year(df["title"]).fillna(dates.dt.year.astype(np.float64))
    genre_cols = [f"genre:{g}" for g in ML100K_GENRES]
    df[genre_cols] = df[genre_cols].astype(np.int8)
    order = ["id", "title", "year", *genre_cols, "release_date", "video_release_date", "imdb_url"]
    return df[order].set_index("id")


def read_users_dat(path: str | Path | bytes, label: str | None = None) -> pd.DataFrame:
    """ML-1M ``users.dat``: ``UserID::Gender::Age::Occupation::Zip-code``."""
    cols = [("id", "int"), ("gender", "str"), ("age", "int"), ("occupation_code", "int"), ("zip_code", "str")]
    df, first = read_table(path, cols, sep="::", label=label)
    label = label or Path(str(path)).name
    check_unique(df["id"], label=label, field="user id", first_line=first)
    _check_gender(df["gender"], label, first)
    check_range(df["age"], label=label, field="age code", first_line=first, allowed=list(ML1M_AGE_CODES))
    check_range(df["occupation_code"], label=label, field="occupation code", first_line=first,
                lo=0, hi=len(ML1M_OCCUPATIONS) - 1)
    df["occupation"] = np.asarray(ML1M_OCCUPATIONS, dtype=object)[df["occupation_code"].to_numpy()]
    return df[["id", "age", "gender", "occupation", "occupation_code", "zip_code"]].set_index("id")


def read_movies(
    path: str | Path | bytes,
    *,
    sep: str,
    encoding: str | None,
    genres: str | None,
    header: list[str] | None = None,
    label: str | None = None,
) -> pd.DataFrame:
    """``movies.dat`` / ``movies.csv``: id, title (with year) and ``|``-separated genres.

    Parameters
    ----------
    encoding
        ``None`` means UTF-8 when the file decodes as UTF-8, else latin-1.
    genres
        ``"ml-1m"`` checks against the 18 README genres and keeps their order;
        ``None`` takes the genres found (sorted), ignoring ``(no genres listed)``.
    """
    raw, label = read_source(path, label)
    if encoding is None:
        try:
            raw.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "latin-1"
    cols = [("id", "int"), ("title", "str"), ("genres", "str")]
    df, first = read_table(raw, cols, sep=sep, header=header, encoding=encoding,
                           quoting=sep == ",", label=label)
    check_unique(df["id"], label=label, field="movie id", first_line=first)
    flags = df["genres"].str.get_dummies(sep="|").drop(columns="(no genres listed)", errors="ignore")
    if genres == "ml-1m":
        unknown = [g for g in flags.columns if g not in ML1M_GENRES]
        if unknown:
            r = int(np.flatnonzero(flags[unknown[0]].to_numpy())[0])
            raise DataError(f"{label} line {first + r}: genre {unknown[0]!r} is not one of the README genres")
        names = list(ML1M_GENRES)
    else:
        names = sorted(flags.columns)
    flags = flags.reindex(columns=names, fill_value=0).astype(np.int8)
    flags.columns = [f"genre:{g}" for g in names]
    out = pd.concat([df[["id", "title"]], title_year(df["title"]).rename("year"), flags], axis=1)
    return out.set_index("id")
