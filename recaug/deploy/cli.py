"""`recaug deploy`, `recaug serve triton start|stop|status`, `recaug serve gateway`."""

from __future__ import annotations

import json

from recaug.errors import ConfigError


def _print(obj) -> None:
    print(json.dumps(obj.model_dump(mode="json"), indent=2))


def _deploy(args, settings) -> int:
    from recaug.deploy.deploy import deploy
    from recaug.export.cli import artifact_dir

    _print(deploy(settings, artifact_dir(args, settings), "challenger" if args.as_challenger else "champion"))
    return 0


def _local_server(settings):
    from recaug.deploy.server import LocalTritonServer

    return LocalTritonServer.from_settings(settings)


def _triton_start(args, settings) -> int:
    state = _local_server(settings).start()
    print(json.dumps(state.model_dump(mode="json", exclude={"admin_key"}), indent=2))  # the key stays in server.json
    return 0


def _triton_stop(args, settings) -> int:
    stopped = _local_server(settings).stop()
    print("stopped" if stopped else "not running")
    return 0


def _triton_status(args, settings) -> int:
    if settings.deploy.target.type == "remote":
        from recaug.deploy.client import triton_client

        with triton_client(settings.deploy.target.url, timeout_s=5.0) as client:
            try:
                status = {"url": settings.deploy.target.url, "live": client.is_server_live(),
                          "ready": client.is_server_ready(), "models": client.get_model_repository_index()}
            except Exception as exc:  # unreachable is a status, not a crash
                status = {"url": settings.deploy.target.url, "live": False, "ready": False, "detail": str(exc)}
        print(json.dumps(status, indent=2))
        return 0 if status["ready"] else 1
    status = _local_server(settings).status()
    print(json.dumps(status.model_dump(mode="json", exclude={"state": {"admin_key"}}), indent=2))
    return 0 if status.ready else 1


def _gateway(args, settings) -> int:
    import uvicorn

    from recaug.serving_gateway.app import create_app

    gateway = settings.deploy.gateway
    port = args.port if args.port is not None else gateway.port
    if port == 0:
        raise ConfigError("give the gateway a port: --port P or --set deploy.gateway.port=P")
    app = create_app(settings, artifact_dir=args.artifact)
    uvicorn.run(app, host=args.host or gateway.host, port=port, log_level="warning", access_log=False)
    return 0


def register(commands) -> None:
    parser = commands.add(
        "deploy", "serve a model artifact on Triton (staged load, smoke test, rollback on failure)", _deploy
    )
    parser.add_argument("--artifact", help="model artifact directory with model.onnx (default: models/<run-id>)")
    parser.add_argument("--as-challenger", action="store_true",
                        help="serve it to experiment.share of users next to the champion (an online experiment; "
                        "`recaug experiment conclude` promotes it if it wins)")

    serve = commands.group("serve", "run the serving processes: Triton and the recommendation gateway")
    triton = serve.group("triton", "the local Triton Inference Server (bundled binary)")
    triton.add("start", "start tritonserver on 127.0.0.1 and wait until it is ready", _triton_start)
    triton.add("stop", "stop tritonserver (its whole process group)", _triton_stop)
    triton.add("status", "health, ports and loaded models (exit 1 when not ready)", _triton_status)
    gateway = serve.add("gateway", "run the recommendation gateway (GET /recommend?user_id=&k=)", _gateway)
    gateway.add_argument("--port", type=int, help="port (default: deploy.gateway.port)")
    gateway.add_argument("--host", help="bind address (default: deploy.gateway.host, 127.0.0.1)")
    gateway.add_argument("--artifact", help="model artifact for vocabulary (default: the last deployed)")
