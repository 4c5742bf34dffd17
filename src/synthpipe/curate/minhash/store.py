"""Where signatures and shingle sets live: a spill to disk during a run, and a versioned file.

:class:`Spill` keeps what the dedup step needs per document out of memory: shingle hashes (and
signatures, when the step reads them back) are appended to files in a temporary directory and
read back only for the documents of candidate pairs. What stays in memory grows with the
number of documents (offsets, band hashes, id hashes), not with their length.

The persisted format (:func:`save_signatures` / :func:`load_signatures`)::

    b"SYNTHPIPE-MINHASH\\n"  8-byte little-endian header length  JSON header
    uint32 signatures, row-major (n_docs x num_perm)   JSON array of the n_docs ids

The header holds ``version`` (:data:`SIGNATURE_VERSION`), ``num_perm``, ``seed``, ``ngram``,
``normalization``, ``hash`` (the shingle and permutation family) and ``n_docs``. Signatures
computed with any other value are not comparable, so loading refuses a mismatch.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synthpipe.errors import UsageError

SIGNATURE_VERSION = 1  # bump when shingling, hashing or permutations change
HASH_FAMILY = "words:poly64-fmix64/ngram:fmix64-top32/perm:affine-mod-2^32/splitmix64"
_MAGIC = b"SYNTHPIPE-MINHASH\n"


class SignatureMismatchError(UsageError):
    """A signature file was made with other settings (or another format version)."""


@dataclass(frozen=True)
class SignatureSpec:
    """Everything that decides a signature's values."""

    num_perm: int = 128
    seed: int = 1
    ngram: int = 5
    normalization: dict[str, Any] = field(default_factory=dict)
    hash: str = HASH_FAMILY
    version: int = SIGNATURE_VERSION

    def differences(self, other: SignatureSpec) -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: file has {theirs[k]!r}, expected {mine[k]!r}" for k in mine if mine[k] != theirs[k]]


def save_signatures(path: str | Path, signatures: np.ndarray, ids: Sequence[str], spec: SignatureSpec) -> Path:
    """Write `signatures` (``n x num_perm`` uint32) and their document ids to `path`."""
    signatures = np.ascontiguousarray(signatures, dtype="<u4")
    if signatures.ndim != 2 or signatures.shape[1] != spec.num_perm or len(ids) != len(signatures):
        raise ValueError(f"need {len(ids)} x {spec.num_perm} signatures, got {signatures.shape}")
    path = Path(path)
    header = json.dumps({**asdict(spec), "n_docs": len(ids), "dtype": "<u4"}).encode()
    with path.open("wb") as fh:
        fh.write(_MAGIC + struct.pack("<Q", len(header)) + header)
        fh.write(signatures.tobytes())
        fh.write(json.dumps([str(i) for i in ids]).encode())
    return path


def read_header(path: str | Path) -> dict[str, Any]:
    """The JSON header of a signature file (checks the magic bytes only)."""
    with Path(path).open("rb") as fh:
        return _header(fh, path)[0]


def load_signatures(
    path: str | Path, expect: SignatureSpec | None = None
) -> tuple[np.ndarray, list[str], SignatureSpec]:
    """Read a signature file; refuse other versions, and other settings than `expect` if given."""
    with Path(path).open("rb") as fh:
        header, start = _header(fh, path)
        if header.get("version") != SIGNATURE_VERSION:
            raise SignatureMismatchError(
                f"{path}: signature format version {header.get('version')!r}, this synthpipe reads "
                f"version {SIGNATURE_VERSION}; recompute the signatures with this version"
            )
        spec = SignatureSpec(**{k: header[k] for k in asdict(SignatureSpec()) if k in header})
        if expect is not None and (problems := expect.differences(spec)):
            raise SignatureMismatchError(
                f"{path}: signatures were computed with other settings ({'; '.join(problems)}); "
                "recompute them or use the settings they were made with"
            )
        n, k = header["n_docs"], header["num_perm"]
        fh.seek(start)
        body = fh.read(n * k * 4)
        if len(body) != n * k * 4:
            raise SignatureMismatchError(f"{path}: truncated signature file ({len(body)} of {n * k * 4} bytes)")
        signatures = np.frombuffer(body, dtype="<u4").reshape(n, k).astype(np.uint32)
        ids = json.loads(fh.read().decode())
    return signatures, ids, spec


