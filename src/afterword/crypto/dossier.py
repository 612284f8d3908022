"""Sealing and opening dossiers.

A dossier is one age v1 file encrypted to the X25519 recipient of a fresh dossier key.
Its payload is a POSIX (pax) tar: every document under ``documents/``, then the private
manifest as ``afterword-manifest.json``. Anyone with the key opens it with stock tools::

    age -d -i dossier-key.txt dossier.age | tar x

Sealing streams: each document is read once, hashed and encrypted in 1 MiB blocks, so
memory stays flat whatever the size. Opening extracts into a scratch folder beside the
destination and moves it into place only after every document matched the signed
manifest, so a failure never leaves half-written documents behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import tarfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

import pyrage

from afterword.crypto.agestream import AgeWriter
from afterword.crypto.encoding import age_identity_from_secret, age_recipient_of
from afterword.crypto.manifest import (
    PRIVATE_MAX_BYTES,
    DocumentEntry,
    match_entries,
    private_manifest_chunks,
    read_private_manifest,
)
from afterword.crypto.streams import (
    BLOCK,
    CountingWriter,
    DocumentReader,
    DocumentStart,
    Progress,
)
from afterword.errors import AfterwordError, FormatError, IntegrityError

DOCUMENTS_DIR = "documents"
MANIFEST_MEMBER = "afterword-manifest.json"
_TAR_BLOCK = 512
_TAR_RECORD = 20 * _TAR_BLOCK


@dataclass(frozen=True, slots=True)
class SourceFile:
    """A document to seal: where it is on disk and its path inside the dossier."""

    source: str  # a str, not a Path: a Path costs several times the memory
    path: str
    size: int


def collect_documents(inputs: Sequence[Path]) -> list[SourceFile]:
    """Expand files and folders into documents with unique, portable dossier paths.

    Folders keep their own name as the top component (``seal evidence/`` gives
    ``evidence/...``). Symbolic links to files are followed; links to folders are not
    (so a loop can never make sealing run forever). Anything else is refused.
    """
    if not inputs:
        raise AfterwordError("nothing to seal", "name at least one file or folder")
    found: list[SourceFile] = []

    def add(source: str, path: str, inside_folder: bool) -> None:
        try:
            path.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise FormatError(
                f"the file name {source!r} is not valid UTF-8", "rename it, then seal again"
            ) from exc
        try:
            info = os.stat(source)
        except FileNotFoundError:
            if inside_folder and os.path.islink(source):
                return  # a dangling link inside a folder: nothing to seal
            raise
        if not stat.S_ISREG(info.st_mode):
            if inside_folder and os.path.islink(source):
                return  # a link to a folder (never followed) or to something else
            raise FormatError(f"{source} is not a regular file", "seal only files and folders")
        found.append(SourceFile(source, path, info.st_size))

    # plain strings and os.walk, not pathlib: this runs once per document
    for given in inputs:
        if not given.exists():
            raise AfterwordError(f"{given} does not exist", "check the path")
        name = given.resolve().name or "documents"
        if not given.is_dir():
            add(str(given), name, inside_folder=False)
            continue
        base = str(given)
        for root, dirs, files in os.walk(base):
            dirs.sort()
            rel = os.path.relpath(root, base)
            prefix = name if rel == os.curdir else f"{name}/{rel.replace(os.sep, '/')}"
            for file in sorted(files):
                add(os.path.join(root, file), f"{prefix}/{file}", inside_folder=True)
    seen: dict[str, str] = {}
    for doc in found:
        if doc.path in seen:
            raise AfterwordError(
                f"two documents would both be named {doc.path!r} "
                f"({seen[doc.path]} and {doc.source})",
                "rename one, or put them in different folders",
            )
        seen[doc.path] = doc.source
    if not found:
        raise AfterwordError("the given folders hold no files", "nothing would be sealed")
    return found


def _tar_header(name: str, size: int, mtime: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o644
    info.uname = info.gname = ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "strict")


def _padding(size: int) -> bytes:
    return bytes(-size % _TAR_BLOCK)


@dataclass(frozen=True)
class SealedDossier:
    """What sealing produced, apart from the ciphertext on disk."""

    switch: str
    dossier_key: bytes  # the 32-byte X25519 secret: keep in memory, split into shares
    recipient: str
    entries: list[DocumentEntry]
    header_sha256: str  # SHA-256 of the age header and payload nonce: pins this exact file
    header_size: int
    size: int


def write_dossier(
    documents: Sequence[SourceFile],
    out: BinaryIO,
    *,
    switch: str,
    dossier_key: bytes,
    progress: Progress | None = None,
) -> SealedDossier:
    """Encrypt ``documents`` and the private manifest into ``out`` as one age file, to the
    recipient of ``dossier_key`` (32 fresh random bytes: the caller derives the switch id
    from its recipient before sealing, since the private manifest names the switch)."""
    recipient = age_recipient_of(age_identity_from_secret(dossier_key))
    sink = CountingWriter(out)
    salts = secrets.token_bytes(32 * len(documents))  # one syscall, not one per document
    entries: list[DocumentEntry] = []
    reader = DocumentReader([doc.source for doc in documents])
    try:
        with AgeWriter(sink, [recipient]) as age:
            written = 0
            size = 0
            for event in reader:
                if isinstance(event, memoryview):
                    age.write(event)
                    if progress:
                        progress(len(event))
                elif isinstance(event, DocumentStart):
                    size = event.size
                    path = documents[event.index].path
                    header = _tar_header(f"{DOCUMENTS_DIR}/{path}", size, event.mtime)
                    age.write(header)
                    written += len(header) + size + len(_padding(size))
                else:
                    age.write(_padding(size))
                    path = documents[event.index].path
                    salt = salts[32 * event.index : 32 * event.index + 32]
                    entries.append(DocumentEntry(path, salt, event.sha256, size))
            # the private manifest, streamed: measured in one pass, written in a second
            size = sum(len(piece) for piece in private_manifest_chunks(switch, entries))
            header = _tar_header(MANIFEST_MEMBER, size, 0)
            age.write(header)
            for piece in private_manifest_chunks(switch, entries):
                age.write(piece)
            tail = _padding(size) + bytes(2 * _TAR_BLOCK)
            written += len(header) + size + len(tail)
            age.write(tail + bytes(-written % _TAR_RECORD))
        sink.flush()
    except BaseException:
        reader.close()
        raise
    prefix_sha = hashlib.sha256(age.prefix).hexdigest()
    return SealedDossier(
        switch, dossier_key, recipient, entries, prefix_sha, len(age.prefix), sink.size
    )


# ---------------------------------------------------------------------------------------
# Opening


class _PipeDecryptor:
    """pyrage decrypts on a worker thread into a pipe; the caller reads plaintext from it.

    This keeps memory flat (pyrage's streaming API wants a writer, tarfile wants a
    reader) and lets decryption and extraction use both cores.
    """

    def __init__(self, dossier: Path, identity: str) -> None:
        read_fd, write_fd = os.pipe()
        self.reader: IO[bytes] = os.fdopen(read_fd, "rb", buffering=BLOCK)
        self._writer: IO[bytes] = os.fdopen(write_fd, "wb", buffering=BLOCK)
        self._source = open(dossier, "rb")  # noqa: SIM115 - closed by the worker
        self._identity = pyrage.x25519.Identity.from_str(identity)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="afterword-decrypt", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            pyrage.decrypt_io(self._source, self._writer, [self._identity])
        except BaseException as exc:
            self.error = exc
        finally:
            self._source.close()
            with contextlib.suppress(OSError):
                self._writer.close()

    def close(self) -> BaseException | None:
        """Stop reading, wait for the worker; return its error if it had one."""
        self.reader.close()  # a worker still writing gets a broken pipe and stops
        self._thread.join()
        return self.error


_MEMBER_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.DIRTYPE: "a folder",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a named pipe",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a GNU sparse file",
}
_HOSTILE = (
    "afterword never seals one, so the dossier was crafted or altered: nothing of it was "
    "kept; do not unpack it with other tools, and ask for the sealed original"
)


def _member_path(member: tarfile.TarInfo) -> PurePosixPath | None:
    """The safe relative path of a document member; None for the manifest; else refuse.

    afterword writes regular files only, so everything else is refused before a byte of
    it is written: links (which could point outside the output folder), devices, pipes,
    and sparse files, GNU or PAX (whose map can expand a few bytes into gigabytes).
    """
    name = member.name
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
        kind = _MEMBER_KINDS.get(member.type, f"an entry of tar type {member.type!r}")
        raise IntegrityError(
            f"the dossier holds {name!r}, which is {kind}, not a regular file", _HOSTILE
        )
    if member.sparse is not None or any(k.startswith("GNU.sparse.") for k in member.pax_headers):
        raise IntegrityError(
            f"the dossier holds {name!r}, which is a sparse file, not a regular file", _HOSTILE
        )
    if name == MANIFEST_MEMBER:
        return None
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or ".." in path.parts
        or len(path.parts) < 2
        or path.parts[0] != DOCUMENTS_DIR
    ):
        raise IntegrityError(
            f"the dossier holds an unexpected entry {name!r} (absolute, with '..' or outside "
            "documents/)",
            _HOSTILE,
        )
    return PurePosixPath(*path.parts[1:])


@dataclass(frozen=True)
class OpenedDossier:
    out: Path
    entries: list[DocumentEntry]
    size: int


@contextlib.contextmanager
def _scratch_dir(out: Path) -> Iterator[Path]:
    """A private folder beside ``out``, removed unless the caller moved it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = out.parent / f".{out.name}.partial-{secrets.token_hex(4)}"
    scratch.mkdir(mode=0o700)
    try:
        yield scratch
    finally:
        if scratch.exists():
            shutil.rmtree(scratch, ignore_errors=True)


