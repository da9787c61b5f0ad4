"""Line-level parsing and validation: exact file names and line numbers in errors."""

import numpy as np
import pytest

from advrec.data.lgcn import read_lightgcn, read_pairs
from advrec.data.parsing import count_lines, read_table
from advrec.data.record_checks import check_duplicate_pairs, check_range, check_unique
from advrec.errors import DataError

COLS4 = [("user", "int"), ("item", "int"), ("value", "float"), ("timestamp", "int")]


def _write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return p


def test_read_table_values_and_first_line(tmp_path):
    p = _write(tmp_path, "u.data", "1\t10\t3\t100\n2\t20\t4.5\t200\n")
    df, first = read_table(p, COLS4, sep="\t")
    assert first == 1
    assert df["user"].tolist() == [1, 2]
    assert df["value"].tolist() == [3.0, 4.5]
    assert df["timestamp"].dtype == np.int64


def test_count_lines_ignores_trailing_blank_lines():
    assert count_lines(b"a\nb\n") == 2
    assert count_lines(b"a\nb") == 2
    assert count_lines(b"a\nb\n\n \n") == 2
    assert count_lines(b"  \n") == 0


def test_missing_field_reports_line(tmp_path):
    lines = [f"{u}\t{u + 1}\t3\t{1000 + u}" for u in range(1, 17)] + ["17\t5\t3"] + ["18\t1\t2\t5"]
    p = _write(tmp_path, "u.data", "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"^u\.data line 17: expected 4 tab-separated fields, got 3$"):
        read_table(p, COLS4, sep="\t")


def test_extra_field_reports_line(tmp_path):
    p = _write(tmp_path, "r.dat", "1::2::3::4\n1::3::3::4::9\n")
    with pytest.raises(DataError, match=r"r\.dat line 2: expected 4 '::'-separated fields, got 5"):
        read_table(p, COLS4, sep="::")


@pytest.mark.parametrize(
    "bad,msg",
    [("x", r"line 3, field 3: 'x' is not a number"),
     ("nan", r"line 3, field 3: 'nan' is not a finite number"),
     ("inf", r"line 3, field 3: 'inf' is not a finite number")],
)
def test_bad_number_reports_line_and_field(tmp_path, bad, msg):
    p = _write(tmp_path, "f.tsv", f"1\t1\t3\t1\n1\t2\t3\t1\n1\t3\t{bad}\t1\n")
    with pytest.raises(DataError, match=msg):
        read_table(p, COLS4, sep="\t")


def test_non_integer_id(tmp_path):
    p = _write(tmp_path, "f.tsv", "1\t1\t3\t1\nu7\t2\t3\t1\n")
    with pytest.raises(DataError, match=r"f\.tsv line 2, field 1: 'u7' is not an integer"):
        read_table(p, COLS4, sep="\t")


def test_empty_file_and_blank_line(tmp_path):
    with pytest.raises(DataError, match=r"e\.tsv: file is empty"):
        read_table(_write(tmp_path, "e.tsv", "\n \n"), COLS4, sep="\t")
    p = _write(tmp_path, "b.tsv", "1\t1\t3\t1\n\n1\t2\t3\t1\n")
    with pytest.raises(DataError, match=r"b\.tsv line 2: empty line"):
        read_table(p, COLS4, sep="\t")


def test_header_checked_and_crlf_without_final_newline(tmp_path):
    p = _write(tmp_path, "ua.dat", b"userID\tartistID\tweight\r\n2\t51\t13883\r\n2\t52\t11690")
    cols = [("user", "int"), ("item", "int"), ("value", "float")]
    df, first = read_table(p, cols, sep="\t", header=["userID", "artistID", "weight"])
    assert first == 2 and df["value"].tolist() == [13883.0, 11690.0]
    with pytest.raises(DataError, match=r"ua\.dat line 1: expected header \['user', 'artist', 'weight'\]"):
        read_table(p, cols, sep="\t", header=["user", "artist", "weight"])
    with pytest.raises(DataError, match="no records after the header"):
        read_table(_write(tmp_path, "h.dat", "userID\tartistID\tweight\n"), cols, sep="\t",
                   header=["userID", "artistID", "weight"])


def test_encodings(tmp_path):
    p = _write(tmp_path, "u.item", "543|Misérables, Les (1995)\n", encoding="latin-1")
    cols = [("id", "int"), ("title", "str")]
    df, _ = read_table(p, cols, sep="|", encoding="latin-1")
    assert df["title"].iloc[0] == "Misérables, Les (1995)"
    with pytest.raises(DataError, match=r"u\.item line 1: not valid utf-8 text"):
        read_table(p, cols, sep="|", encoding="utf-8")


def test_required_string_must_not_be_empty(tmp_path):
    p = _write(tmp_path, "u.user", "1|24|M\n2||F\n")
    cols = [("id", "int"), ("age", "str?"), ("gender", "str")]
    df, _ = read_table(p, cols, sep="|")
    assert df["age"].isna().tolist() == [False, True]
    p2 = _write(tmp_path, "v.user", "1|24|M\n2|30|\n")
    with pytest.raises(DataError, match=r"v\.user line 2, field 3: empty value"):
        read_table(p2, cols, sep="|")


def test_check_range_and_unique_and_duplicates():
    check_range(np.array([1, 5]), label="u.data", field="rating", first_line=1, lo=1, hi=5)
    with pytest.raises(DataError, match=r"u\.data line 12: rating 6 is out of range \(expected in \[1, 5\]; 2 bad"):
        check_range(np.array([3, 6, 0]), label="u.data", field="rating", first_line=11, lo=1, hi=5)
    with pytest.raises(DataError, match=r"r line 3: rating 2\.25 is out of range \(expected one of"):
        check_range(np.array([0.5, 5.0, 2.25]), label="r", field="rating", first_line=1, allowed=[0.5, 5.0])
    with pytest.raises(DataError, match=r"u\.item line 5: movie id 7 is defined twice \(first on line 2\)"):
        check_unique(np.array([3, 7, 8, 9, 7]), label="u.item", field="movie id", first_line=1)
    with pytest.raises(DataError, match=r"t line 4: duplicate \(user, item\) pair \(1, 2\), first on line 2"):
        check_duplicate_pairs(np.array([0, 1, 1, 1]), np.array([5, 2, 3, 2]), label="t", lines=1)
    check_duplicate_pairs(np.array([1, 2]), np.array([1, 1]), label="t", lines=1)


def test_read_lightgcn_small(tmp_path):
    p = _write(tmp_path, "train.txt", "0 5 7\r\n1\n2 3 \n\n")
    u, i, listed, lines = read_lightgcn(p)
    assert u.tolist() == [0, 0, 2] and i.tolist() == [5, 7, 3]
    assert listed.tolist() == [0, 1, 2] and lines.tolist() == [1, 1, 3]


@pytest.mark.parametrize(
    "text,msg",
    [("0 1 2\n1 x 3\n", r"train\.txt line 2: 'x' is not a non-negative integer index"),
     ("0 1 2\n1 2 -3\n", r"train\.txt line 2: '-3' is not a non-negative integer index"),
     ("0 1 2\n1 2.5\n", r"train\.txt line 2: '2\.5' is not"),
     ("0 1\n\n2 3\n", r"train\.txt line 2: empty line"),
     ("\n \n", r"train\.txt: file is empty")],
)
def test_read_lightgcn_errors(tmp_path, text, msg):
    with pytest.raises(DataError, match=msg):
        read_lightgcn(_write(tmp_path, "train.txt", text))


def test_read_pairs_two_or_three_fields(tmp_path):
    df, first = read_pairs(_write(tmp_path, "a.txt", "0 1\n0 2\n"))
    assert df["value"].tolist() == [1.0, 1.0] and first == 1
    df, _ = read_pairs(_write(tmp_path, "b.txt", "0 1 3.0\n1 2 5\n"))
    assert df["value"].tolist() == [3.0, 5.0]
    with pytest.raises(DataError, match=r"c\.txt line 2: expected 3 whitespace-separated fields, got 2"):
        read_pairs(_write(tmp_path, "c.txt", "0 1 1\n0 2\n"))
    with pytest.raises(DataError, match=r"d\.txt line 1: expected 2 or 3"):
        read_pairs(_write(tmp_path, "d.txt", "0 1 1 1\n"))
