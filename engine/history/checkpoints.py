"""Signed checkpoints of the global audit log, kept outside the database.

A checkpoint is a tree head (size, root, time) signed with an Ed25519 key whose private part is
a key file named in the settings (`aftersales init` writes it; it is never in the database). It
names its key by id and chains to the checkpoint before it (`prev`, the sha256 of that line),
so that a checkpoint taken out, replaced or moved breaks the chain. The checkpoint folder
(config.audit_folder: AFTERSALES_AUDIT_DIR) holds, each written only by appending:

- `checkpoints.jsonl`: one signed checkpoint per line;
- `leaves.txt`: the hash of every leaf that a checkpoint covers, one fixed-width hex line per
  position. The signed roots authenticate it (verify rebuilds each root from it), and with it
  `aftersales audit verify` can name the exact first position that differs, not only the span
  between two checkpoints;
- `removals.jsonl`: the signed records of the leaves retention archives removed;
- `keys/<key id>.pub`: every public key ever used, so old checkpoints stay verifiable after the
  key is rotated.

`frontier.json` is the checkpoint job's working state (engine.history.merkle.extend_frontier),
rebuilt from `leaves.txt` when it is missing. One checkpointer writes a folder at a time (a file
lock); each checkpoint is also POSTed to a witness URL when one is configured.
"""
from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import urllib.request
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from engine import clock, config
from engine.errors import Conflict, InvalidInput
from engine.history import global_log, merkle
from engine.models import AuditCheckpoint, AuditLeaf

log = logging.getLogger(__name__)

FORMAT = "aftersales-checkpoint/1"
REMOVAL_FORMAT = "aftersales-removal/1"
GENESIS = "0" * 64
CHECKPOINTS, LEAVES, REMOVALS, FRONTIER, KEYS = (
    "checkpoints.jsonl", "leaves.txt", "removals.jsonl", "frontier.json", "keys")
LINE = 65                      # 64 hex digits and a newline per position in leaves.txt
WITNESS_TIMEOUT = 5.0


# ---------------------------------------------------------------------- keys

def key_id(public_key: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the sha256 of the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


class Signer:
    """The private key that signs checkpoints and removal records."""

    def __init__(self, private_key: Ed25519PrivateKey):
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self._key.sign(body)).decode()


def load_signer(settings: config.Settings) -> Signer:
    """The signer of the key file in the settings. Raises InvalidInput (field audit_key_file)
    when there is none or it is not an Ed25519 private key."""
    path = config.audit_key_path(settings)
    if not path.is_file():
        raise InvalidInput(f"no audit signing key at {path}: run `aftersales init` (or set "
                           "AFTERSALES_AUDIT_KEY_FILE)", field="audit_key_file")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} is not an Ed25519 private key", field="audit_key_file")
    return Signer(key)


def ensure_key(settings: config.Settings) -> Path | None:
    """Write a new Ed25519 key file (mode 0600) unless one exists, and publish its public key
    in the checkpoint folder; returns the key file written, or None."""
    path = config.audit_key_path(settings)
    if path.is_file():
        publish(config.audit_folder(settings), load_signer(settings).public_key)
        return None
    _write_key(path)
    publish(config.audit_folder(settings), load_signer(settings).public_key)
    return path


def rotate_key(settings: config.Settings) -> tuple[str | None, str]:
    """Replace the signing key with a new one; the old public key stays in keys/ so that the
    checkpoints it signed still verify. Returns (old key id or None, new key id)."""
    path = config.audit_key_path(settings)
    old = load_signer(settings).key_id if path.is_file() else None
    _write_key(path)
    signer = load_signer(settings)
    publish(config.audit_folder(settings), signer.public_key)
    return old, signer.key_id


def _write_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".new")
    temporary.unlink(missing_ok=True)
    # Created 0600 from the start, then moved into place (no moment when others may read it).
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.replace(temporary, path)


def publish(folder: Path, public_key: Ed25519PublicKey) -> Path:
    """Keep `public_key` in the folder's keys/ (never removed: old checkpoints need it)."""
    keys = Path(folder) / KEYS
    keys.mkdir(parents=True, exist_ok=True)
    path = keys / f"{key_id(public_key)}.pub"
    if not path.exists():
        path.write_bytes(public_pem(public_key))
    return path


