"""A second dockerd with the classic image store, beside the main engine (../shared/ENGINE.md).

Docker before 29 keeps images in the classic store by default; laptops and CI hosts still
do. This engine reproduces one: ``{"features": {"containerd-snapshotter": false}}``, its own
data root, exec root, unix socket, pid file, and its own bridge ``docker1``.

Never ``--bridge none``: dockerd then deletes the host's ``docker0`` and every ``RUN`` on the
main engine fails (``adding interface veth... to bridge docker0 failed``).

buildx, the registries and QEMU are shared with the main engine. An engine already
answering on the socket is reused and left running; one started here is stopped by its pid.

:func:`fresh_engine` starts another throwaway dockerd the same way, with the store asked
for (the containerd one by default) and an empty data root, on its own socket, pid file,
exec root and bridge: a machine that has never built anything (issue 20: a second
rehearsal whose cache hits can only come from the registry cache).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from testbed import base_images

SOCKET = Path("/var/run/docker-classic.sock")
DOCKER_HOST = f"unix://{SOCKET}"
PIDFILE = Path("/var/run/docker-classic.pid")
EXEC_ROOT = Path("/var/run/docker-classic")
BRIDGE = "docker1"
BRIDGE_ADDRESS = "172.31.250.1/24"
MAIN_BRIDGE = "docker0"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class EngineUnavailableError(RuntimeError):
    """The classic engine cannot be started here; the message says why, in one line."""


def state_dir() -> Path:
    """Where the classic engine keeps its data root, config and log (MULTIARCH_STATE_DIR)."""
    base = Path(os.environ.get("MULTIARCH_STATE_DIR", "/var/lib/multiarch-tasks"))
    return base / "classic-engine"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def image_store(docker_host: str | None = None) -> str | None:
    """``"containerd"`` or ``"classic"`` (see base_images.image_store); None when it is down."""
    try:
        return base_images.image_store(docker_host)
    except base_images.BaseImageError:
        return None


def link_exists(name: str) -> bool:
    """Whether the network interface ``name`` exists (``ip link show NAME``)."""
    return _run(["ip", "link", "show", name]).returncode == 0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie nobody reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def _clear_stale_pidfile(path: Path) -> None:
    # dockerd refuses to start over a pid file whose process still seems to exist.
    if not path.exists():
        return
    text = path.read_text().strip()
    if not text.isdigit() or not _alive(int(text)):
        path.unlink(missing_ok=True)


@dataclass
class ClassicEngine:
    """A dockerd with the classic image store on ``docker_host``."""

    docker_host: str = DOCKER_HOST
    root: Path = field(default_factory=state_dir)
    proc: subprocess.Popen[bytes] | None = None
    owns_bridge: bool = False
    # The classic engine's by default; fresh_engine gives another store its own of each.
    store: str = "classic"
    pidfile: Path = PIDFILE
    exec_root: Path = EXEC_ROOT
    bridge: str = BRIDGE
    bridge_address: str = BRIDGE_ADDRESS

    @property
    def started_here(self) -> bool:
        """Whether this object started the daemon (and so stops it)."""
        return self.proc is not None

    @property
    def log(self) -> Path:
        """The daemon's log file."""
        return self.root / "dockerd.log"

    @classmethod
    def start(cls, root: Path | None = None) -> ClassicEngine:
        """Reuse the classic engine on the socket, or start one; raise EngineUnavailableError."""
        engine = cls(root=root or state_dir())
        store = image_store(engine.docker_host)
        if store == "classic":
            return engine
        if store == "containerd":
            msg = f"the engine at {engine.docker_host} uses the containerd image store, not classic"
            raise EngineUnavailableError(msg)
        engine.launch()
        return engine

    def _preflight(self) -> None:
        if os.geteuid() != 0:
            msg = "starting a second dockerd needs root"
            raise EngineUnavailableError(msg)
        for tool in ("dockerd", "docker", "ip"):
            if shutil.which(tool) is None:
                msg = f"{tool} not on PATH (run scripts/engine-up)"
                raise EngineUnavailableError(msg)

    def _make_bridge(self) -> None:
        if link_exists(self.bridge):
            return
        for argv in (
            ["ip", "link", "add", "name", self.bridge, "type", "bridge"],
            ["ip", "addr", "add", self.bridge_address, "dev", self.bridge],
            ["ip", "link", "set", self.bridge, "up"],
        ):
            done = _run(argv)
            if done.returncode != 0:
                msg = f"{' '.join(argv)} failed: {done.stderr.strip()}"
                raise EngineUnavailableError(msg)

    def launch(self) -> None:
        """Start this dockerd on its own socket and bridge; raise EngineUnavailableError."""
        self._preflight()
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "daemon.json"
        snapshotter = self.store == "containerd"
        config.write_text(json.dumps({"features": {"containerd-snapshotter": snapshotter}}) + "\n")
        _clear_stale_pidfile(self.pidfile)
        _clear_stale_pidfile(self.exec_root / "containerd" / "containerd.pid")
        # The bridge belongs to this engine: one left by a crashed run is reused, then removed.
        self.owns_bridge = True
        self._make_bridge()
        argv = [
            "dockerd",
            "--config-file", str(config),
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.exec_root),
            "--host", self.docker_host,
            "--pidfile", str(self.pidfile),
            # Its own bridge: `--bridge none` would delete the host's docker0.
            "--bridge", self.bridge,
            "--iptables=false",
            "--ip6tables=false",
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if image_store(self.docker_host) is not None:
                return
            time.sleep(0.5)
        tail = self.log.read_text(errors="replace").strip().splitlines()[-1:] or ["(empty log)"]
        self.stop()
        msg = f"the {self.store} dockerd did not answer on {self.docker_host}: {tail[0]}"
        raise EngineUnavailableError(msg)

    def stop(self) -> None:
        """Stop the daemon started here (by its pid) and remove its bridge; else do nothing."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self.pidfile.unlink(missing_ok=True)
        if self.owns_bridge and link_exists(self.bridge):
            _run(["ip", "link", "delete", self.bridge])
        self.owns_bridge = False


def fresh_engine(
    name: str, *, store: str = "containerd", bridge_address: str = "172.31.251.1/24"
) -> ClassicEngine:
    """Start a throwaway dockerd ``name`` with ``store`` and an empty data root.

    Its socket is ``/var/run/docker-NAME.sock`` and its data under the state directory's
    ``engine-NAME`` (wiped first; :func:`remove_engine` stops it and wipes it again). An
    engine already answering there is refused: its data would not be fresh.
    """
    root = state_dir().parent / f"engine-{name}"
    engine = ClassicEngine(
        docker_host=f"unix:///var/run/docker-{name}.sock",
        root=root,
        store=store,
        pidfile=Path(f"/var/run/docker-{name}.pid"),
        exec_root=Path(f"/var/run/docker-{name}"),
        bridge=f"dk-{name}"[:15],  # an interface name has at most 15 characters
        bridge_address=bridge_address,
    )
    if image_store(engine.docker_host) is not None:
        msg = f"an engine already answers at {engine.docker_host}: not a fresh one"
        raise EngineUnavailableError(msg)
    shutil.rmtree(root, ignore_errors=True)
    engine.launch()
    return engine


def remove_engine(engine: ClassicEngine) -> None:
    """Stop a :func:`fresh_engine` and remove its data root."""
    engine.stop()
    shutil.rmtree(engine.root, ignore_errors=True)
