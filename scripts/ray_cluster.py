"""A Ray cluster of several nodes on one machine: a head and worker nodes, each its own
``ray start --block`` process (own process group, own CPUs, object store and temp dir).

    .venv/bin/python scripts/ray_cluster.py --workers 2      # prints the address; Ctrl-C stops it

From Python (tests, benchmarks)::

    with LocalCluster(workers=2) as cluster:
        run(["synthpipe", "run", recipe, "--executor", "ray", "--address", cluster.address])
        os.kill(cluster.raylet_pid(1), signal.SIGKILL)   # or cluster.kill_worker(1)

Every node listens on 127.0.0.1 on ports picked free here, has no dashboard and no usage
stats, and gets ``--num-cpus`` CPUs and ``--object-store-memory`` bytes. ``ray start`` accepts
``--temp-dir`` per node, so each node writes its sockets and logs under its own directory.
Stopping kills each node's process group (SIGTERM, then SIGKILL), then any process still naming
this cluster's temp dir or port. It does not run ``ray stop``: that stops every Ray process of
the user on the machine, other clusters included.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_range(width: int = 40) -> tuple[int, int]:
    """`width` consecutive ports that are free now (for a node's worker processes)."""
    for _ in range(200):
        lo = free_port()
        if lo + width >= 65000:
            continue
        ok = True
        for p in range(lo + 1, lo + width):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return lo, lo + width - 1
    raise RuntimeError("no free port range")


def children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return children


def descendants(pid: int) -> list[int]:
    children, out, todo = children_map(), [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


@dataclass
class Node:
    name: str
    temp_dir: Path
    proc: subprocess.Popen
    node_manager_port: int
    log: Path
    killed: bool = False

    def raylet_pid(self) -> int | None:
        for pid in [self.proc.pid, *descendants(self.proc.pid)]:
            title = cmdline(pid)
            if (
                "raylet" in title.split(" ", 1)[0]
                and f"--node_manager_port={self.node_manager_port}" in title
            ):
                return pid
        return None

    def pids(self) -> list[int]:
        return [self.proc.pid, *descendants(self.proc.pid)]


@dataclass
class LocalCluster:
    """A head with `head_cpus` CPUs and `workers` worker nodes with `worker_cpus` CPUs each.

    Worker node processes get `env` added to their environment (e.g. PYTHONPATH for the step
    modules a recipe names)."""

    workers: int = 2
    head_cpus: int = 1
    worker_cpus: int = 1
    object_store_bytes: int = 200 * 1024 * 1024
    root: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    nodes: list[Node] = field(default_factory=list)
    _own_root: bool = False

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- start -----------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> LocalCluster:
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="raycl-"))
            self._own_root = True
        self.port = free_port()
        try:
            self._start_node("head", self.head_cpus, head=True)
            self._wait_alive(1, timeout)
            for k in range(self.workers):
                self._start_node(f"worker{k + 1}", self.worker_cpus, head=False)
            self._wait_alive(1 + self.workers, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, name: str, cpus: int, head: bool) -> None:
        # short paths: Ray's unix sockets live under the temp dir (108-byte limit)
        temp_dir = self.root / name
        temp_dir.mkdir(parents=True, exist_ok=True)
        nm_port = free_port()
        lo, hi = free_range()
        cmd = [
            str(BIN / "ray"), "start", "--block",
            "--num-cpus", str(cpus),
            "--num-gpus", "0",
            "--object-store-memory", str(self.object_store_bytes),
            "--temp-dir", str(temp_dir),
            "--node-ip-address", "127.0.0.1",
            "--node-manager-port", str(nm_port),
            "--object-manager-port", str(free_port()),
            "--min-worker-port", str(lo),
            "--max-worker-port", str(hi),
            "--dashboard-agent-listen-port", str(free_port()),
            "--dashboard-agent-grpc-port", str(free_port()),
            "--metrics-export-port", str(free_port()),
            "--runtime-env-agent-port", str(free_port()),
            "--resources", f'{{"node:{name}": 1}}',
            "--disable-usage-stats",
        ]  # fmt: skip
        if head:
            cmd += [
                "--head", "--port", str(self.port),
                "--include-dashboard=false",
                "--dashboard-port", str(free_port()),
            ]  # fmt: skip
        else:
            cmd += ["--address", self.address]
        # explicit: `ray start` turns token auth on when ~/.ray/auth_token exists, and drivers
        # started without RAY_AUTH_MODE=token could then not connect
        env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",
            **self.env,
        }
        env.pop("RAY_ADDRESS", None)
        log = self.root / f"{name}.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self.nodes.append(Node(name, temp_dir, proc, nm_port, log))

    def alive_nodes(self) -> int:
        """Nodes the GCS reports alive."""
        from ray._raylet import GcsClient

        saved = os.environ.get("RAY_AUTH_MODE")
        os.environ["RAY_AUTH_MODE"] = "disabled"  # as the nodes run; restored below
        try:
            infos = GcsClient(address=self.gcs_address()).get_all_node_info(timeout=10)
        except Exception:  # not up yet
            return 0
        finally:
            if saved is None:
                os.environ.pop("RAY_AUTH_MODE", None)
            else:
                os.environ["RAY_AUTH_MODE"] = saved
        return sum(1 for info in infos.values() if info.state == 0)  # 0: ALIVE

    def gcs_address(self) -> str:
        """The head's address as Ray resolves 127.0.0.1: the machine's own IP."""
        from ray._private.services import resolve_ip_for_localhost

        return f"{resolve_ip_for_localhost('127.0.0.1')}:{self.port}"

    def _wait_alive(self, n: int, timeout: float) -> None:
        deadline = time.time() + timeout
        while True:
            for node in self.nodes:
                if node.proc.poll() is not None and not node.killed:
                    raise RuntimeError(
                        f"ray node {node.name} exited:\n{node.log.read_text()[-3000:]}"
                    )
            if all(node.raylet_pid() for node in self.nodes) and self.alive_nodes() >= n:
                return
            if time.time() > deadline:
                raise TimeoutError(f"{n} Ray nodes did not register in {timeout:.0f} s")
            time.sleep(0.5)

    # -- a worker node ---------------------------------------------------------------------
    def worker(self, k: int) -> Node:
        """Worker node k (1-based)."""
        return self.nodes[k]

    def raylet_pid(self, k: int) -> int | None:
        return self.worker(k).raylet_pid()

    def kill_worker(self, k: int) -> int:
        """SIGKILL worker node k: its raylet and every process of its group (its workers,
        agents, the `ray start` process). Returns the raylet's pid."""
        node = self.worker(k)
        pid = node.raylet_pid()
        if pid is None:
            raise RuntimeError(f"no raylet found for {node.name}")
        node.killed = True
        os.kill(pid, signal.SIGKILL)
        for p in node.pids():
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(node.proc.pid, signal.SIGKILL)
        return pid

    # -- stop ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every node started here, whatever state it is in."""
        for node in reversed(self.nodes):
            with contextlib.suppress(OSError):
                os.killpg(node.proc.pid, signal.SIGTERM)  # `ray start --block` stops its node
        deadline = time.time() + 3  # `ray start --block` rarely exits by itself in time
        for node in reversed(self.nodes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=max(0.1, deadline - time.time()))
        for node in reversed(self.nodes):
            pids = node.pids()
            with contextlib.suppress(OSError):
                os.killpg(node.proc.pid, signal.SIGKILL)
            for p in pids:  # Ray workers may have left the group
                with contextlib.suppress(OSError):
                    os.kill(p, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                node.proc.wait(timeout=5)
        self._kill_strays()
        self.nodes = []
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def _kill_strays(self) -> None:
        """Any process still naming one of our temp dirs or our GCS port (re-parented)."""
        if self.root is None:
            return
        marks = [str(self.root)] + ([f":{self.port}"] if self.port else [])
        me = os.getpid()
        for stat in Path("/proc").glob("[0-9]*"):
            pid = int(stat.name)
            if pid == me:
                continue
            title = cmdline(pid)
            if any(m in title for m in marks) and (
                "ray" in title or "raylet" in title or "gcs" in title
            ):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--head-cpus", type=int, default=1)
    parser.add_argument("--worker-cpus", type=int, default=1)
    parser.add_argument("--object-store-mb", type=int, default=200)
    args = parser.parse_args()
    cluster = LocalCluster(
        workers=args.workers,
        head_cpus=args.head_cpus,
        worker_cpus=args.worker_cpus,
        object_store_bytes=args.object_store_mb * 1024 * 1024,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with cluster:
        print(f"address {cluster.address}", flush=True)
        for k in range(1, args.workers + 1):
            print(f"worker{k} raylet pid {cluster.raylet_pid(k)}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


if __name__ == "__main__":
    main()
