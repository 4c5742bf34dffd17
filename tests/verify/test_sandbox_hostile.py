"""Hostile programs: each must be contained and leave the host unaffected.

Every case runs under each isolation mode that works here. Where a mode does not contain a
case by design, the case is marked expected-not-contained (xfail, strict: if it starts being
contained the table below must be updated) or, when the escape would harm the host, skipped.
This table is the honest answer to "what remains without isolation":

- ``none`` (even as root): loopback network reachable (TCP to a local server, curl), a route
  to the outside exists, and world-writable dirs (/tmp, /dev/shm) are writable.
- ``none`` without root (no uid drop): additionally parent/test process kill, kill(-1),
  the user's home, other processes' environ, and double-fork escapes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from synthpipe.verify.isolation import MODES
from synthpipe.verify.sandbox import available_modes, run_python

AVAILABLE = available_modes()
ROOT = os.geteuid() == 0
NO_UID_DROP = "without root there is no uid drop: the program acts with all our permissions"
NONE_NET = "isolation='none' shares the host network namespace"
NONE_TMP = "isolation='none' can write world-writable dirs (/tmp, /dev/shm)"


def modes(xfail: dict[str, str] | None = None, skip: dict[str, str] | None = None):
    """Parametrize over all modes; unavailable ones skip, known non-containment xfails."""
    params = []
    for mode in MODES:
        marks = []
        if mode not in AVAILABLE:
            marks.append(pytest.mark.skip(reason=f"{mode} does not work on this machine"))
        elif skip and mode in skip:
            marks.append(pytest.mark.skip(reason=f"not contained, would harm host: {skip[mode]}"))
        elif xfail and mode in xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=f"not contained: {xfail[mode]}"))
        params.append(pytest.param(mode, marks=marks, id=mode))
    return pytest.mark.parametrize("mode", params)


def unless_root(reason: str) -> dict[str, str]:
    return {} if ROOT else {"none": reason}


def marked(src: str, marker: str) -> str:
    """Re-exec once with `marker` in argv so every descendant process carries it."""
    head = (
        "import os, sys\n"
        f"if {marker!r} not in sys.argv:\n"
        f"    os.execv(sys.executable, [sys.executable, '-I', __file__, {marker!r}])\n"
    )
    return head + src


def live_with_marker(marker: str) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes()
            state = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state not in "ZX":
            pids.append(int(entry.name))
    return pids


def assert_host_fine(marker: str | None = None) -> None:
    assert os.path.exists(f"/proc/{os.getpid()}")
    assert os.system("true") == 0, "host can no longer start processes"
    if marker:
        assert live_with_marker(marker) == [], "sandboxed processes outlived the run"


@pytest.fixture
def marker() -> str:
    return f"sbxmark{secrets.token_hex(6)}"


@pytest.fixture
def server():
    """A loopback TCP listener; `.connected()` says whether anyone connected."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.3)

    class Server:
        port = sock.getsockname()[1]

        @staticmethod
        def connected() -> bool:
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                return False
            conn.close()
            return True

    yield Server
    sock.close()


# -- processes --------------------------------------------------------------------------------
@modes()
def test_fork_bomb(mode, marker):
    r = run_python(marked("while True:\n    os.fork()\n", marker), isolation=mode, timeout_s=3)
    assert r.status in {"blocked", "error", "timeout"}
    assert_host_fine(marker)


