"""`fetch` against a loopback HTTP server (conftest.py) serving an archive the test builds itself."""

from __future__ import annotations

import hashlib

import pytest

from recaug.data.fetch import REGISTRY, FetchError, fetch
from recaug.data.loaders import load_dataset


def test_download_verify_extract_then_load(tmp_path, tiny_zip, archive_server):
    payload = tiny_zip
    sha = hashlib.sha256(payload).hexdigest()
    with archive_server(payload) as server:
        result = fetch("ml-tiny", tmp_path, url=server.url, sha256=sha, fmt="ml-latest")
        again = fetch("ml-tiny", tmp_path, url=server.url, sha256=sha, fmt="ml-latest")
    assert result.downloaded and not again.downloaded
    assert len(server.requests) == 1  # the second call found the verified copy
    assert result.sha256 == sha and result.path == str(tmp_path / "ml-tiny")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ml-tiny"]  # no archive or staging left
    ds = load_dataset(result.format, result.path)
    assert len(ds.interactions) == 2 and ds.items["title"].tolist() == ["Toy Story (1995)"]


def test_checksum_mismatch_is_an_error_and_leaves_nothing(tmp_path, tiny_zip, archive_server):
    with archive_server(tiny_zip) as server:
        with pytest.raises(FetchError, match=r"ml-tiny: checksum mismatch for http://127\.0\.0\.1:\d+/tiny\.zip: expected sha256 0{64}"):
            fetch("ml-tiny", tmp_path, url=server.url, sha256="0" * 64)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_resumes_with_a_range_request(tmp_path, tiny_zip, archive_server):
    payload = tiny_zip
    with archive_server(payload, cut_first_response_at=len(payload) // 3) as server:
        result = fetch("ml-tiny", tmp_path, url=server.url, md5=hashlib.md5(payload).hexdigest(), retries=2)
    assert [r["range"] for r in server.requests] == [None, f"bytes={len(payload) // 3}-"]
    assert result.sha256 == hashlib.sha256(payload).hexdigest()
    assert (tmp_path / "ml-tiny" / "ratings.csv").is_file()


def test_published_checksum_file_is_used_for_updated_archives(tmp_path, monkeypatch, tiny_zip, archive_server):
    payload = tiny_zip
    with archive_server(payload) as server:
        entry = REGISTRY["ml-latest-small"]
        monkeypatch.setitem(REGISTRY, "ml-latest-small", type(entry)(server.url, "ml-latest", checksum_url=server.url + ".md5"))
        result = fetch("ml-latest-small", tmp_path)
    assert result.downloaded and [r["path"] for r in server.requests] == ["/tiny.zip.md5", "/tiny.zip"]


def test_not_a_zip_is_reported_and_cleaned_up(tmp_path, archive_server):
    payload = b"<html>moved</html>"
    with archive_server(payload) as server:
        with pytest.raises(FetchError, match="not a valid zip archive"):
            fetch("ml-tiny", tmp_path, url=server.url, sha256=hashlib.sha256(payload).hexdigest())
    assert list(tmp_path.iterdir()) == []


def test_url_without_checksum_and_unknown_names_are_refused(tmp_path):
    with pytest.raises(FetchError, match="--url needs --sha256"):
        fetch("x", tmp_path, url="http://127.0.0.1:9/x.zip")
    with pytest.raises(FetchError, match="unknown dataset 'ml-5b'"):
        fetch("ml-5b", tmp_path)


def test_registry_points_at_the_official_address_with_checksums():
    for name, source in REGISTRY.items():
        assert source.url.startswith("https://files.grouplens.org/datasets/movielens/"), name
        assert source.md5 or source.sha256 or source.checksum_url, name