def check_output_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise AfterwordError(f"{out} already exists and is not empty", "choose a new folder")


def _write_member(source: IO[bytes], target: Path, size: int, progress: Progress | None) -> bytes:
    """Copy exactly ``size`` bytes to a new file ``target``; return their SHA-256."""
    digest = hashlib.sha256()
    left = size
    with open(target, "xb") as f:
        while left and (chunk := source.read(min(BLOCK, left))):
            left -= len(chunk)
            digest.update(chunk)
            f.write(chunk)
            if progress:
                progress(len(chunk))
    if left:
        raise IntegrityError(
            f"the dossier ends inside {target.name!r}", "it is truncated; get an intact copy"
        )
    return digest.digest()


def _payload_budget(dossier: Path, manifest: dict[str, Any]) -> int:
    """The most the documents can add up to: the plaintext is smaller than the file."""
    signed = (manifest.get("dossier") or {}).get("size")
    actual = dossier.stat().st_size
    return min(actual, signed) if isinstance(signed, int) else actual


def extract_dossier(
    dossier: Path,
    identity: str,
    manifest: dict[str, Any],
    out: Path,
    progress: Progress | None = None,
) -> OpenedDossier:
    """Decrypt ``dossier`` with ``identity`` into ``out``, checking it against ``manifest``.

    ``manifest`` is a public manifest whose signature the caller has already checked.
    Every member is checked before a byte of it is written: a regular file, under
    ``documents/``, no larger than what is left of the dossier's signed size, and no more
    documents than the manifest counts. The private manifest comes last in the tar, so
    each document's hash (taken as it is written) is compared with it at the end; any
    refusal removes everything written so far.
    """
    check_output_folder(out)
    switch = str(manifest["switch"])
    count = manifest.get("count")
    budget = _payload_budget(dossier, manifest)
    extracted: dict[str, tuple[bytes, int]] = {}
    private: tuple[str, list[DocumentEntry]] | None = None
    with _scratch_dir(out) as scratch:
        decryptor = _PipeDecryptor(dossier, identity)
        failure: BaseException | None = None
        try:
            with tarfile.open(fileobj=decryptor.reader, mode="r|") as tar:
                extracted, private = _extract_members(tar, scratch, budget, count, progress)
        except Exception as exc:  # hostile input: every failure becomes a refusal below
            failure = exc
        _refuse_a_failure(decryptor.close(), failure)
        entries = _check_extracted(manifest, switch, private, extracted)
        if out.exists():
            out.rmdir()
        scratch.rename(out)
    return OpenedDossier(out, entries, sum(e.size for e in entries))


