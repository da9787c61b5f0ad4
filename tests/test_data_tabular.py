"""Generic CSV / TSV / Parquet tables with a column mapping."""

import numpy as np
import pandas as pd
import pytest

from advrec.data import load_dataset
from advrec.data.tabular import guess_columns, load_tabular
from advrec.errors import DataError


def test_csv_with_mapping_and_string_ids(tmp_path):
    p = tmp_path / "clicks.csv"
    p.write_text('customer,sku,qty,note\nc1,"A,1",2,hello\nc2,B,1,\nc1,B,5,x\n')
    ds = load_tabular(p, user="customer", item="sku", value="qty")
    inter = ds.interactions
    assert inter.user_ids.tolist() == ["c1", "c2"] and inter.item_ids.tolist() == ["A,1", "B"]
    np.testing.assert_array_equal(inter.csr.toarray(), [[2, 5], [0, 1]])
    assert ds.name == "clicks" and inter.timestamps is None


def test_tsv_guessed_columns_int_ids_and_load_dataset_by_path(tmp_path):
    p = tmp_path / "r.tsv"
    p.write_text("userId\tmovieId\trating\ttimestamp\n3\t10\t4\t100\n1\t10\t2\t50\n")
    ds = load_dataset(str(p))
    inter = ds.interactions
    assert inter.user_ids.dtype == np.int64 and inter.user_ids.tolist() == [1, 3]
    assert inter.timestamps.tolist() == [100, 50] and inter.values.tolist() == [4.0, 2.0]


def test_errors_name_line_and_column(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("user,item,rating\n1,2,3\n1,3,x\n")
    with pytest.raises(DataError, match=r"r\.csv line 3, field 3: 'x' is not a number"):
        load_tabular(p)
    p.write_text("user,item,rating\n1,2,3\n1,2,4\n")
    with pytest.raises(DataError, match=r"r\.csv line 3: duplicate \(user, item\) pair \(1, 2\), first on line 2"):
        load_tabular(p)
    assert load_tabular(p, duplicates="sum").interactions.values.tolist() == [7.0]
    p.write_text("user,item,rating\n1,2,3\n1,3,9\n")
    with pytest.raises(DataError, match=r"r\.csv line 3: rating 9 is out of range"):
        load_tabular(p, value_range=(1, 5))
    with pytest.raises(DataError, match=r"no column 'stars' \(for value\)"):
        load_tabular(p, user="user", item="item", value="stars")
    with pytest.raises(DataError, match="cannot tell which columns hold users and items"):
        guess_columns(["a", "b"])
    q = tmp_path / "r.xyz"
    q.write_text("user item\n1 2\n")
    with pytest.raises(DataError, match="cannot infer the separator"):
        load_tabular(q)


def test_parquet(tmp_path):
    p = tmp_path / "r.parquet"
    df = pd.DataFrame({"u": [5, 6, 5], "i": ["x", "y", "y"], "v": [1.0, 2.0, 3.0],
                       "t": pd.to_datetime([1, 2, 3], unit="s")})
    df.to_parquet(p)
    inter = load_tabular(p, user="u", item="i", value="v", timestamp="t").interactions
    assert inter.timestamps.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(inter.csr.toarray(), [[1, 3], [0, 2]])
    df.loc[1, "v"] = np.nan
    df.to_parquet(p)
    with pytest.raises(DataError, match=r"r\.parquet row 1: missing value"):
        load_tabular(p, user="u", item="i", value="v")
