"""Launcher of the tritonserver binary bundled in nvidia-pytriton (the `local` target).

Layout under the server home (default <lake_root>/../triton):

    models/        model repository (explicit model control: deploy loads models by name)
    backends/      python backend + the stub built for the serving venv's Python
    server.json    pid, process group and ports of the running server
    server.log     tritonserver's output

The server runs in its own session (setsid) so stop() can signal the whole process
group (python-backend stubs included), and binds 127.0.0.1 only: the plain binary's
repository API has no authentication.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from recaug import io
from recaug.errors import RecaugError

if TYPE_CHECKING:
    from recaug.deploy.config import LocalTritonConfig
    from recaug.settings import Settings

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"


class ServerError(RecaugError):
    """The local Triton server cannot be started, reached or stopped."""


class ServerState(BaseModel):
    pid: int
    http_port: int
    grpc_port: int
    metrics_port: int
    repository: str
    log_file: str
    started_at: float

    @property
    def http_url(self) -> str:
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        return f"{LOOPBACK}:{self.grpc_port}"


class ServerStatus(BaseModel):
    running: bool
    live: bool = False
    ready: bool = False
    state: ServerState | None = None
    models: list[dict] = Field(default_factory=list, description="repository index (name, version, state)")
    detail: str = ""


class LocalTritonServer:
    def __init__(self, config: "LocalTritonConfig", home: Path):
        self.config = config
        self.home = home
        self.repository = home / "models"
        self.state_file = home / "server.json"
        self.log_file = home / "server.log"

    @classmethod
    def from_settings(cls, settings: "Settings") -> "LocalTritonServer":
        config = settings.deploy.target
        if config.type != "local":
            raise ServerError(f"deploy.target.type is {config.type!r}: only a local target is started by recaug")
        if config.home:
            home = Path(config.home).expanduser().resolve()
        else:
            home = settings.lake.local("models").parent.parent / "triton"
        return cls(config, home)

    # -- environment ------------------------------------------------------------------
    def serving_venv(self) -> Path:
        venv = Path(self.config.serving_venv).expanduser()
        venv = venv if venv.is_absolute() else PROJECT_ROOT / venv
        if not (venv / "bin" / "python").exists():
            raise ServerError(
                f"serving environment {venv} not found; build it with "
                "`scripts/bootstrap.sh .venv-serving requirements/serving-lock.txt`"
            )
        return venv

    def _venv_python_info(self, venv: Path) -> dict:
        code = "import json,sys,sysconfig,pytriton,os;print(json.dumps({'version':'%d.%d'%sys.version_info[:2]," \
               "'libdir':sysconfig.get_config_var('LIBDIR'),'pytriton':os.path.dirname(pytriton.__file__)}))"
        done = subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            raise ServerError(f"{venv}: cannot import pytriton in the serving environment: {done.stderr.strip()[-500:]}")
        return json.loads(done.stdout)

    def _assemble_backends(self, pytriton_dir: Path, python_version: str) -> Path:
        """backends/python = the bundled python backend + the stub for the venv's Python."""
        bundled = pytriton_dir / "tritonserver"
        stub = bundled / "python_backend_stubs" / python_version / "triton_python_backend_stub"
        if not stub.is_file():
            raise ServerError(f"no python-backend stub for Python {python_version} in {stub.parent.parent}")
        target = self.home / "backends" / "python"
        target.mkdir(parents=True, exist_ok=True)
        for source in (bundled / "backends" / "python" / "libtriton_python.so",
                       bundled / "backends" / "python" / "triton_python_backend_utils.py", stub):
            destination = target / source.name
            if not destination.exists() or destination.stat().st_size != source.stat().st_size:
                shutil.copy2(source, destination)
        return self.home / "backends"

    # -- lifecycle --------------------------------------------------------------------
    def read_state(self) -> ServerState | None:
        if not self.state_file.is_file():
            return None
        return ServerState.model_validate_json(self.state_file.read_text())

    def start(self) -> ServerState:
        """Start the server (no-op when it already runs) and wait until it is ready."""
        current = self.read_state()
        if current is not None and _alive(current.pid):
            log.info("triton already running (pid %d, http %s)", current.pid, current.http_url)
            return current
        venv = self.serving_venv()
        info = self._venv_python_info(venv)
        pytriton_dir = Path(info["pytriton"])
        binary = pytriton_dir / "tritonserver" / "bin" / "tritonserver"
        backends = self._assemble_backends(pytriton_dir, info["version"])
        self.repository.mkdir(parents=True, exist_ok=True)
        ports = [self.config.http_port or _free_port(), self.config.grpc_port or _free_port(),
                 self.config.metrics_port or _free_port()]
        command = [
            str(binary), f"--model-repository={self.repository}", "--model-control-mode=explicit",
            "--load-model=*",  # a restarted server serves what was deployed before
            f"--backend-directory={backends}", f"--http-address={LOOPBACK}", f"--http-port={ports[0]}",
            f"--grpc-address={LOOPBACK}", f"--grpc-port={ports[1]}", f"--metrics-address={LOOPBACK}",
            f"--metrics-port={ports[2]}", "--strict-readiness=true", "--exit-on-error=false", "--log-verbose=0",
        ]
        env = dict(os.environ)
        # The stub must load the libpython of the serving venv's interpreter, and finds the
        # venv (onnxruntime, numpy<2) through the python3 on PATH.
        # The copied stub also needs the wheel's bundled libraries (its RPATH is relative).
        bundled_libs = pytriton_dir.parent / "nvidia_pytriton.libs"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            filter(None, [info["libdir"], str(bundled_libs), env.get("LD_LIBRARY_PATH")])
        )
        env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log_fh:
            process = subprocess.Popen(command, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, cwd=self.home, start_new_session=True)
        state = ServerState(pid=process.pid, http_port=ports[0], grpc_port=ports[1], metrics_port=ports[2],
                            repository=str(self.repository), log_file=str(self.log_file), started_at=time.time())
        io.write_text(str(self.state_file), state.model_dump_json(indent=2))
        log.info("triton starting (pid %d, http %s, grpc %s)", process.pid, state.http_url, state.grpc_url)
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise ServerError(f"tritonserver exited with code {process.returncode}; last log lines:\n{self.log_tail()}")
            if _http_ok(state.http_url, "/v2/health/ready"):
                log.info("triton ready after %.1f s", time.time() - state.started_at)
                return state
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"tritonserver not ready after {self.config.start_timeout_s:g} s; log: {self.log_file}")

    def stop(self) -> bool:
        """SIGTERM the server's process group, SIGKILL after the grace period. False if not running."""
        state = self.read_state()
        if state is None:
            return False
        running = _alive(state.pid)
        if running:
            _signal_group(state.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.config.stop_timeout_s
            while _alive(state.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(state.pid):
                log.warning("triton did not stop in %g s; killing it", self.config.stop_timeout_s)
                _signal_group(state.pid, signal.SIGKILL)
                while _alive(state.pid):
                    time.sleep(0.05)
            log.info("triton stopped (pid %d)", state.pid)
        self.state_file.unlink(missing_ok=True)
        return running

    def status(self) -> ServerStatus:
        state = self.read_state()
        if state is None:
            return ServerStatus(running=False, detail=f"not started (no {self.state_file})")
        if not _alive(state.pid):
            return ServerStatus(running=False, state=state, detail=f"pid {state.pid} is gone; see {state.log_file}")
        live = _http_ok(state.http_url, "/v2/health/live")
        ready = _http_ok(state.http_url, "/v2/health/ready")
        models = []
        if live:
            import tritonclient.http as http

            client = http.InferenceServerClient(state.http_url, connection_timeout=2.0, network_timeout=2.0)
            try:
                models = client.get_model_repository_index()
            finally:
                client.close()
        return ServerStatus(running=True, live=live, ready=ready, state=state, models=models)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_file.is_file():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _alive(pid: int) -> bool:
    """Whether `pid` is still our tritonserver (a recycled pid running something else is not)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child if it exited
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not Path("/proc/self").exists():  # no procfs: trust the signal probe
        return True
    try:
        return b"tritonserver" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # exited between the probe and the read
        return False


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # start_new_session: the server leads its own group
    except ProcessLookupError:
        pass


def _http_ok(url: str, path: str) -> bool:
    import http.client

    host, port = url.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=1.0)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()
