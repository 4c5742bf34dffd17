"""Run untrusted Python (model-generated code) in a separate, limited, isolated process.

``run_python(program)`` writes the program into a throwaway directory, starts it under one of
three isolation modes (see :mod:`synthpipe.verify.isolation` for the command lines) and
returns a :class:`SandboxResult`. The OS does the containment; nothing here relies on
Python-level guards inside the child, which a hostile program could undo.

Always, in every mode
- a separate process, in its own session (process group), killed as a group with SIGKILL on
  wall-clock timeout or when its output exceeds ``max_output_bytes``;
- rlimits set before the program starts, soft = hard so they cannot be raised again:
  CPU seconds, address space (``memory_mb``), file size (``max_file_mb``), processes and
  threads (``max_procs``), open files, core dumps off;
- a scrubbed environment (PATH, LANG, HOME=TMPDIR=workdir, PYTHONDONTWRITEBYTECODE), ``-I``
  isolated interpreter mode, stdin from /dev/null unless given;
- a fresh temporary working directory, deleted afterwards;
- when we run as root: the program runs as a fresh throwaway uid/gid with no groups and
  ``no_new_privs``. That uid cannot signal or ptrace our processes, read their
  ``/proc/<pid>/environ``, read root-only files (/etc/shadow) or write root-owned files, and
  RLIMIT_NPROC (which does not apply to root) caps its fork bombs. After the run every process
  of that uid is killed, so double-forked daemons die too.

``bwrap`` (bubblewrap, strongest): new network, PID, IPC, UTS (and cgroup) namespaces; a new
root filesystem that holds only read-only binds of /usr, /lib*, /bin, a few /etc files and
the Python installation, a fresh /proc and /dev, size-capped tmpfs /tmp and /dev/shm, and the
workdir at ``/tmp/sandbox/work``. The host's /etc/passwd, home dirs, /work, /tmp and network
do not exist inside. The sandbox dies with its parent. Without root, bwrap adds a user
namespace and the uid drop is skipped.

``unshare`` (util-linux): new network (loopback only, down), PID, IPC, UTS and mount
namespaces with a fresh /proc. The launcher mounts private size-capped tmpfs over /tmp,
/var/tmp, /dev/shm and the home directory (re-binding the interpreter read-only), so writes
there vanish. The rest of the host filesystem is visible: read-only in effect for the
throwaway uid (it can read world-readable files and write only world-writable ones).
Without root it uses ``--map-root-user`` and has no uid drop: files the user owns stay
writable.

``none``: rlimits, session kill and (as root) the uid drop only. No network isolation
(it can reach 127.0.0.1 services and the internet), it sees all host processes, and it can
read every world-readable file and write world-writable dirs (/tmp, /dev/shm). Without root
there is no uid drop: it runs with all of the user's permissions (it can read the user's
files, kill the user's processes including this one, and escape via double fork).

Statuses: ``ok`` (exit 0), ``error`` (other exit code or exception), ``timeout`` (wall clock,
``limit="wall"``; or CPU, ``limit="cpu"``), ``memory`` (MemoryError under the address-space
limit), ``output_limit`` (stdout or stderr passed ``max_output_bytes``), ``blocked`` (died of
an operation the sandbox refuses: PermissionError, EPERM/EACCES/EROFS, network unreachable or
refused, name resolution; or of the file-size, process or open-file limit, named in
``limit``), ``killed`` (a signal: SIGSEGV, SIGABRT, ...). The exit status comes from the
launcher that waits for the program; without root the program can kill that launcher (same
uid), and the result then says ``killed``, which is still contained.

Memory is capped per process (RLIMIT_AS), not per sandbox: the total a program can hold is at
most ``max_procs`` x ``memory_mb`` (16 x 512 MB = 8 GB by default; threads count as
processes too). No cgroup is used, so lower ``max_procs`` where that is too much.

Out of scope in every mode: kernel exploits and container escapes, CPU side channels
(Spectre and friends), timing covert channels, exhausting disk space in the host workdir
through many small files (only the size of each file is capped), and a program that forges
its own test results (see :mod:`synthpipe.verify.code_check`).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import math
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from synthpipe.errors import UsageError
from synthpipe.verify import isolation as iso

log = logging.getLogger(__name__)

Isolation = Literal["auto", "bwrap", "unshare", "none"]
STATUSES = ("ok", "error", "timeout", "memory", "output_limit", "blocked", "killed")
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"
PROGRAM_NAME = "main.py"
_EXC_LINE = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|gaierror|herror))(?::\s?(.*))?$"
)
_ERRNO = re.compile(r"\[Errno (-?\d+)\]")
_BLOCKED_ERRNOS = {
    errno.EPERM,
    errno.EACCES,
    errno.EROFS,
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ECONNREFUSED,
    errno.EADDRNOTAVAIL,
}


@dataclass
class SandboxResult:
    """What happened to one program.

    `status` is one of :data:`STATUSES`; `limit` names the limit that ended it, if any
    ("wall", "cpu", "memory", "output", "file_size", "procs", "files"); `detail` is a one-line
    explanation (the final exception line, the signal, the limit).
    """

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: str
    detail: str = ""
    limit: str | None = None
    workdir: str = field(default="", repr=False)  # host path (already removed)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def run_python(
    program: str, *, isolation: Isolation = "auto", python: str | None = None, **limits: Any
) -> SandboxResult:
    """Run `program` (Python source) in a fresh sandbox and report how it ended.

    `isolation` picks the mode ("auto": the strongest that works here); `limits` are the
    keyword arguments of :func:`run_in_mode` (timeout_s, cpu_s, memory_mb, max_file_mb,
    max_procs, max_open_files, max_output_bytes, stdin, tmpfs_mb). `python` defaults to this
    interpreter (its installation is bound read-only into the sandbox).
    """
    python = python or sys.executable
    return run_in_mode(program, resolve_mode(isolation, python), python=python, **limits)


def run_in_mode(
    program: str,
    mode: str,
    *,
    timeout_s: float = 5.0,
    cpu_s: float | None = None,
    memory_mb: int = 512,
    max_file_mb: int = 16,
    max_procs: int = 16,
    max_open_files: int = 256,
    max_output_bytes: int = 64_000,
    stdin: str | bytes | None = None,
    python: str | None = None,
    tmpfs_mb: int = 64,
) -> SandboxResult:
    """:func:`run_python` under exactly `mode`, without checking that the mode works here.

    `cpu_s` defaults to the wall-clock timeout rounded up plus one second; `python` to this
    interpreter."""
    python = python or sys.executable
    uid = _throwaway_uid() if iso.is_root() else None
    note = ""
    if mode == "none" and uid is not None:
        reachable = iso.interpreter_for_uid_drop(python)
        if reachable is None:
            uid, note = None, "no interpreter reachable by a throwaway uid: running as root"
            log.warning("sandbox: %s", note)
        python = reachable or python
    limits = {
        "RLIMIT_CPU": math.ceil(cpu_s if cpu_s is not None else timeout_s + 1),
        "RLIMIT_AS": memory_mb << 20,
        "RLIMIT_FSIZE": max_file_mb << 20,
        "RLIMIT_NPROC": max_procs + (0 if uid is not None else _own_process_count()),
        "RLIMIT_NOFILE": max_open_files,
        "RLIMIT_CORE": 0,
    }
    workdir = tempfile.mkdtemp(prefix="synthpipe-sbx-")
    try:
        _prepare_workdir(workdir, program, uid)
        plan_args = dict(
            mode=mode,
            python=python,
            workdir=workdir,
            program_name=PROGRAM_NAME,
            limits=limits,
            uid=uid,
            env={"PATH": SAFE_PATH, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
            tmpfs_mb=tmpfs_mb,
        )
        result = _execute(plan_args, uid, stdin, timeout_s, max_output_bytes)
    finally:
        _remove_tree(workdir)
    result.workdir = workdir
    if note:
        result.detail = f"{result.detail}; {note}" if result.detail else note
    return result


class Sandbox:
    """Sandbox settings held once; `run` one program or `run_many` in a thread pool."""

    def __init__(self, *, workers: int = 2, **settings) -> None:
        self.workers = workers
        self.settings = settings
        isolation = settings.get("isolation", "auto")
        if isolation != "auto" and isolation not in iso.MODES:
            raise ValueError(f"unknown isolation {isolation!r}; use auto, {', '.join(iso.MODES)}")

    def run(self, program: str, stdin: str | bytes | None = None) -> SandboxResult:
        return run_python(program, stdin=stdin, **self.settings)

    def run_many(self, programs: Iterable[str], workers: int | None = None) -> list[SandboxResult]:
        """Results in input order; each program still gets its own sandbox."""
        programs = list(programs)
        n = max(1, min(workers or self.workers, len(programs) or 1))
        if n == 1:
            return [self.run(p) for p in programs]
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="sandbox") as pool:
            return list(pool.map(self.run, programs))


# -- running --------------------------------------------------------------------------------
def _execute(plan_args: dict, uid: int | None, stdin, timeout_s: float, cap: int) -> SandboxResult:
    status_r, status_w = os.pipe()
    plan = iso.build_plan(**plan_args, status_fd=status_w)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            plan.argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={"PATH": SAFE_PATH, "LANG": "C.UTF-8"},
            cwd="/",
            start_new_session=True,
            pass_fds=(status_w,),
        )
    finally:
        os.close(status_w)
    if stdin is not None:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        threading.Thread(target=_feed, args=(proc.stdin, data), daemon=True).start()
    try:
        out, err, ended_by = _collect(proc, uid, start + timeout_s, cap)
    finally:
        _kill_all(proc, uid)
        proc.wait()
        rc = _program_returncode(status_r, proc.returncode, plan.mode)
    duration = time.monotonic() - start
    status, limit, detail = _classify(rc, err, ended_by)
    return SandboxResult(
        status=status,
        returncode=rc,
        stdout=_text(out, cap),
        stderr=_text(err, cap),
        duration_s=duration,
        isolation=plan.mode,
        detail=detail,
        limit=limit,
    )


def _program_returncode(status_r: int, outer_rc: int, mode: str) -> int:
    """The program's own exit code (negative: signal), as reported by the launcher."""
    try:
        os.set_blocking(status_r, False)
        raw = os.read(status_r, 64)
    except OSError:
        raw = b""
    finally:
        os.close(status_r)
    if raw.strip().lstrip(b"-").isdigit() and int(raw) >= 0:
        return os.waitstatus_to_exitcode(int(raw))
    # the launcher itself died (we killed the group): decode the outer command's code
    if mode == "bwrap" and 128 < outer_rc < 128 + 65:  # bwrap reports a signal N as 128+N
        return -(outer_rc - 128)
    return outer_rc


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the program exited or closed stdin: nothing to deliver