def _extract_members(
    tar: tarfile.TarFile, scratch: Path, budget: int, count: object, progress: Progress | None
) -> tuple[dict[str, tuple[bytes, int]], tuple[str, list[DocumentEntry]] | None]:
    """Write each document of the dossier's tar into ``scratch``, each member checked
    before a byte of it is written (see :func:`extract_dossier`): what was written (path:
    hash, size), and the private manifest (its switch and entries) if the tar had one."""
    extracted: dict[str, tuple[bytes, int]] = {}
    private: tuple[str, list[DocumentEntry]] | None = None
    for member in tar:
        rel = _member_path(member)
        if private is not None:
            raise IntegrityError(
                f"the dossier holds {member.name!r} after its private manifest",
                _HOSTILE,
            )
        if member.size > budget:
            raise IntegrityError(
                f"the dossier's entry {member.name!r} claims {member.size} bytes, "
                f"more than the {budget} left of the dossier's signed size",
                _HOSTILE,
            )
        budget -= member.size
        source = tar.extractfile(member)
        if source is None:  # pragma: no cover - a regular member always has one
            raise IntegrityError(f"cannot read {member.name!r} in the dossier")
        if rel is None:
            raw = source.read(PRIVATE_MAX_BYTES + 1)
            private = read_private_manifest(raw, "the dossier's private manifest")
            continue
        if isinstance(count, int) and len(extracted) >= count:
            raise IntegrityError(
                f"the dossier holds more documents than the {count} its signed manifest lists",
                _HOSTILE,
            )
        if str(rel) in extracted:
            raise IntegrityError(
                f"the dossier holds {member.name!r} twice", "the dossier was altered"
            )
        target = scratch.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = _write_member(source, target, member.size, progress)
        extracted[str(rel)] = (digest, member.size)
    return extracted, private


