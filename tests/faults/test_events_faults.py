"""SIGKILL of the gateway process while clients post events: every event answered 200 is in
the log after the kill and after the restart, a retried event is not logged twice, and
the dead process's segment is exported whole (real `recaug serve gateway`, real HTTP)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from recaug import io
from recaug.events.export import export_events
from recaug.events.log import read_events
from recaug.settings import load_settings

pytestmark = pytest.mark.slow
ITEMS = [f"sku-{i}" for i in range(10)]


def _start_gateway(lake: Path, params: Path, log: Path) -> tuple[subprocess.Popen, int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "recaug"), "serve", "gateway", "--port", str(port), "--lake", str(lake)],
        env={**os.environ, "RECAUG_PARAMS": str(params)}, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the gateway did not answer within 120 s: {log.read_text()[-3000:]}")


def _post(port: int, body: dict) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/events", body=json.dumps(body), headers={"content-type": "application/json"})
    response = connection.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_events_acknowledged_before_a_sigkill_survive_it(tmp_path):
    lake = tmp_path / "lake"
    params = tmp_path / "no-params.yaml"
    settings = load_settings({"lake_root": str(lake)})
    settings.lake.ensure()
    io.write_parquet(pd.DataFrame({"item_id": ITEMS, "title": ITEMS}), settings.lake.items)
    process, port = _start_gateway(lake, params, tmp_path / "gateway.log")

    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(worker: int) -> None:
        n = 0
        while not stop.is_set():
            event_id = f"w{worker}-{n}"
            try:
                status, body = _post(port, {"event_id": event_id, "user_id": f"user-{worker}",
                                            "item_id": ITEMS[n % len(ITEMS)], "event_type": "click"})
            except OSError:  # the process is gone: nothing was acknowledged
                return
            assert status == 200, body
            with lock:
                acknowledged.append(event_id)
            n += 1

    clients = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for thread in clients:
        thread.start()
    while True:  # kill while requests are in flight, once a good number were acknowledged
        with lock:
            if len(acknowledged) >= 200:
                break
        assert process.poll() is None
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    stop.set()
    for thread in clients:
        thread.join(timeout=30)

    logged = set(read_events(settings)["event_id"])
    assert set(acknowledged) <= logged, sorted(set(acknowledged) - logged)[:5]

    process, port = _start_gateway(lake, params, tmp_path / "gateway.log")
    try:
        retried = acknowledged[0]
        status, body = _post(port, {"event_id": retried, "user_id": "user-0", "item_id": ITEMS[0], "event_type": "click"})
        assert (status, body["logged"]) == (200, 0), body  # the restarted gateway remembers it
        status, body = _post(port, {"event_id": "after-restart", "user_id": "user-9", "item_id": ITEMS[1],
                                    "event_type": "click"})
        assert (status, body["logged"]) == (200, 1), body
    finally:
        process.terminate()
        process.wait(timeout=30)

    events = read_events(settings)
    assert set(acknowledged) | {"after-restart"} <= set(events["event_id"])
    assert events["event_id"].is_unique
    result = export_events(settings)  # the killed process's segment is sealed as an orphan, the other one at shutdown
    [batch] = result.batches
    exported = pd.read_parquet(settings.lake.local("landing", batch, "interactions.parquet"))
    assert result.events == len(events) == len(exported)