def _collect(proc: subprocess.Popen, uid: int | None, deadline: float, cap: int):
    """Read both pipes until EOF; returns (stdout, stderr, "timeout" | "output" | None)."""
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    bufs = {out_fd: bytearray(), err_fd: bytearray()}
    sel = selectors.DefaultSelector()
    for pipe in (proc.stdout, proc.stderr):
        sel.register(pipe, selectors.EVENT_READ)
    ended_by, drain_until = None, None
    try:
        while sel.get_map():
            now = time.monotonic()
            if drain_until is None and now >= deadline:
                ended_by = "timeout"
                break
            if drain_until is not None and now >= drain_until:
                break
            for key, _ in sel.select(timeout=min(0.05, max(0.0, deadline - now))):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                bufs[key.fd] += chunk
                if len(bufs[key.fd]) > cap:
                    ended_by = "output"
            if ended_by:
                break
            if drain_until is None and proc.poll() is not None:
                # main process gone: whatever still holds the pipes is a leftover to kill
                _kill_all(proc, uid)
                drain_until = time.monotonic() + 1.0
        if ended_by is None and proc.poll() is None:  # closed its pipes but still running
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                ended_by = "timeout"
    finally:
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
    return bytes(bufs[out_fd]), bytes(bufs[err_fd]), ended_by


