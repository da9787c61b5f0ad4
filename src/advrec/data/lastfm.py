"""HetRec 2011 Last.fm (``hetrec2011-lastfm-2k``): listening counts with social and tag side data.

Files (tab-separated, one header row; CRLF line endings and a missing final
newline are accepted):

* ``user_artists.dat`` (``userID artistID weight``): the records; the value is
  the listening count (a positive integer), there are no timestamps.
* ``artists.dat`` (``id name url pictureURL``, UTF-8): item features ``name``
  and ``url`` (``pictureURL`` is often empty and is dropped).
* ``user_friends.dat`` (``userID friendID``): the ``"friends"`` table.
* ``tags.dat`` (``tagID tagValue``, latin-1): the ``"tags"`` table. The
  user-tag-artist assignments (``user_taggedartists.dat``) are read into the
  ``"tag_assignments"`` table when that file is present, and then become item
  features too (:func:`artist_tags`): a ``tags`` text column (the artist's most
  used tags) and ``tag:<name>`` 0/1 columns for the catalogue's most used tags,
  which the encoders treat like MovieLens genres. Our copy of the data lacks that
  file (docs/datasets.md), so artists have only ``name`` and ``url`` there.

Id space: users and artists with at least one listening record (1,892 users,
17,632 artists in the release).

Duplicate policy: ``"error"`` (default). The weight of a (user, artist) pair
is already the aggregated play count, so a repeated pair means a damaged file;
``duplicates="sum"`` would add the counts.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.data.lgcn import encode, unique_ids
from advrec.data.parsing import read_table
from advrec.data.record_checks import check_duplicate_pairs, check_range, check_unique
from advrec.data.sources import Dataset, source_record
from advrec.errors import DataError

REQUIRED = ("user_artists.dat",)


def read_friends(path: str | Path) -> pd.DataFrame:
    """``user_friends.dat`` as a ``(user, friend)`` table of external ids."""
    cols = [("user", "int"), ("friend", "int")]
    df, first = read_table(path, cols, sep="\t", header=["userID", "friendID"])
    check_duplicate_pairs(df["user"].to_numpy(), df["friend"].to_numpy(), label=Path(path).name, lines=first)
    return df


def read_tags(path: str | Path) -> pd.DataFrame:
    """``tags.dat`` (latin-1) as a ``(tag_id, tag)`` table."""
    cols = [("tag_id", "int"), ("tag", "str")]
    df, first = read_table(path, cols, sep="\t", header=["tagID", "tagValue"], encoding="latin-1")
    check_unique(df["tag_id"], label=Path(path).name, field="tag id", first_line=first)
    return df


def read_artists(path: str | Path) -> pd.DataFrame:
    """``artists.dat`` indexed by artist id, with ``name`` and ``url``."""
    cols = [("id", "int"), ("name", "str"), ("url", "str?"), ("picture_url", "str?")]
    df, first = read_table(path, cols, sep="\t", header=["id", "name", "url", "pictureURL"])
    check_unique(df["id"], label=Path(path).name, field="artist id", first_line=first)
    return df[["id", "name", "url"]].set_index("id")


def load_lastfm(folder: str | Path, *, duplicates: str = "error", name: str = "lastfm-2k") -> Dataset:
    """Load the HetRec 2011 Last.fm data from ``folder`` (see the module docstring)."""
    folder = Path(folder)
    ua = folder / "user_artists.dat"
    if not ua.is_file():
        raise DataError(f"{ua}: not found")
    cols = [("user", "int"), ("item", "int"), ("value", "float")]
    df, first = read_table(ua, cols, sep="\t", header=["userID", "artistID", "weight"])
    check_range(df["value"], label=ua.name, field="weight", first_line=first, lo=1)
    u, i = df["user"].to_numpy(), df["item"].to_numpy()
    if duplicates == "error":
        check_duplicate_pairs(u, i, label=ua.name, lines=first)
    uid, iid = unique_ids(u), unique_ids(i)
    inter = Interactions(encode(u, uid), encode(i, iid), df["value"].to_numpy(np.float32), uid, iid, name=name)
    inter = inter.deduplicate(duplicates)
    files = [ua]
    tables: dict[str, pd.DataFrame] = {}
    if (folder / "artists.dat").is_file():
        artists = read_artists(folder / "artists.dat")
        missing = ~np.isin(iid, artists.index.to_numpy())
        if missing.any():
            r = int(np.flatnonzero(i == iid[missing][0])[0])
            raise DataError(f"{ua.name} line {first + r}: artist id {iid[missing][0]} is not in artists.dat")
        inter = replace(inter, item_features=artists.loc[iid].reset_index(drop=True))
        files.append(folder / "artists.dat")
    if (folder / "user_friends.dat").is_file():
        tables["friends"] = read_friends(folder / "user_friends.dat")
        files.append(folder / "user_friends.dat")
    if (folder / "tags.dat").is_file():
        tables["tags"] = read_tags(folder / "tags.dat")
        files.append(folder / "tags.dat")
    tagged = folder / "user_taggedartists.dat"
    if tagged.is_file():
        tcols = [("user", "int"), ("artist", "int"), ("tag_id", "int"),
                 ("day", "int"), ("month", "int"), ("year", "int")]
        tables["tag_assignments"], _ = read_table(
            tagged, tcols, sep="\t", header=["userID", "artistID", "tagID", "day", "month", "year"])
        files.append(tagged)
        if "tags" in tables and inter.item_features is not None:
            found = artist_tags(tables["tag_assignments"], tables["tags"], inter.item_ids)
            inter = replace(inter, item_features=pd.concat([inter.item_features, found], axis=1))
    desc = ("HetRec 2011 Last.fm: 92,834 (user, artist) listening counts (values = play counts, no "
            "timestamps) from 1,892 users on 17,632 artists; tables: " + (", ".join(tables) or "none") + ".")
    return Dataset(name, inter, None, source_record(folder, files), desc, tables)


def artist_tags(assignments: pd.DataFrame, tags: pd.DataFrame, artist_ids: np.ndarray, *,
                top_tags: int = 100, per_artist: int = 10) -> pd.DataFrame:
    """Item features from user-tag-artist assignments, one row per artist of ``artist_ids``.

    Parameters
    ----------
    assignments
        The ``tag_assignments`` table (``user``, ``artist``, ``tag_id``, ...).
    tags
        The ``tags`` table (``tag_id``, ``tag``).
    artist_ids
        The raw artist ids, in item-index order.
    top_tags
        How many of the most assigned tags get a ``tag:<name>`` column.
    per_artist
        How many of an artist's most assigned tags its ``tags`` text lists.

    Returns
    -------
    pandas.DataFrame
        ``tags`` (the artist's tags, most assigned first, comma-separated; ``""`` without any)
        and one 0/1 ``tag:<name>`` column per frequent tag (1 when someone gave the artist that
        tag). Assignments of artists or tag ids outside ``artist_ids`` / ``tags`` are ignored.
    """
    names = tags.set_index("tag_id")["tag"]
    a = assignments[assignments["artist"].isin(artist_ids) & assignments["tag_id"].isin(names.index)]
    counts = a.groupby(["artist", "tag_id"]).size().rename("n").reset_index()
    counts = counts.sort_values(["artist", "n", "tag_id"], ascending=[True, False, True])
    counts["tag"] = names.loc[counts["tag_id"].to_numpy()].to_numpy()
    text = counts.groupby("artist").head(per_artist).groupby("artist")["tag"].agg(", ".join)
    out = pd.DataFrame({"tags": text.reindex(artist_ids, fill_value="").to_numpy()})
    frequent = a["tag_id"].value_counts(sort=False).sort_index(kind="stable").sort_values(
        ascending=False, kind="stable").index[:top_tags]
    rows = np.searchsorted(artist_ids, counts["artist"].to_numpy())
    multi = np.zeros((len(artist_ids), len(frequent)), np.float32)
    col = pd.Index(frequent).get_indexer(counts["tag_id"])
    multi[rows[col >= 0], col[col >= 0]] = 1.0
    labels = [str(names.loc[t]) for t in frequent]
    twice = {x for x in labels if labels.count(x) > 1}  # one name under two ids: keep both apart
    cols = pd.DataFrame(multi, columns=[f"tag:{x}#{t}" if x in twice else f"tag:{x}" for x, t in zip(labels, frequent)])
    return pd.concat([out, cols], axis=1)


def friends(ds: Dataset) -> pd.DataFrame:
    """The social graph of a Last.fm :class:`Dataset` as ``(user, friend)`` user *indices*.

    Friends outside the dataset's user id space are dropped.
    """
    if "friends" not in ds.tables:
        raise DataError(f"{ds.name}: no friends table (user_friends.dat was not found)")
    f = ds.tables["friends"]
    uid = ds.interactions.user_ids
    pos_u, pos_f = np.searchsorted(uid, f["user"].to_numpy()), np.searchsorted(uid, f["friend"].to_numpy())
    ok = (pos_u < len(uid)) & (pos_f < len(uid))
    ok[ok] = (uid[pos_u[ok]] == f["user"].to_numpy()[ok]) & (uid[pos_f[ok]] == f["friend"].to_numpy()[ok])
    return pd.DataFrame({"user": pos_u[ok], "friend": pos_f[ok]})
