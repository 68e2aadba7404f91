"""The launcher's behaviour that needs no running server (the server itself: tests/integration/serving)."""

from __future__ import annotations

import pytest

from recaug.deploy.server import LocalTritonServer, ServerError


def test_default_home_is_next_to_the_lake(settings, lake_root):
    server = LocalTritonServer.from_settings(settings)
    assert server.home == lake_root.parent / "triton"
    assert server.repository == lake_root.parent / "triton" / "models"


def test_status_of_a_server_never_started(settings):
    status = LocalTritonServer.from_settings(settings).status()
    assert not status.running and "not started" in status.detail
    assert LocalTritonServer.from_settings(settings).stop() is False


def test_missing_serving_environment_is_explained(settings, tmp_path):
    settings.deploy.target.serving_venv = str(tmp_path / "no-venv")
    with pytest.raises(ServerError, match="scripts/bootstrap.sh .venv-serving requirements/serving-lock.txt"):
        LocalTritonServer.from_settings(settings).start()


def test_remote_target_is_not_started_locally(settings):
    from recaug.settings import load_settings

    remote = load_settings({"lake_root": settings.lake_root, "deploy": {"target": {"type": "remote", "url": "h:1"}}})
    with pytest.raises(ServerError, match="only a local target"):
        LocalTritonServer.from_settings(remote)


def test_stale_state_file_reports_not_running(settings):
    server = LocalTritonServer.from_settings(settings)
    server.home.mkdir(parents=True)
    server.state_file.write_text(
        '{"pid": 999999999, "http_port": 1, "grpc_port": 2, "metrics_port": 3, "repository": "r",'
        ' "log_file": "l", "started_at": 0}'
    )
    status = server.status()
    assert not status.running and "is gone" in status.detail