def _kill_all(proc: subprocess.Popen, uid: int | None) -> None:
    """SIGKILL the process group, then (as root) every process of the run's uid."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if uid is not None:
        for _ in range(200):  # fork bombs refill between scans; NPROC bounds them
            pids = _pids_of_uid(uid)
            if not pids:
                break
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.002)


def _pids_of_uid(uid: int) -> list[int]:
    """Live (non-zombie) processes whose real uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status", "rb") as fh:
                status = fh.read().decode(errors="replace")
        except OSError:
            continue
        uid_line = re.search(r"^Uid:\s+(\d+)", status, re.M)
        state = re.search(r"^State:\s+(\w)", status, re.M)
        if uid_line and int(uid_line.group(1)) == uid and not (state and state.group(1) in "ZX"):
            pids.append(int(entry.name))
    return pids


def _own_process_count() -> int:
    """Processes of our real uid: RLIMIT_NPROC counts them too when we cannot drop the uid."""
    return len(_pids_of_uid(os.getuid()))


def _throwaway_uid() -> int:
    lo, hi = iso.UID_RANGE
    return lo + secrets.randbelow(hi - lo)


def _prepare_workdir(workdir: str, program: str, uid: int | None) -> None:
    path = Path(workdir) / PROGRAM_NAME
    path.write_text(program, encoding="utf-8")
    if uid is not None:
        os.chown(workdir, uid, uid)
        os.chown(path, uid, uid)


