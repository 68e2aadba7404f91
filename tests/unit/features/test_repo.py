from __future__ import annotations

from recaug.features.repo import FeastRepo
from recaug.settings import load_settings


def test_default_store_is_sqlite_inside_the_lake(settings):
    config = FeastRepo(settings).store_config()
    feast_dir = settings.lake.local("feast")
    assert config["online_store"] == {"type": "sqlite", "path": str(feast_dir / "online_store.db")}
    assert config["registry"]["path"] == str(feast_dir / "registry.db")
    assert config["offline_store"] == {"type": "file"}


def test_redis_and_object_store_by_configuration(settings, lake_root):
    settings = load_settings({
        "lake_root": str(lake_root),
        "features": {"online_store": {"type": "redis"}, "offline_path": "s3://bucket/features",
                     "s3_endpoint_override": "http://127.0.0.1:9000"},
    })
    repo = FeastRepo(settings)
    assert repo.store_config()["online_store"] == {"type": "redis", "connection_string": "${RECAUG_REDIS_URL}"}
    env = repo.definitions_env()
    assert env["RECAUG_FEAST_DATA"] == "s3://bucket/features"
    assert env["RECAUG_FEAST_S3_ENDPOINT"] == "http://127.0.0.1:9000"


def test_definitions_hash_follows_the_settings_they_read(settings):
    before = FeastRepo(settings).definitions_hash()
    assert FeastRepo(settings).definitions_hash() == before
    settings.features.ttl_days = 30
    assert FeastRepo(settings).definitions_hash() != before


def test_rendered_yaml_is_what_feast_loads(settings):
    from feast.repo_config import load_repo_config

    repo = FeastRepo(settings)
    config = load_repo_config(repo.state_dir, repo.render())
    assert config.online_store.type == "sqlite"
    assert config.project == "recaug"


def test_definitions_read_their_data_location_from_the_settings(settings):
    import os

    contents = FeastRepo(settings).load_definitions()
    views = {view.name: view for view in contents.feature_views}
    assert set(views) == {"item_content", "item_popularity", "user_behaviour", "user_history", "user_profile",
                          "user_attributes"}
    features_dir = settings.lake.url("features")
    assert views["user_history"].batch_source.path == f"{features_dir}/user_history.parquet"
    assert {s.name for s in contents.feature_services} == {
        "training", "training_users", "user_serving", "user_serving_personal", "user_serving_full", "item_lookup"}
    assert "RECAUG_FEAST_DATA" not in os.environ  # the environment is restored after loading


def test_every_feature_table_column_is_a_feast_feature(settings):
    """A column the build writes but no view declares never reaches Feast's joins or the online store."""
    from recaug.features.tables import TABLES

    views = {view.name: view for view in FeastRepo(settings).load_definitions().feature_views}
    for table, (_, columns) in TABLES.items():
        declared = {field.name for field in views[table].schema}
        assert {name for name, _ in columns} <= declared, table
