from __future__ import annotations

from recaug.cli import build_parser, main


def test_serving_commands_are_registered():
    parser = build_parser()
    assert parser.parse_args(["serve", "triton", "start"]).handler.__name__ == "_triton_start"
    assert parser.parse_args(["serve", "triton", "status"]).handler.__name__ == "_triton_status"
    args = parser.parse_args(["serve", "gateway", "--port", "9001"])
    assert args.handler.__name__ == "_gateway" and args.port == 9001
    assert parser.parse_args(["deploy", "--artifact", "x"]).artifact == "x"
    assert parser.parse_args(["export", "--artifact", "x"]).artifact == "x"


def test_export_without_a_model_is_a_config_error(settings, capsys):
    assert main(["export", "--lake", settings.lake_root]) == 2
    assert "pass --artifact DIR or --run-id RUN" in capsys.readouterr().err


def test_status_of_a_stopped_local_server_exits_1(settings, capsys):
    assert main(["serve", "triton", "status", "--lake", settings.lake_root]) == 1
    assert '"running": false' in capsys.readouterr().out


def test_deploy_without_a_running_server_says_how_to_start_it(settings, tmp_path, capsys):
    (tmp_path / "model.onnx").write_bytes(b"x")
    (tmp_path / "export.json").write_text('{"model_sha256": "y", "top_k": 1, "hidden_size": 1, "reference": {}}')
    assert main(["deploy", "--artifact", str(tmp_path), "--lake", settings.lake_root]) == 1
    assert "recaug serve triton start" in capsys.readouterr().err