def load_public_keys(paths) -> dict[str, Ed25519PublicKey]:
    """key id -> public key, from PEM files and folders of `*.pub` files. Raises InvalidInput
    naming a file that is not an Ed25519 public key."""
    out = {}
    for path in map(Path, paths):
        for file in sorted(path.glob("*.pub")) if path.is_dir() else [path]:
            try:
                key = serialization.load_pem_public_key(file.read_bytes())
            except (OSError, ValueError) as err:
                raise InvalidInput(f"{file}: not a public key ({err})", field="public_key") from err
            if not isinstance(key, Ed25519PublicKey):
                raise InvalidInput(f"{file}: not an Ed25519 public key", field="public_key")
            out[key_id(key)] = key
    return out


def signature_problem(body: bytes, key: str, signature: str, keys: dict) -> str | None:
    """None when `signature` is the signature of `body` by key id `key`, else why not."""
    public = keys.get(key)
    if public is None:
        return f"signed by unknown key {key}"
    try:
        public.verify(base64.b64decode(signature, validate=True), body)
    except (InvalidSignature, ValueError):
        return f"its signature by key {key} is not valid"
    return None


# --------------------------------------------------------------- checkpoints

@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head: the log's first `size` leaves have the Merkle root `root`."""

    size: int
    root: str          # hex
    at: str            # ISO time
    key_id: str
    prev: str          # sha256 of the previous checkpoint's line (GENESIS for the first)
    signature: str     # base64 Ed25519 signature of body()

    def body(self) -> bytes:
        return global_log.canonical({"format": FORMAT, "size": self.size, "root": self.root,
                                     "at": self.at, "key_id": self.key_id, "prev": self.prev})

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.line().encode()).hexdigest()

    def problem(self, keys: dict) -> str | None:
        return signature_problem(self.body(), self.key_id, self.signature, keys)

    @classmethod
    def signed(cls, signer: Signer, size: int, root: str, at: str, prev: str) -> "Checkpoint":
        unsigned = cls(size, root, at, signer.key_id, prev, "")
        return cls(size, root, at, signer.key_id, prev, signer.sign(unsigned.body()))

    @classmethod
    def parse(cls, text: str) -> "Checkpoint":
        """Raises ValueError for a line that is not a checkpoint."""
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {f for f in cls.__dataclass_fields__}:
            raise ValueError("not a checkpoint")
        if not isinstance(data["size"], int) or data["size"] < 0:
            raise ValueError("its size is not a count")
        return cls(**data)


