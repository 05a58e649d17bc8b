"""Start and stop a real Celery worker, Celery beat and a private redis-server for the tests.

Every process is started in its own session and stopped by its own process group id, so a test
kills exactly what it started. Logs go to files in the test's tmp_path and are printed when a
wait times out.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database the tests run on (the pytest test database)."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str,
    logs: Iterator[Path] | list[Path] = (),
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    details = "\n".join(f"--- {p.name} ---\n{tail(p)}" for p in logs)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{details}")


def tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


class Service:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.args, self.env, self.log = name, args, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: we signal exactly that group
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole group (main process and pool children): no cleanup at all."""
        self.signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait(timeout=10)

    def stop(self, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


class Harness:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = env
        self.services: list[Service] = []

    @property
    def logs(self) -> list[Path]:
        return [s.log for s in self.services]

    def worker(self, name: str = "worker", queues: str = "") -> Service:
        log = self.tmp / f"{name}.log"
        args = [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"takeoff-test-{uuid.uuid4().hex[:8]}@%h",
        ]
        if queues:  # e.g. "default,heavy"; otherwise the default queue only
            args += ["-Q", queues]
        service = Service(name, args, dict(self.env), log).start()
        self.services.append(service)
        wait_for(
            lambda: " ready." in tail(log, 200) or not service.running,
            timeout=60,
            what=f"{name} to start",
            logs=[log],
        )
        assert service.running, tail(log)
        return service

    def beat(self, name: str = "beat") -> Service:
        log = self.tmp / f"{name}.log"
        args = [
            str(VENV_BIN / "celery"),
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            f"--schedule={self.tmp / 'celerybeat-schedule'}",
        ]
        service = Service(name, args, dict(self.env), log).start()
        self.services.append(service)
        return service

    def redis_server(self, port: int, name: str = "redis") -> Service:
        binary = shutil.which("redis-server")
        assert binary is not None
        log = self.tmp / f"{name}.log"
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.tmp)]
        service = Service(name, args, dict(self.env), log).start()
        self.services.append(service)
        wait_for(lambda: port_open(port), timeout=20, what="redis-server", logs=[log])
        return service

    def manage(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def stop_all(self) -> None:
        for service in reversed(self.services):
            service.stop()


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def harness(tmp: Path, env: dict[str, str]) -> Iterator[Harness]:
    h = Harness(tmp, env)
    try:
        yield h
    finally:
        h.stop_all()