def _remove_tree(path: str) -> None:
    """Delete the workdir even if the program chmod-ed things away."""

    def fix(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700)
            func(target)
        except OSError:
            pass

    shutil.rmtree(path, onerror=fix)


def _text(data: bytes, cap: int) -> str:
    if len(data) > cap:
        return data[:cap].decode(errors="replace") + f"\n... [truncated at {cap} bytes]"
    return data.decode(errors="replace")


# -- classification ---------------------------------------------------------------------------
def _classify(rc: int | None, stderr: bytes, ended_by: str | None):
    """(status, limit, detail) from how the process ended and its last traceback line."""
    if ended_by == "timeout":
        return "timeout", "wall", "wall-clock timeout"
    if ended_by == "output":
        return "output_limit", "output", "output exceeded the cap"
    sig = -rc if rc is not None and rc < 0 else None
    if sig == signal.SIGXCPU:
        return "timeout", "cpu", "CPU time limit (SIGXCPU)"
    if sig == signal.SIGXFSZ:
        return "blocked", "file_size", "file size limit (SIGXFSZ)"
    if sig:
        return "killed", None, f"killed by {signal.Signals(sig).name}"
    if rc == 0:
        return "ok", None, ""
    if rc == iso.SETUP_FAILED and iso.SETUP_FAILED_TAG in stderr.decode(errors="replace"):
        line = stderr.decode(errors="replace").strip().splitlines()[-1]
        return "error", None, line  # the sandbox, not the program, failed (see the probe)
    line = last_exception_line(stderr.decode(errors="replace"))
    status, limit = classify_exception_line(line)
    return status, limit, line or f"exit code {rc}"


def classify_exception_line(line: str) -> tuple[str, str | None]:
    """(status, limit) for a program that died of the exception `Name: message` in `line`."""
    name = line.split(":", 1)[0].rsplit(".", 1)[-1]
    code = _ERRNO.search(line)
    num = int(code.group(1)) if code else None
    if name == "MemoryError":
        return "memory", "memory"
    if num == errno.EFBIG:
        return "blocked", "file_size"
    if num == errno.EMFILE:
        return "blocked", "files"
    if (num == errno.EAGAIN and name == "BlockingIOError") or "can't start new thread" in line:
        return "blocked", "procs"
    if name in ("PermissionError", "gaierror", "herror") or num in _BLOCKED_ERRNOS:
        return "blocked", None
    return "error", None


def last_exception_line(stderr: str) -> str:
    """The `Name: message` line that ends a Python traceback, or ""."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in reversed(lines[-20:]):
        if _EXC_LINE.match(ln):
            return ln
    return ""


# -- which isolation works here (probed by running a program under it) ------------------
@functools.cache
def probe(mode: str, python: str) -> str:
    """Once per process: "" if a trivial program runs under `mode`, else why not."""
    if mode == "none":
        return ""
    try:
        result = run_in_mode("print('ok')", mode, timeout_s=10.0, python=python)
    except (OSError, RuntimeError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if result.status == "ok" and result.stdout.strip() == "ok":
        return ""
    tail = result.stderr.strip().splitlines()[-1:] or [result.detail]
    return f"{result.status}: {tail[0]}"


def mode_works(mode: str, python: str) -> bool:
    return probe(mode, python) == ""


def available_modes(python: str | None = None) -> list[str]:
    """Isolation modes that work on this machine, strongest first."""
    python = python or sys.executable
    return [m for m in iso.MODES if mode_works(m, python)]


def resolve_mode(isolation: str, python: str) -> str:
    """The mode to use: "auto" picks the strongest that works; others must work here."""
    if isolation == "auto":
        for mode in ("bwrap", "unshare"):
            if mode_works(mode, python):
                return mode
        _warn_no_isolation()
        return "none"
    if isolation not in iso.MODES:
        raise ValueError(f"unknown isolation {isolation!r}; use auto, {', '.join(iso.MODES)}")
    reason = probe(isolation, python)
    if reason:
        raise UsageError(
            f"isolation={isolation!r} does not work on this machine ({reason}); "
            "use isolation='auto' to fall back to the strongest mode that does"
        )
    return isolation


@functools.lru_cache(maxsize=1)
def _warn_no_isolation() -> None:
    log.warning(
        "neither bubblewrap nor unshare works here: sandboxed code runs with isolation='none' "
        "(no network or filesystem isolation; only resource limits and a throwaway uid)"
    )
