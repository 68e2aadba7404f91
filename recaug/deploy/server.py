"""Launcher of the tritonserver binary bundled in nvidia-pytriton (the `local` target).

Layout under the server home (default <lake_root>/../triton):

    models/        model repository (explicit model control: deploy loads models by name)
    backends/      python backend + the stub built for the serving venv's Python
    server.json    pid, process group and ports of the running server
    server.log     tritonserver's output

The server runs in its own session (setsid) so stop() can signal the whole process
group (python-backend stubs included) and binds 127.0.0.1 only. Its admin APIs (model
repository, model config, shared memory, trace, logging settings) answer only requests
carrying a header whose value is a random secret made at each start and kept in
server.json (mode 0600); health, metadata, inference and statistics stay open for
serving apps. It starts with a minimal environment, so API keys and other secrets of
the parent process never reach it or the model code it runs.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from recaug.errors import RecaugError

if TYPE_CHECKING:
    from recaug.deploy.config import LocalTritonConfig
    from recaug.settings import Settings

log = logging.getLogger(__name__)
PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
ADMIN_HEADER = "recaug-admin-key"
# Triton's restricted-API categories that change or reveal server state (loading models
# runs their code; trace/logging settings name files the server writes).
ADMIN_APIS = ("model-repository", "model-config", "shared-memory", "trace", "logging")
# What the binary and the python backend need from the parent environment; nothing else is passed.
INHERITED_ENV = ("LANG", "LC_ALL", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


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
    admin_key: str = Field("", repr=False, description="value of the admin header the server's admin APIs require "
                           "(only in server.json, mode 0600; never printed)")

    @property
    def admin_headers(self) -> dict[str, str]:
        """Headers for model load/unload and repository calls to this server."""
        return {ADMIN_HEADER: self.admin_key} if self.admin_key else {}

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
    def __init__(self, config: "LocalTritonConfig", home: Path, settings: "Settings | None" = None):
        self.config = config
        self.home = home
        self.settings = settings  # the lake whose deploy records say what serves (reconciled at start)
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
        return cls(config, home, settings)

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

    def _server_environment(self, venv: Path, info: dict, pytriton_dir: Path) -> dict[str, str]:
        """Only what tritonserver and the python-backend stub need: no API keys or other secrets."""
        tmp = self.home / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        # The stub must load the libpython of the serving venv's interpreter, and finds the
        # venv (onnxruntime, numpy<2) through the python3 on PATH.
        # The copied stub also needs the wheel's bundled libraries (its RPATH is relative).
        bundled_libs = pytriton_dir.parent / "nvidia_pytriton.libs"
        env["LD_LIBRARY_PATH"] = os.pathsep.join([info["libdir"], str(bundled_libs)])
        env["PATH"] = os.pathsep.join([str(venv / "bin"), SYSTEM_PATH])
        env["HOME"] = str(self.home)
        env["TMPDIR"] = str(tmp)
        return env

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
        """Start the server (when not running) and wait until it is ready; either way it then
        serves what the deploy records say is live (nothing unchecked)."""
        current = self.read_state()
        if current is not None and server_process_alive(current.pid):
            log.info("triton already running (pid %d, http %s)", current.pid, current.http_url)
            self._reconcile_running()
            return current
        venv = self.serving_venv()
        info = self._venv_python_info(venv)
        pytriton_dir = Path(info["pytriton"])
        binary = pytriton_dir / "tritonserver" / "bin" / "tritonserver"
        backends = self._assemble_backends(pytriton_dir, info["version"])
        self.repository.mkdir(parents=True, exist_ok=True)
        ports = [self.config.http_port or _free_port(), self.config.grpc_port or _free_port(),
                 self.config.metrics_port or _free_port()]
        admin_key = secrets.token_urlsafe(32)
        restricted = f"{','.join(ADMIN_APIS)}:{ADMIN_HEADER}={admin_key}"
        command = [
            str(binary), f"--model-repository={self.repository}", "--model-control-mode=explicit",
            "--load-model=*",  # a restarted server serves what was deployed before
            f"--backend-directory={backends}", f"--http-address={LOOPBACK}", f"--http-port={ports[0]}",
            f"--grpc-address={LOOPBACK}", f"--grpc-port={ports[1]}", f"--metrics-address={LOOPBACK}",
            f"--metrics-port={ports[2]}", "--strict-readiness=true", "--exit-on-error=false", "--log-verbose=0",
            f"--http-restricted-api={restricted}", f"--grpc-restricted-protocol={restricted}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]
        self._remove_shared_memory_leftovers()
        self.home.mkdir(parents=True, exist_ok=True)
        if self.settings is not None:  # before launch: --load-model=* must find only checked versions
            from recaug.deploy.reconcile import reconcile_before_start

            reconcile_before_start(self.settings, self.repository)
        env = self._server_environment(venv, info, pytriton_dir)
        with open(self.log_file, "ab") as log_fh:
            process = subprocess.Popen(command, stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=env, cwd=self.home, start_new_session=True)
        state = ServerState(pid=process.pid, http_port=ports[0], grpc_port=ports[1], metrics_port=ports[2],
                            repository=str(self.repository), log_file=str(self.log_file), started_at=time.time(),
                            admin_key=admin_key)
        _write_private(self.state_file, state.model_dump_json(indent=2))
        log.info("triton starting (pid %d, http %s, grpc %s)", process.pid, state.http_url, state.grpc_url)
        deadline = time.monotonic() + self.config.start_timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.state_file.unlink(missing_ok=True)
                raise ServerError(f"tritonserver exited with code {process.returncode}; last log lines:\n{self.log_tail()}")
            if _http_ok(state.http_url, "/v2/health/ready"):
                log.info("triton ready after %.1f s", time.time() - state.started_at)
                self._reconcile_running()
                return state
            time.sleep(0.2)
        self.stop()
        raise ServerError(f"tritonserver not ready after {self.config.start_timeout_s:g} s; log: {self.log_file}")

    @property
    def shm_prefix(self) -> str:
        """Name prefix of this server's python-backend shared-memory regions (one per home)."""
        import hashlib

        return f"recaug_triton_{hashlib.sha256(str(self.home).encode()).hexdigest()[:12]}_"

    def _remove_shared_memory_leftovers(self) -> None:
        """A SIGKILLed server leaves its regions in /dev/shm; only call when it is not running."""
        shm = Path("/dev/shm")
        for region in shm.glob(self.shm_prefix + "*") if shm.is_dir() else []:
            region.unlink(missing_ok=True)

    def _reconcile_running(self) -> None:
        if self.settings is None:
            return
        from recaug.deploy.reconcile import reconcile_running

        reconcile_running(self.settings)

    def stop(self) -> bool:
        """SIGTERM the server's process group, SIGKILL after the grace period. False if not running."""
        state = self.read_state()
        if state is None:
            return False
        running = server_process_alive(state.pid)
        if running:
            _signal_group(state.pid, signal.SIGTERM)
            deadline = time.monotonic() + self.config.stop_timeout_s
            while server_process_alive(state.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if server_process_alive(state.pid):
                log.warning("triton did not stop in %g s; killing it", self.config.stop_timeout_s)
                _signal_group(state.pid, signal.SIGKILL)
                while server_process_alive(state.pid):
                    time.sleep(0.05)
            log.info("triton stopped (pid %d)", state.pid)
        self._remove_shared_memory_leftovers()
        self.state_file.unlink(missing_ok=True)
        return running

    def status(self) -> ServerStatus:
        state = self.read_state()
        if state is None:
            return ServerStatus(running=False, detail=f"not started (no {self.state_file})")
        if not server_process_alive(state.pid):
            return ServerStatus(running=False, state=state, detail=f"pid {state.pid} is gone; see {state.log_file}")
        live = _http_ok(state.http_url, "/v2/health/live")
        ready = _http_ok(state.http_url, "/v2/health/ready")
        models = []
        if live:
            import tritonclient.http as http

            client = http.InferenceServerClient(state.http_url, connection_timeout=2.0, network_timeout=2.0)
            try:
                models = client.get_model_repository_index(headers=state.admin_headers)
            finally:
                client.close()
        return ServerStatus(running=True, live=live, ready=ready, state=state, models=models)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_file.is_file():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _write_private(path: Path, text: str) -> None:
    """Write `path` atomically, readable by its owner only (it holds the admin key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def server_process_alive(pid: int) -> bool:
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