class Folder:
    """The checkpoint folder: reading it, and appending to it under a file lock."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def lines(self, name: str) -> list[str]:
        path = self.path / name
        return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint line parsed; raises ValueError naming a line that does not parse."""
        out = []
        for n, text in enumerate(self.lines(CHECKPOINTS), 1):
            try:
                out.append(Checkpoint.parse(text))
            except (ValueError, TypeError) as err:
                raise ValueError(f"{CHECKPOINTS} line {n} is not a checkpoint: {err}") from err
        return out

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint, read from the end of the file (the file grows by one line a
        minute at most; the checkpoint job and the pages need only its last). Raises ValueError
        when that line does not parse."""
        path = self.path / CHECKPOINTS
        if not path.is_file() or path.stat().st_size == 0:
            return None
        with open(path, "rb") as f:
            end = f.seek(0, os.SEEK_END)
            tail = b""
            while end > 0 and tail.rstrip(b"\n").count(b"\n") < 1:
                start = max(0, end - 4096)
                f.seek(start)
                tail = f.read(end - start) + tail
                end = start
        text = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("utf-8")
        try:
            return Checkpoint.parse(text)
        except (ValueError, TypeError) as err:
            raise ValueError(f"the last line of {CHECKPOINTS} is not a checkpoint: {err}") from err

    def leaf_count(self) -> int:
        path = self.path / LEAVES
        return path.stat().st_size // LINE if path.is_file() else 0

    def leaf_hashes(self, start: int = 0, stop: int | None = None) -> list[bytes]:
        """The checkpointed leaf hashes of positions start .. stop-1 (reads only those)."""
        path = self.path / LEAVES
        if not path.is_file():
            return []
        stop = self.leaf_count() if stop is None else min(stop, self.leaf_count())
        if stop <= start:
            return []
        with open(path, "rb") as f:
            f.seek(start * LINE)
            raw = f.read((stop - start) * LINE)
        return [bytes.fromhex(raw[i:i + 64].decode()) for i in range(0, len(raw), LINE)]

    def removals(self) -> list[dict]:
        return [json.loads(text) for text in self.lines(REMOVALS)]

    @contextmanager
    def locked(self):
        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, name: str, text: str) -> None:
        """Append `text` and make it durable before anything refers to it."""
        with open(self.path / name, "a", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())

    def append_leaves(self, hashes: list[bytes]) -> None:
        path = self.path / LEAVES
        if path.is_file() and path.stat().st_size % LINE:
            # A line torn by a crash was never covered by a checkpoint: drop it.
            os.truncate(path, self.leaf_count() * LINE)
        if hashes:
            self.append(LEAVES, "".join(h.hex() + "\n" for h in hashes))

    def frontier(self, size: int) -> list[bytes]:
        """The frontier of the first `size` checkpointed leaves (from frontier.json, else
        rebuilt from leaves.txt)."""
        path = self.path / FRONTIER
        if path.is_file():
            state = json.loads(path.read_text())
            if state.get("size") == size:
                return [bytes.fromhex(h) for h in state["nodes"]]
        return merkle.extend_frontier([], 0, self.leaf_hashes(0, size))

    def save_frontier(self, size: int, nodes: list[bytes]) -> None:
        temporary = self.path / (FRONTIER + ".new")
        temporary.write_text(json.dumps({"size": size, "nodes": [n.hex() for n in nodes]}))
        os.replace(temporary, self.path / FRONTIER)


def sign_head(sessions, settings: config.Settings, *, force: bool = False) -> Checkpoint | None:
    """Sequence what is pending, then sign the tree head and append it to the folder (and POST
    it to the witness). Without `force`, a log that did not grow since the last checkpoint gets
    none (returns None). Raises Conflict, signing nothing, when the database holds fewer leaves
    than were checkpointed (its tail was cut), and InvalidInput when there is no key."""
    signer = load_signer(settings)
    folder = Folder(config.audit_folder(settings))
    publish(folder.path, signer.public_key)
    with folder.locked():
        with sessions.begin() as session:
            global_log.sequence(session)
        have = folder.leaf_count()
        with sessions() as session:
            size = global_log.size(session)
            if size < have:
                raise Conflict(f"the database's audit log has {size} leaves but {have} were "
                               "checkpointed: its tail was cut; run `aftersales audit verify`")
            new = [bytes.fromhex(h) for h in session.scalars(
                select(AuditLeaf.leaf_hash).where(AuditLeaf.position >= have)
                .order_by(AuditLeaf.position))]
        last = folder.last_checkpoint()
        if not force and last is not None and last.size == size:
            return None
        frontier = merkle.extend_frontier(folder.frontier(have), have, new)
        folder.append_leaves(new)
        folder.save_frontier(size, frontier)
        checkpoint = Checkpoint.signed(signer, size, merkle.frontier_root(frontier).hex(),
                                       clock.now().isoformat(),
                                       last.digest() if last else GENESIS)
        folder.append(CHECKPOINTS, checkpoint.line() + "\n")
    with sessions.begin() as session:
        session.add(AuditCheckpoint(size=checkpoint.size, root=checkpoint.root,
                                    at=clock.parse(checkpoint.at), key_id=checkpoint.key_id,
                                    line=checkpoint.line()))
    if settings.audit_witness_url:
        send_to_witness(settings.audit_witness_url, checkpoint)
    return checkpoint


def send_to_witness(url: str, checkpoint: Checkpoint) -> bool:
    """POST the checkpoint line to the witness; True when it answered 2xx. A witness that is
    down is logged, not fatal: the file in the folder holds the checkpoint anyway."""
    request = urllib.request.Request(url, data=checkpoint.line().encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=WITNESS_TIMEOUT) as answer:
            return 200 <= answer.status < 300
    except OSError as err:
        log.warning("audit witness %s did not take checkpoint %s: %s", url, checkpoint.size, err)
        return False


# ------------------------------------------------------------------ removals

def removal_body(record: dict) -> bytes:
    return global_log.canonical({k: v for k, v in record.items() if k != "signature"})


def record_removal(settings: config.Settings, *, archive: str, sha256: str,
                   instance_ids: list[int], leaves: list[list]) -> dict:
    """Append a signed record that the archive `archive` removed `leaves` ([position, leaf
    hash, instance id, seq] each) of `instance_ids`; verification accepts exactly these."""
    signer = load_signer(settings)
    record = {"format": REMOVAL_FORMAT, "at": clock.now().isoformat(), "archive": archive,
              "sha256": sha256, "instances": instance_ids, "leaves": leaves,
              "key_id": signer.key_id}
    record["signature"] = signer.sign(removal_body(record))
    folder = Folder(config.audit_folder(settings))
    publish(folder.path, signer.public_key)
    with folder.locked():
        folder.append(REMOVALS, json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
    return record