def _header(fh, path) -> tuple[dict[str, Any], int]:
    if fh.read(len(_MAGIC)) != _MAGIC:
        raise SignatureMismatchError(f"{path}: not a synthpipe MinHash signature file")
    (size,) = struct.unpack("<Q", fh.read(8))
    return json.loads(fh.read(size).decode()), len(_MAGIC) + 8 + size


class Spill:
    """Append-only shingle hashes and signatures on disk, with per-document offsets in memory.

    Read back with ``os.pread`` rather than a memory map: a map would fault in (and count as
    resident) the pages around every candidate document, most of the file in practice.
    """

    def __init__(self, directory: Path, num_perm: int, signatures: bool = True) -> None:
        """`signatures`: False keeps only the shingles (signatures are then not read back)."""
        self.num_perm, self.directory = num_perm, directory
        self._paths = (directory / "shingles.u32", directory / "signatures.u32")
        self._writers = [path.open("wb") for path in self._paths[: 1 + signatures]]
        self._offsets: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
        self._n_shingles = 0
        self.n_docs = 0
        self._fds: tuple[int, ...] | None = None

    def append(self, hashes: np.ndarray, offsets: np.ndarray, signatures: np.ndarray) -> None:
        hashes.astype("<u4", copy=False).tofile(self._writers[0])
        if len(self._writers) > 1:
            signatures.astype("<u4", copy=False).tofile(self._writers[1])
        self._offsets.append(offsets[1:] + self._n_shingles)
        self._n_shingles += len(hashes)
        self.n_docs += len(offsets) - 1

    def close(self) -> None:
        """Finish writing; from now on documents are read back on demand."""
        for fh in self._writers:
            fh.close()
        self.offsets = np.concatenate(self._offsets)
        self._offsets = []
        self._fds = tuple(os.open(path, os.O_RDONLY) for path in self._paths[: len(self._writers)])

    def shingles(self, doc: int) -> np.ndarray:
        lo, hi = int(self.offsets[doc]), int(self.offsets[doc + 1])
        return _pread(self._fds[0], lo, hi - lo)

    def gather(self, docs: np.ndarray, gap: int = 256) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes of ascending `docs`, back to back, and their offsets (len n+1).

        Documents less than `gap` hashes apart are read with one ``pread`` (few system calls
        for dense sets, at most `gap` hashes read in vain per document for sparse ones); the
        spans are then cut into documents with one vectorised index.
        """
        lo, hi = self.offsets[docs], self.offsets[docs + 1]
        lengths = hi - lo
        offsets = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if not len(docs):
            return np.zeros(0, dtype=np.uint32), offsets
        first = np.flatnonzero(np.concatenate([[True], lo[1:] - hi[:-1] > gap]))  # each span's first doc
        last = np.append(first[1:], len(docs)) - 1
        span_lo, span_hi = lo[first], hi[last]
        fd = self._fds[0]
        data = b"".join([os.pread(fd, 4 * (b - a), 4 * a) for a, b in zip(span_lo.tolist(), span_hi.tolist(), strict=True)])
        if len(data) != 4 * int((span_hi - span_lo).sum()):
            raise OSError("short read from the minhash spill")
        at = np.zeros(len(first), dtype=np.int64)  # where each span starts in `data`
        np.cumsum((span_hi - span_lo)[:-1], out=at[1:])
        span = np.repeat(np.arange(len(first)), last - first + 1)
        base = at[span] + lo - span_lo[span]  # where each document starts in `data`
        index = np.repeat(base - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
        return np.frombuffer(data, dtype="<u4")[index].astype(np.uint32, copy=False), offsets

    def signature(self, doc: int) -> np.ndarray:
        return _pread(self._fds[1], doc * self.num_perm, self.num_perm)

    def signature_rows(self, start: int, stop: int) -> np.ndarray:
        rows = _pread(self._fds[1], start * self.num_perm, (stop - start) * self.num_perm)
        return rows.reshape(stop - start, self.num_perm)

    def release(self) -> None:
        for fh in self._writers:
            fh.close()
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None


def _pread(fd: int, start: int, count: int) -> np.ndarray:
    data = os.pread(fd, 4 * count, 4 * start)
    if len(data) != 4 * count:
        raise OSError(f"short read from the minhash spill: {len(data)} of {4 * count} bytes")
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)
