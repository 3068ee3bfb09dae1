"""Real servers for the lifecycle tests, started once and stopped when the session ends, whatever failed: an
`mlflow server` (without its job runner), and the repository's Databricks test workspace in front of it
(devenv/databricks/databricksServer.ts, run with Node), which records who raised a transition request from the token, as a
workspace does. The tests act as a notebook of the consumer does: MLflow's tracking URI `databricks`, the
workspace's host and the consumer's own token in the environment.

Run with `.venv/bin/python -m pytest python/tests` from the repository root; `npm test` runs them through
tests/integration/pythonLifecycle.test.ts.
"""
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))

PLATFORM = "platform@quantfirm.example"
ANA = "ana.ruiz@quantfirm.example"  # developer: the version's author
GRACE = "grace.lee@quantfirm.example"  # consumer: validates and signs off
TOKENS = {PLATFORM: "dapi-platform", ANA: "dapi-ana", GRACE: "dapi-grace"}

STARTUP_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen) -> None:
    """Stops the process and everything it started (its own session): SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    except ProcessLookupError:
        pass


def wait_until(ready, proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        if ready():
            return
        time.sleep(0.25)
    raise RuntimeError(f"{what} was not up after {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """A real tracking server: sqlite, its own artifact store, one worker, no job runner, no telemetry."""
    d = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = d / "server.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_ENABLE_TELEMETRY": "false", "DO_NOT_TRACK": "true"}
    args = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", f"sqlite:///{d / 'mlflow.db'}",
        "--artifacts-destination", str(d / "artifacts"),
        "--serve-artifacts", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        wait_until(lambda: healthy(url), proc, "mlflow server", log)
        yield url
    finally:
        stop_group(proc)


@pytest.fixture(scope="session")
def workspace(mlflow_server, tmp_path_factory):
    """The Databricks test workspace over the tracking server, one token per member; its URL."""
    log = tmp_path_factory.mktemp("workspace") / "workspace.log"
    users = [f"{TOKENS[u]}={u}" for u in (PLATFORM, ANA, GRACE)]
    args = ["node", "-r", "ts-node/register/transpile-only", "tests/fixtures/workspaceServerMain.ts", mlflow_server, *users]
    with open(log, "wb") as err:
        # Its standard input is this session's pipe: when pytest ends, however it ends, the workspace stops too.
        proc = subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, start_new_session=True)
    try:
        if not select.select([proc.stdout], [], [], STARTUP_S)[0]:
            raise RuntimeError(f"the test workspace printed no address in {STARTUP_S} s:\n{log.read_text()[-3000:]}")
        line = proc.stdout.readline().decode()
        if not line:
            proc.wait(10)
            raise RuntimeError(f"the test workspace exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        yield json.loads(line)["url"]
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            stop_group(proc)


@pytest.fixture(scope="session", autouse=True)
def as_consumer(request):
    """The consumer's notebook environment: tracking URI `databricks`, the workspace's host and her own token, no
    profile to fall back on, and MLflow's artifact-credentials path for run artifacts (the test workspace does not
    serve the Files API)."""
    url = request.getfixturevalue("workspace")
    mp = pytest.MonkeyPatch()
    for k in ("DATABRICKS_CONFIG_PROFILE", "MLFLOW_TRACKING_TOKEN"):
        mp.delenv(k, raising=False)
    mp.setenv("DATABRICKS_HOST", url)
    mp.setenv("DATABRICKS_TOKEN", TOKENS[GRACE])
    mp.setenv("DATABRICKS_CONFIG_FILE", "/dev/null")
    mp.setenv("MLFLOW_TRACKING_URI", "databricks")
    mp.setenv("MLFLOW_DISABLE_DATABRICKS_SDK_FOR_RUN_ARTIFACTS", "true")
    mp.setenv("MLFLOW_ENABLE_TELEMETRY", "false")
    yield
    mp.undo()


class Workspace:
    """MLflow REST calls through the test workspace as one member (their own token)."""

    def __init__(self, url: str):
        self.url = url

    def call(self, who: str, method: str, path: str, body: dict = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"{self.url}/api/2.0/mlflow/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {TOKENS[who]}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"{method} {path} as {who}: {e.code} {e.read().decode()[:500]}") from None

    def transition_requests(self, model: str, version: str) -> list:
        return self.call(PLATFORM, "GET", f"transition-requests/list?name={model}&version={version}").get("requests", [])


@pytest.fixture(scope="session")
def ws(workspace) -> Workspace:
    return Workspace(workspace)
