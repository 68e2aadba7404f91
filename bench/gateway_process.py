"""`recaug serve gateway` as a process of its own, for the benchmarks that measure it over HTTP."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

START_LIMIT_S = 120


@contextlib.contextmanager
def gateway_process(params: Path, cwd: Path, args: list[str] | None = None, log: Path | None = None) -> Iterator[int]:
    """The gateway on a free 127.0.0.1 port with the settings of `params` (a params.yaml) and
    extra `args`; yields the port once it accepts connections and terminates it on exit.
    Its output goes to `log` when given (else to this process's)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [str(Path(sys.executable).parent / "recaug"), "serve", "gateway", "--port", str(port), *(args or [])]
    log_file = open(log, "wb") if log else None
    process = subprocess.Popen(command, env={**os.environ, "RECAUG_PARAMS": str(params)}, cwd=cwd,
                               stdout=log_file, stderr=subprocess.STDOUT if log_file else None)
    see_log = f"; see {log}" if log else ""
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gateway exited with code {process.returncode}{see_log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not accept connections on port {port} within {START_LIMIT_S} s{see_log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)
        if log_file:
            log_file.close()