@modes()
def test_fork_bomb_after_trying_to_raise_limits(mode, marker):
    src = (
        "import resource\n"
        "for lim in ('RLIMIT_NPROC', 'RLIMIT_AS', 'RLIMIT_CPU'):\n"
        "    try:\n"
        "        resource.setrlimit(getattr(resource, lim), (resource.RLIM_INFINITY,) * 2)\n"
        "        print('raised', lim, flush=True)\n"
        "    except (ValueError, OSError):\n"
        "        print('denied', lim, flush=True)\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    r = run_python(marked(src, marker), isolation=mode, timeout_s=1)
    assert "raised" not in r.stdout and r.stdout.count("denied RLIMIT_NPROC") >= 1
    assert r.status == "timeout"
    assert_host_fine(marker)


@modes()
def test_subprocess_spawn_storm(mode, marker):
    src = (
        "import subprocess, sys\n"
        "for _ in range(500):\n"
        f"    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}])\n"
    )
    r = run_python(src, isolation=mode, timeout_s=5)
    assert r.status == "blocked" and r.limit == "procs", r.detail
    assert_host_fine(marker)


@modes(skip=unless_root(NO_UID_DROP))
def test_double_forked_daemon_does_not_survive(mode, marker):
    src = (
        "import os, sys\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        code = 'import time; time.sleep(60)'\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', code, {marker!r}])\n"
        "    os._exit(0)\n"
        "print('parent done')\n"
    )
    r = run_python(src, isolation=mode, timeout_s=5)
    assert r.status == "ok" and "parent done" in r.stdout
    assert_host_fine(marker)


@modes()
def test_threads_bomb(mode):
    src = (
        "import threading, time\n"
        "while True:\n"
        "    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n"
    )
    r = run_python(src, isolation=mode, timeout_s=5)
    assert r.status in {"blocked", "memory"}, r.detail
    assert_host_fine()


@modes(skip=unless_root(NO_UID_DROP))
def test_kill_parent(mode):
    r = run_python("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n", isolation=mode)
    assert r.status == "blocked", r  # the parent is the launcher, still root
    assert_host_fine()


@modes()
def test_kill_pid_1(mode):
    r = run_python(
        "import os, signal\nos.kill(1, signal.SIGKILL)\nprint('alive')\n", isolation=mode
    )
    assert r.status in {"blocked", "ok"}, r  # ok: pid 1 of its own namespace ignores it
    os.kill(1, 0)  # the host's pid 1 exists
    assert_host_fine()


@modes(skip=unless_root(NO_UID_DROP))
def test_kill_test_process(mode):
    src = f"import os, signal\nos.kill({os.getpid()}, signal.SIGTERM)\nos.kill({os.getpid()}, 9)\n"
    r = run_python(src, isolation=mode)
    assert r.status in {"blocked", "error"}, r  # EPERM, or no such pid in its namespace
    assert_host_fine()


@modes(skip=unless_root(NO_UID_DROP))
def test_kill_every_process_it_can(mode):
    r = run_python(
        "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('survived')\n", isolation=mode
    )
    # Linux spares the caller: it survives (ok) unless nothing was signalable (ESRCH -> error);
    # what matters is that none of the host's processes were among the victims
    assert r.status in {"ok", "error"}, r
    assert r.status == "error" or r.stdout == "survived\n"
    assert_host_fine()


# -- time and CPU ----------------------------------------------------------------------------------
@modes()
def test_infinite_loop_times_out(mode):
    r = run_python("while True:\n    pass\n", isolation=mode, timeout_s=1)
    assert (r.status, r.limit) == ("timeout", "wall") and r.duration_s < 3


@modes()
def test_busy_cpu_hits_cpu_limit(mode):
    r = run_python("while True:\n    pass\n", isolation=mode, timeout_s=10, cpu_s=1)
    assert (r.status, r.limit) == ("timeout", "cpu") and r.duration_s < 6


@modes()
def test_ignoring_sigterm_still_killed(mode, marker):
    src = (
        "import signal, time\n"
        "for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\n"
        "while True:\n"
        "    time.sleep(0.01)\n"
    )
    r = run_python(marked(src, marker), isolation=mode, timeout_s=1)
    assert r.status == "timeout" and r.duration_s < 3
    assert_host_fine(marker)


@modes()
def test_sleep_forever(mode):
    r = run_python("import time\ntime.sleep(10**6)\n", isolation=mode, timeout_s=1)
    assert r.status == "timeout" and r.duration_s < 3


@modes()
def test_stdin_read_does_not_block(mode):
    src = (
        "import sys\nprint(len(sys.stdin.read()))\n"
        "try:\n    open('/dev/tty')\nexcept OSError:\n    print('no tty')\n"
    )
    r = run_python(src, isolation=mode, timeout_s=3)
    assert r.status == "ok" and r.stdout.split() == ["0", "no", "tty"]
    r = run_python("input()\ninput()\n", isolation=mode, stdin="one line\n", timeout_s=3)
    assert r.status == "error" and "EOFError" in r.detail


# -- memory, output, files ------------------------------------------------------------------
@modes()
def test_memory_bomb_bytearray_growth(mode):
    src = "b = bytearray()\nwhile True:\n    b += bytes(10**7)\n"
    r = run_python(src, isolation=mode, memory_mb=256, timeout_s=10)
    assert (r.status, r.limit) == ("memory", "memory"), r


@modes()
def test_memory_bomb_list_growth(mode):
    src = "x = []\nwhile True:\n    x.append(bytearray(10**6))\n"
    r = run_python(src, isolation=mode, memory_mb=256, timeout_s=10)
    assert r.status == "memory", r


@modes()
def test_stdout_spam_is_capped(mode):
    r = run_python("while True:\n    print('x' * 1000)\n", isolation=mode, max_output_bytes=10_000)
    assert r.status == "output_limit" and len(r.stdout) < 10_100


@modes()
def test_stderr_spam_is_capped(mode):
    src = "import sys\nwhile True:\n    sys.stderr.write('e' * 1000)\n"
    r = run_python(src, isolation=mode, max_output_bytes=10_000)
    assert r.status == "output_limit" and len(r.stderr) < 10_100


@modes()
def test_huge_file_write_hits_file_size_limit(mode):
    src = (
        "with open('big', 'wb') as fh:\n    for _ in range(200):\n        fh.write(bytes(1<<20))\n"
    )
    r = run_python(src, isolation=mode, max_file_mb=4)
    assert (r.status, r.limit) == ("blocked", "file_size"), r
    assert not os.path.exists(r.workdir)


@modes()
def test_many_files_are_cleaned_up(mode):
    src = "for i in range(20_000):\n    open(f'f{i}', 'w').close()\n"
    r = run_python(src, isolation=mode, timeout_s=1)
    assert r.status in {"ok", "timeout"}
    assert not os.path.exists(r.workdir)


@modes()
def test_chmod_workdir_away(mode):
    src = (
        "import os\nos.makedirs('a/b/c')\nos.chmod('a/b', 0)\nos.chmod('a', 0)\nos.chmod('.', 0)\n"
    )
    r = run_python(src, isolation=mode)
    assert r.status == "ok", r
    assert not os.path.exists(r.workdir)


# -- filesystem escapes ----------------------------------------------------------------------
@modes()
def test_write_into_test_tmp_path(mode, tmp_path):
    target = tmp_path / "escaped.txt"
    r = run_python(f"open({str(target)!r}, 'w').write('pwned')\n", isolation=mode)
    assert r.status in {"blocked", "error"}
    assert not target.exists()


@modes(xfail={"none": NONE_TMP})
def test_write_host_tmp(mode):
    target = Path(f"/tmp/synthpipe-escape-{secrets.token_hex(6)}")
    try:
        run_python(f"open({str(target)!r}, 'w').write('pwned')\n", isolation=mode)
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


@modes(xfail={"none": NONE_TMP})
def test_write_host_dev_shm(mode):
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    target = Path(f"/dev/shm/synthpipe-escape-{secrets.token_hex(6)}")
    try:
        run_python(f"open({str(target)!r}, 'w').write('pwned')\n", isolation=mode)
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


@modes(skip=unless_root(NO_UID_DROP))
def test_write_host_home(mode):
    target = Path.home() / f"synthpipe-escape-{secrets.token_hex(6)}"
    try:
        r = run_python(f"open({str(target)!r}, 'w').write('pwned')\n", isolation=mode)
        assert r.status in {"blocked", "error"}
        assert not target.exists()
    finally:
        target.unlink(missing_ok=True)


@modes()
def test_delete_host_canary(mode, tmp_path):
    canary = tmp_path / "canary.txt"
    canary.write_text("alive")
    src = (
        f"import os, shutil\ntry:\n    os.remove({str(canary)!r})\n"
        f"finally:\n    shutil.rmtree({str(tmp_path)!r})\n"
    )
    r = run_python(src, isolation=mode)
    assert r.status in {"blocked", "error"}
    assert canary.read_text() == "alive"


@modes()
def test_symlink_to_root_then_write(mode, tmp_path):
    target = tmp_path / "via-symlink.txt"
    src = (
        f"import os\nos.symlink('/', 'root')\nopen('root' + {str(target)!r}, 'w').write('pwned')\n"
    )
    r = run_python(src, isolation=mode)
    assert r.status in {"blocked", "error"}
    assert not target.exists()


@modes()
def test_write_into_python_installation(mode):
    name = f"synthpipe_escape_{secrets.token_hex(6)}.py"
    host_dirs = {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"], sys.prefix}
    host_dirs |= {"/usr/lib/python3", f"/usr/lib/python3.{sys.version_info.minor}"}
    src = (
        "import sysconfig, sys\n"
        f"dirs = {sorted(host_dirs)!r} + [sysconfig.get_paths()['stdlib'], sys.prefix]\n"
        "for d in dirs:\n"
        "    try:\n"
        f"        open(d + '/{name}', 'w').write('pwned')\n"
        "        print('WROTE', d)\n"
        "    except OSError as exc:\n"
        "        print('denied', type(exc).__name__)\n"
    )
    try:
        r = run_python(src, isolation=mode)
        assert r.status == "ok" and "WROTE" not in r.stdout, r.stdout
        assert not any(os.path.exists(os.path.join(d, name)) for d in host_dirs)
    finally:
        for d in host_dirs:
            Path(d, name).unlink(missing_ok=True)


@modes()
def test_read_etc_shadow(mode):
    if not os.path.exists("/etc/shadow"):
        pytest.skip("no /etc/shadow here")
    r = run_python("print(open('/etc/shadow').read())\n", isolation=mode)
    assert r.status in {"blocked", "error"}
    assert "root:" not in r.stdout


@modes()
def test_cannot_become_root(mode):
    r = run_python("import os\nos.setuid(0)\nprint('root again')\n", isolation=mode)
    if ROOT or mode == "bwrap":
        assert r.status == "blocked" and "root again" not in r.stdout
    else:  # unshare --map-root-user: "root" only inside its own user namespace
        assert r.status in {"blocked", "ok"}


# -- secrets ---------------------------------------------------------------------------------
@modes(xfail=unless_root(NO_UID_DROP))
def test_parent_environment_is_not_visible(mode, monkeypatch):
    canary = f"sk-canary-{secrets.token_hex(8)}"
    monkeypatch.setenv("OPENAI_API_KEY", canary)
    src = (
        "import os\n"
        "print(dict(os.environ))\n"
        "for pid in [os.getppid(), 1, *[p for p in os.listdir('/proc') if p.isdigit()]]:\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError:\n"
        "        pass\n"
    )
    r = run_python(src, isolation=mode)
    assert r.status == "ok"
    assert "OPENAI_API_KEY" not in r.stdout and canary not in r.stdout + r.stderr


# -- network ---------------------------------------------------------------------------------
@modes(xfail={"none": NONE_NET})
def test_tcp_to_loopback_server(mode, server):
    src = f"import socket\nsocket.create_connection(('127.0.0.1', {server.port}), timeout=2)\n"
    r = run_python(src, isolation=mode)
    assert not server.connected()
    assert r.status == "blocked", r


@modes(xfail={"none": NONE_NET})
def test_curl_to_loopback_server(mode, server):
    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")
    src = f"import os\nprint(os.system('curl -s -m 1 http://127.0.0.1:{server.port}/ '))\n"
    r = run_python(src, isolation=mode, timeout_s=5)
    assert r.status == "ok"
    assert not server.connected()


@modes(xfail={"none": NONE_NET})
def test_no_route_to_external_address(mode):
    # UDP connect() only looks the route up: it sends no packet, so this probe is safe even
    # where it is not contained. 192.0.2.1 is TEST-NET-1 (RFC 5737).
    src = (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "s.connect(('192.0.2.1', 9))\n"
    )
    r = run_python(src, isolation=mode)
    assert r.status == "blocked" and "Network is unreachable" in r.detail, r


# -- crashes and odd exits ---------------------------------------------------------------------
@modes()
def test_deep_recursion(mode):
    src = "import sys\nsys.setrecursionlimit(10**8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)\n"
    r = run_python(src, isolation=mode, timeout_s=10, memory_mb=64)
    assert r.status in {"killed", "memory", "error"}, r
    assert_host_fine()


@modes()
def test_ctypes_segfault(mode):
    r = run_python("import ctypes\nctypes.string_at(0)\n", isolation=mode)
    assert r.status == "killed" and "SIGSEGV" in r.detail, r


@modes()
def test_early_os_exit_is_reported(mode):
    r = run_python(
        "import os\nprint('before', flush=True)\nos._exit(0)\nprint('after')\n", isolation=mode
    )
    assert (r.status, r.returncode, r.stdout) == ("ok", 0, "before\n")
    r = run_python("import os\nos._exit(3)\n", isolation=mode)
    assert (r.status, r.returncode) == ("error", 3)


def test_every_mode_listed_is_probed():
    assert "none" in AVAILABLE and set(AVAILABLE) <= set(MODES)
    start = time.monotonic()
    available_modes()  # cached: no new probes
    assert time.monotonic() - start < 0.05
