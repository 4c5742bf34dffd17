"""The lock of a run directory on an object store: a lease object, ``<uri>/.lock``.

An object store has no flock. A run takes the lock by creating ``.lock`` with a conditional
PUT (``If-None-Match: *``: of two runs racing for it, one wins), holding its host, pid and the
time it last renewed it; a thread renews it every :data:`RENEW_S` seconds, and the run deletes
it when it closes. A lock is taken over when its holder stopped renewing it for
:data:`STALE_S` seconds (a run killed on any machine) or is a dead process on this host (a
rerun after a kill here needs no wait). Clocks of the machines must agree to well within
STALE_S. Stores whose client cannot create exclusively (only S3 through s3fs can) get no
lease: there the local lock is the only one, see docs/storage.md.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time

from synthpipe.data.storage import Store
from synthpipe.errors import UsageError

log = logging.getLogger("synthpipe")
NAME = ".lock"
RENEW_S = 20.0
STALE_S = 90.0


class LeaseLock:
    """The lease on `store`'s run directory; :meth:`acquire` it, then :meth:`release` it."""

    def __init__(self, store: Store):
        self.store = store
        self.token = secrets.token_hex(8)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self) -> None:
        if not self.store.can_create:
            return
        for _ in range(3):  # created, or a stale holder removed and tried again
            if self.store.create(NAME, self._body()):
                self._thread = threading.Thread(target=self._renew, name="synthpipe-lease", daemon=True)
                self._thread.start()
                return
            holder = self._holder()
            if holder is not None and not _stale(holder):
                raise UsageError(
                    f"another synthpipe run (host {holder.get('host')}, pid {holder.get('pid')}) holds the lock "
                    f"on {self.store.url}: wait for it to finish, or stop it. If it is gone, the lock expires "
                    f"{STALE_S:.0f} s after its last renewal (or delete {self.store.url}/{NAME})"
                )
            if holder is not None:
                log.info("taking over the stale lock of %s (pid %s)", holder.get("host"), holder.get("pid"))
                self.store.remove(NAME)
        raise UsageError(f"could not take the lock on {self.store.url}: other runs keep taking it")

    def release(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        if self._mine():
            self.store.remove(NAME)

    def _renew(self) -> None:
        while not self._stop.wait(RENEW_S):
            try:
                if not self._mine():
                    log.warning("the lock on %s was taken over by another run", self.store.url)
                    return
                self.store.write_bytes(NAME, self._body())
            except Exception as exc:  # a network blip: the next renewal may succeed
                log.warning("could not renew the lock on %s: %s", self.store.url, exc)

    def _body(self) -> bytes:
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token, "renewed": time.time()}
        return json.dumps(holder).encode()

    def _holder(self) -> dict | None:
        try:
            return json.loads(self.store.read_bytes(NAME))
        except FileNotFoundError:
            return None  # released meanwhile
        except ValueError:
            return {}  # not ours to read: stale unless renewed

    def _mine(self) -> bool:
        holder = self._holder()
        return holder is not None and holder.get("token") == self.token


def _stale(holder: dict) -> bool:
    if time.time() - float(holder.get("renewed") or 0) > STALE_S:
        return True
    return holder.get("host") == socket.gethostname() and not _alive(int(holder.get("pid") or 0))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