def _refuse_a_failure(error: BaseException | None, failure: BaseException | None) -> None:
    """Refuse the dossier if decrypting it failed (``error``, the age worker's) or reading
    its tar did (``failure``): a refusal of ours as it is, anything else as damage."""
    # a refusal stops reading: the worker's broken pipe is its echo, not the cause
    if error is not None and not (failure and isinstance(error, BrokenPipeError)):
        raise IntegrityError(
            f"the dossier cannot be decrypted: {error}",
            "it is truncated or was tampered with; get an intact copy",
        ) from error
    if isinstance(failure, AfterwordError):
        raise failure
    if failure is not None:
        raise IntegrityError(
            f"the dossier's contents are damaged ({failure})", "get an intact copy"
        ) from failure


def _check_extracted(
    manifest: dict[str, Any],
    switch: str,
    private: tuple[str, list[DocumentEntry]] | None,
    extracted: dict[str, tuple[bytes, int]],
) -> list[DocumentEntry]:
    """The private manifest's entries, once it is the switch's and what was written is
    exactly what it and the signed ``manifest`` list."""
    if private is None:
        raise IntegrityError("the dossier has no private manifest", "it was not made by afterword")
    private_switch, entries = private
    if private_switch != switch:
        raise IntegrityError("the dossier belongs to another switch than its manifest")
    match_entries(manifest, entries)
    listed = {e.path: (e.sha256, e.size) for e in entries}
    if listed != extracted:
        bad = sorted(set(listed.items()) ^ set(extracted.items()))
        raise IntegrityError(
            f"document {bad[0][0]!r} does not match the signed manifest",
            "the dossier was altered",
        )
    return entries


def check_dossier_file(dossier: Path, manifest: dict[str, Any]) -> None:
    """Compare the file with the manifest's size and header hash before decrypting.

    This catches a truncated, extended or substituted dossier at once; a changed byte in
    the payload is caught by age's authentication while decrypting.
    """
    expected = manifest.get("dossier") or {}
    try:
        size = dossier.stat().st_size
        with open(dossier, "rb") as f:
            prefix = f.read(int(expected.get("header_size", 0)))
    except FileNotFoundError as exc:
        raise AfterwordError(f"{dossier} not found", "check the path") from exc
    except (OSError, ValueError, TypeError) as exc:
        raise AfterwordError(f"cannot read {dossier}: {exc}") from exc
    if size != expected.get("size"):
        raise IntegrityError(
            f"the dossier is {size} bytes but its manifest says {expected.get('size')}",
            "it is truncated or is not the dossier this manifest describes",
        )
    if hashlib.sha256(prefix).hexdigest() != expected.get("header_sha256"):
        raise IntegrityError(
            "the dossier's age header does not match its signed manifest",
            "it was altered or replaced; get an intact copy",
        )
