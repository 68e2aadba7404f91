"""Amazon reviews JSON lines, 2018 and 2023 field names, plain and gzipped."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from recaug.data.loaders import DatasetError, load_dataset


def jsonl(path, records, gz=False):
    text = "".join(json.dumps(r) + "\n" for r in records)
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_2018_fields_seconds_and_string_prices(tmp_path):
    jsonl(tmp_path / "Books_5.json", [
        {"reviewerID": "A1", "asin": "B001", "overall": 5.0, "unixReviewTime": 1400000000, "reviewText": "great"},
        {"reviewerID": "A2", "asin": "B002", "overall": 3.0, "unixReviewTime": 1400000100},
    ])
    jsonl(tmp_path / "meta_Books.json", [
        {"asin": "B001", "title": "Dune", "description": ["Desert planet.", "Spice."], "brand": "Ace",
         "category": ["Books", "Science Fiction"], "price": "$12.99"},
        {"asin": "B002", "title": "Emma", "category": [], "price": "$5.00 - $9.00"},
    ])
    ds = load_dataset("amazon", tmp_path)
    inter = ds.interactions
    assert inter["user_id"].tolist() == ["A1", "A2"]
    assert inter["timestamp"].iloc[0] == pd.Timestamp(1400000000, unit="s", tz="UTC")
    assert inter["rating"].tolist() == [5.0, 3.0]
    items = ds.items.set_index("item_id")
    assert items.loc["B001", "description"] == "Desert planet. Spice."
    assert items.loc["B001", "categories"] == "Books|Science Fiction"
    assert items.loc["B001", "price"] == 12.99 and items.loc["B002", "price"] == 5.0
    assert items.loc["B001", "brand"] == "Ace"


def test_2023_fields_milliseconds_parent_asin_gzip(tmp_path):
    jsonl(tmp_path / "All_Beauty.jsonl.gz", [
        {"user_id": "U1", "asin": "C1-red", "parent_asin": "C1", "rating": 4.0, "timestamp": 1588687728923, "text": "ok"},
        {"user_id": "U1", "asin": "C2", "parent_asin": "C2", "rating": 2.0, "timestamp": 1588687730000},
    ], gz=True)
    jsonl(tmp_path / "meta_All_Beauty.jsonl.gz", [
        {"parent_asin": "C1", "title": "Lip balm", "main_category": "All Beauty", "categories": ["Lips"],
         "features": ["Shea butter"], "description": [], "store": "Balmy", "price": 7.5},
        {"parent_asin": "C2", "title": "Soap", "main_category": "All Beauty", "categories": [], "price": None,
         "details": {"Brand": "Suds"}},
    ], gz=True)
    ds = load_dataset("amazon", tmp_path)
    assert ds.interactions["item_id"].tolist() == ["C1", "C2"]
    assert ds.interactions["timestamp"].iloc[0] == pd.Timestamp("2020-05-05 14:08:48.923", tz="UTC")
    items = ds.items.set_index("item_id")
    assert items.loc["C1", "categories"] == "All Beauty|Lips"
    assert items.loc["C1", "description"] == "Shea butter"
    assert items.loc["C1", "brand"] == "Balmy" and items.loc["C2", "brand"] == "Suds"
    assert items.loc["C1", "price"] == 7.5 and pd.isna(items.loc["C2", "price"])


def test_invalid_json_line_is_reported(tmp_path):
    path = tmp_path / "reviews.jsonl"
    path.write_text('{"user_id": "U1", "parent_asin": "C1", "rating": 4, "timestamp": 1}\n{"user_id": "U2",\n')
    with pytest.raises(DatasetError, match=r"reviews\.jsonl, line 2: invalid JSON"):
        load_dataset("amazon", tmp_path)


def test_review_without_time_is_reported(tmp_path):
    jsonl(tmp_path / "reviews.jsonl", [{"reviewerID": "A1", "asin": "B1", "overall": 5.0}])
    with pytest.raises(DatasetError, match=r"reviews\.jsonl, line 1: a review needs reviewerID, asin, unixReviewTime"):
        load_dataset("amazon", tmp_path)


def test_ambiguous_reviews_files_ask_for_the_option(tmp_path):
    jsonl(tmp_path / "a.jsonl", [{"user_id": "U", "parent_asin": "C", "rating": 1, "timestamp": 1000}])
    jsonl(tmp_path / "b.jsonl", [{"user_id": "V", "parent_asin": "C", "rating": 1, "timestamp": 1000}])
    with pytest.raises(DatasetError, match="exactly one reviews"):
        load_dataset("amazon", tmp_path)
    ds = load_dataset("amazon", tmp_path, reviews="b.jsonl")
    assert ds.interactions["user_id"].tolist() == ["V"]
