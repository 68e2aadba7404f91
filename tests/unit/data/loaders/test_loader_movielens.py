"""MovieLens loaders on small files in each layout, written by the tests."""

from __future__ import annotations

import pandas as pd
import pytest

from recaug.data.loaders import DatasetError, load_dataset
from recaug.data.schemas import INTERACTIONS, ITEMS, USERS


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def assert_canonical(ds):
    assert list(ds.interactions.columns) == INTERACTIONS.names
    assert list(ds.items.columns) == ITEMS.names
    assert list(ds.users.columns) == USERS.names
    assert str(ds.interactions["timestamp"].dtype) == "datetime64[ns, UTC]"


@pytest.fixture
def ml100k(tmp_path):
    flags = lambda *on: "|".join("1" if i in on else "0" for i in range(19))  # noqa: E731
    write(tmp_path / "u.data", "1\t10\t5\t881250949\n1\t20\t3\t881250950\n2\t10\t4\t881250000\n")
    write(tmp_path / "u.item",
          f"10|Café Society (1995)|01-Jan-1995||http://x|{flags(1, 5)}\n"
          f"20|Heat (1995)|01-Jan-1995||http://y|{flags(6, 16)}\n", encoding="latin-1")
    write(tmp_path / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    return tmp_path


def test_ml100k_reads_ratings_latin1_titles_genres_and_users(ml100k):
    ds = load_dataset("ml-100k", ml100k)
    assert_canonical(ds)
    inter = ds.interactions
    assert inter["user_id"].tolist() == ["1", "1", "2"]
    assert inter["rating"].tolist() == [5.0, 3.0, 4.0]
    assert inter["timestamp"].iloc[0] == pd.Timestamp(881250949, unit="s", tz="UTC")
    assert set(inter["source"]) == {"observed"}
    items = ds.items.set_index("item_id")
    assert items.loc["10", "title"] == "Café Society (1995)"
    assert items.loc["10", "categories"] == "Action|Comedy"
    assert items.loc["20", "categories"] == "Crime|Thriller"
    # first_seen comes from the item's first rating
    assert items.loc["10", "first_seen"] == pd.Timestamp(881250000, unit="s", tz="UTC")
    users = ds.users.set_index("user_id")
    assert users.loc["2", "age"] == 53 and users.loc["2", "occupation"] == "other" and users.loc["2", "region"] == "94043"


def test_ml100k_missing_file_names_it(ml100k):
    (ml100k / "u.item").unlink()
    with pytest.raises(DatasetError, match=r"u\.item.*missing movies file"):
        load_dataset("ml-100k", ml100k)


def test_ml100k_bad_rating_names_file_line_and_column(ml100k):
    write(ml100k / "u.data", "1\t10\t5\t881250949\n1\t20\tfive\t881250950\n")
    with pytest.raises(DatasetError, match=r"u\.data, line 2: column 'rating' must be a number, got 'five'"):
        load_dataset("ml-100k", ml100k)


def test_ml100k_wrong_field_count_in_items(ml100k):
    write(ml100k / "u.item", "10|Heat|01-Jan-1995||http://x|0|1\n", encoding="latin-1")
    with pytest.raises(DatasetError, match=r"u\.item, line 1: expected 24 '\|'-separated fields, got 7"):
        load_dataset("ml-100k", ml100k)


def test_ml1m_dat_with_users_and_occupation_names(tmp_path):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(tmp_path / "movies.dat", "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Amélie: Le Film (2001)::Animation|Children's\n",
          encoding="latin-1")
    write(tmp_path / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    ds = load_dataset("ml-1m", tmp_path)
    assert_canonical(ds)
    assert len(ds.interactions) == 3
    items = ds.items.set_index("item_id")
    assert items.loc["661", "title"] == "Amélie: Le Film (2001)"  # ':' inside a title survives
    assert items.loc["661", "categories"] == "Animation|Children's"
    users = ds.users.set_index("user_id")
    assert users.loc["1", "occupation"] == "K-12 student" and users.loc["2", "occupation"] == "self-employed"
    assert users.loc["2", "age"] == 56


def test_ml10m_dat_has_no_users_file_but_tags_join_into_items(tmp_path):
    write(tmp_path / "ratings.dat", "5::122::3.5::838985046\n5::185::4::838983525\n7::122::2.5::838983421\n")
    write(tmp_path / "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::(no genres listed)\n")
    write(tmp_path / "tags.dat", "15::122::dark hero::1215184630\n20::122::Boxing::1188263867\n21::122::dark Hero::1188263880\n")
    ds = load_dataset("ml-10m", tmp_path)
    assert ds.interactions["rating"].tolist() == [3.5, 4.0, 2.5]
    items = ds.items.set_index("item_id")
    assert items.loc["122", "tags"] == "dark hero|Boxing"  # most used first, case-insensitive duplicates merged
    assert pd.isna(items.loc["185", "categories"])
    # without users.dat, the users are the ids seen in the ratings
    assert sorted(ds.users["user_id"]) == ["5", "7"]


def test_ml_dat_malformed_ratings_line_is_reported(tmp_path):
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1;661;3;978302109\n")
    write(tmp_path / "movies.dat", "1193::X (1975)::Drama\n")
    with pytest.raises(DatasetError, match=r"ratings\.dat"):
        load_dataset("ml-dat", tmp_path)


def test_ml_latest_csv_with_tags_and_genres(tmp_path):
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,2.0,964982224\n")
    write(tmp_path / "movies.csv",
          'movieId,title,genres\n1,"Toy Story (1995)",Adventure|Animation\n3,"Heat, The (1995)",(no genres listed)\n')
    write(tmp_path / "tags.csv", "userId,movieId,tag,timestamp\n2,1,pixar,1445714994\n3,1,fun,1445714996\n4,1,Pixar,1445714997\n")
    ds = load_dataset("ml-latest-small", tmp_path)
    assert_canonical(ds)
    items = ds.items.set_index("item_id")
    assert items.loc["1", "categories"] == "Adventure|Animation"
    assert items.loc["1", "tags"] == "pixar|fun"
    assert items.loc["3", "title"] == "Heat, The (1995)" and pd.isna(items.loc["3", "categories"])
    assert ds.interactions["rating"].tolist() == [4.0, 4.5, 2.0]


def test_ml_latest_bad_timestamp_reports_csv_line(tmp_path):
    write(tmp_path / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,yesterday\n")
    write(tmp_path / "movies.csv", "movieId,title,genres\n1,A,Drama\n")
    with pytest.raises(DatasetError, match=r"ratings\.csv, line 3: column 'timestamp' must be an integer, got 'yesterday'"):
        load_dataset("ml-latest", tmp_path)


def test_ml_latest_missing_column_names_header(tmp_path):
    write(tmp_path / "ratings.csv", "user,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    write(tmp_path / "movies.csv", "movieId,title,genres\n1,A,Drama\n")
    with pytest.raises(DatasetError, match=r"ratings\.csv: missing column\(s\) \['userId'\]"):
        load_dataset("ml-latest", tmp_path)


def test_unknown_format_lists_known_ones(tmp_path):
    with pytest.raises(DatasetError, match="unknown dataset format 'netflix'.*ml-100k"):
        load_dataset("netflix", tmp_path)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match="nope: no such file or folder"):
        load_dataset("ml-100k", tmp_path / "nope")
