"""Process owners' drafts: a bundle edited on the server before it is deployed.

A draft belongs to the owner who started it (from the newest deployed versions of a process, or
from files of their own) and may be shared with other process owners, who then open, edit and
deploy it as the owner does. Every save is a new revision holding all the files (`x.bpmn`,
`y.dmn`, `forms/z.json`, `messages/m.json`) and a note; revisions are never changed, so the
history says who changed what when. A save names the revision it was made from, and a save
from a revision that is no longer the newest is a Conflict: two owners editing at once never
overwrite each other silently.

Nothing here touches definitions or instances: the runtime never reads a draft. Only
`deploy` makes a draft's revision into versions, through catalog.deploy (the one path of
deployment, with its validation), and records which revision it was.
"""
from __future__ import annotations

import io
import re
import zipfile

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from engine import clock, users
from engine.access import OWNERS, Actor
from engine.definitions import catalog, messages
from engine.definitions.bundle import FORMS_FOLDER, MESSAGES_FOLDER, Bundle, is_source
from engine.errors import Conflict, Forbidden, InvalidDefinition, InvalidInput, NotFound
from engine.models import Draft, DraftRevision, DraftShare, User

MAX_FILES = 200
MAX_TITLE = 200
MAX_NOTE = 2000
# A file at the top, or in forms/ or messages/: no other folder, no "..", no hidden files.
_PATH = re.compile(rf"^(?:(?:{FORMS_FOLDER}|{MESSAGES_FOLDER})/)?"
                   r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,150}$")


# ------------------------------------------------------------------ files

def deployed_files(session: Session, process_key: str) -> tuple[dict[str, str], dict[str, int]]:
    """({path: text}, {process key: version}) of the newest deployed version of `process_key`:
    its BPMN and DMN files, its forms under forms/ and message schemas under messages/.
    Raises NotFound."""
    row = catalog.latest_definition(session, process_key)
    files = dict(row.sources)
    files.update({f"{FORMS_FOLDER}/{name}": text for name, text in row.forms.items()})
    files.update({f"{MESSAGES_FOLDER}/{messages.file_name(name)}": text
                  for name, text in (row.messages or {}).items()})
    return files, {row.process_key: row.version}


def starting_files(session: Session, process_key: str | None, files, max_bytes: int
                   ) -> tuple[dict[str, str], dict[str, int]]:
    """The files a new draft starts with and the deployed versions they come from: those of
    `process_key` (deployed_files), or `files` as given (checked_files). Raises InvalidInput
    naming `files` when neither or both are given."""
    if (process_key is None) == (files is None):
        raise InvalidInput("give either process_key (start from its deployed version) or "
                           "files", field="files")
    if process_key is not None:
        return deployed_files(session, process_key)
    return checked_files(files, max_bytes), {}


def checked_files(files, max_bytes: int) -> dict[str, str]:
    """`files` ({path: text}) when they can be a bundle; raises InvalidInput naming `files`
    (what is wrong and with which path) otherwise."""
    if not isinstance(files, dict) or not files:
        raise InvalidInput("files must be an object of at least one {path: text}", field="files")
    if len(files) > MAX_FILES:
        raise InvalidInput(f"a draft holds at most {MAX_FILES} files", field="files")
    total = 0
    for path, text in files.items():
        if not isinstance(path, str) or not _PATH.match(path):
            raise InvalidInput(f"{str(path)[:80]!r} is not a file name such as refund_first.bpmn, "
                               "forms/approve_refund.json or messages/picked_up.json",
                               field="files")
        if not isinstance(text, str):
            raise InvalidInput(f"the content of {path} must be text", field="files")
        total += len(text.encode("utf-8", "surrogatepass"))
    if total > max_bytes:
        raise InvalidInput(f"the draft's files are larger than {max_bytes} bytes", field="files")
    try:
        bundle_of(files)
    except InvalidDefinition as err:
        named = ", ".join(p["file"] for p in err.details) if isinstance(err.details, list) else ""
        raise InvalidInput(f"{err.message}{': ' + named if named else ''}", field="files") from None
    return dict(files)


def bundle_of(files: dict[str, str]) -> Bundle:
    """The bundle of a draft's files, as an upload of the same files would be read."""
    return Bundle.from_files((path, text.encode("utf-8")) for path, text in files.items())


def validation(session: Session, files: dict[str, str]) -> dict:
    """What deploying `files` would say, by deploy's own plan (catalog.plan), in the shape of
    POST /api/definitions/validate: {ok, problems, would_version, unchanged}. Nothing is
    stored; a file that cannot even be read is one of the problems."""
    try:
        planned = catalog.plan(session, bundle_of(files))
    except InvalidDefinition as err:
        problems = err.details if isinstance(err.details, list) else [
            {"file": "", "line": None, "element_id": None, "message": err.message,
             "severity": "error"}]
        return {"ok": False, "problems": problems, "would_version": [], "unchanged": []}
    return {"ok": not planned.errors, "problems": [p.as_dict() for p in planned.problems],
            "would_version": [p.process_key for p in planned.processes if p.changed],
            "unchanged": [p.process_key for p in planned.processes if not p.changed]}


def bundle_sources(files: dict[str, str]) -> dict[str, str]:
    """The BPMN and DMN files of a draft by file name (what a definition's `sources` hold)."""
    return {path: text for path, text in files.items() if "/" not in path and is_source(path)}


def zip_of(files: dict[str, str]) -> bytes:
    """A zip of the files at their paths: the layout of bpmn/, which `aftersales deploy`, the
    upload page and POST /api/definitions take back."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            archive.writestr(path, files[path])
    return out.getvalue()


# ------------------------------------------------------------------ who may do what

def _may_open(session: Session, draft: Draft, actor: Actor) -> bool:
    if actor.role == "admin" or draft.owner == actor.name:
        return True
    return actor.role in OWNERS and session.get(DraftShare, (draft.id, actor.name)) is not None


def get(session: Session, actor: Actor, draft_id: int) -> Draft:
    """The draft `draft_id` if `actor` is its owner, one it is shared with, or an admin.
    Raises NotFound for a draft that does not exist, Forbidden for one of someone else."""
    draft = session.get(Draft, draft_id)
    if draft is None:
        raise NotFound(f"draft {draft_id} does not exist", field="draft")
    if not _may_open(session, draft, actor):
        raise Forbidden(f"draft {draft_id} is {draft.owner}'s and is not shared with you")
    return draft


def listing(session: Session, actor: Actor) -> list[dict]:
    """The drafts `actor` owns or that are shared with them (an admin: every draft), newest
    change first."""
    query = select(Draft).order_by(Draft.updated_at.desc(), Draft.id.desc())
    if actor.role != "admin":
        shared = select(DraftShare.draft_id).where(DraftShare.username == actor.name)
        query = query.where(or_(Draft.owner == actor.name, Draft.id.in_(shared)))
    return [summary(d) for d in session.scalars(query.limit(500))]


# ------------------------------------------------------------------ changes

def create(session: Session, actor: Actor, title: str, files: dict[str, str], *,
           note: str | None = None, base: dict[str, int] | None = None) -> Draft:
    """A new draft of `actor` with `files` (already checked) as its revision 1."""
    title = _text(title, "title", MAX_TITLE, required=True)
    now = clock.now()
    draft = Draft(title=title, owner=actor.name, head=1, base=base or {}, created_at=now,
                  updated_at=now)
    session.add(draft)
    session.flush()
    session.add(DraftRevision(draft_id=draft.id, number=1, files=files,
                              note=_text(note, "note", MAX_NOTE), saved_by=actor.name,
                              saved_at=now))
    session.flush()
    return draft


def save(session: Session, actor: Actor, draft_id: int, files: dict[str, str], *,
         base_revision: int, note: str | None = None) -> DraftRevision:
    """A new revision of the draft with `files` (already checked), made from `base_revision`.

    Raises Conflict when the draft has a newer revision than `base_revision` (someone saved in
    between: reload it), and get()'s NotFound and Forbidden."""
    draft = get(session, actor, draft_id)
    # Read the newest revision under the row's lock: two saves from the same revision at once
    # are then one revision and one Conflict, never the second failing on the unique number.
    session.refresh(draft, with_for_update=True)
    if base_revision > draft.head:
        raise InvalidInput(f"draft {draft_id} has no revision {base_revision} (its newest is "
                           f"{draft.head})", field="base_revision")
    if base_revision != draft.head:
        raise Conflict(f"draft {draft_id} was saved as revision {draft.head} since you opened "
                       f"revision {base_revision}; reload it and make your change again",
                       field="base_revision")
    now = clock.now()
    draft.head += 1
    draft.updated_at = now
    revision = DraftRevision(draft_id=draft.id, number=draft.head, files=files,
                             note=_text(note, "note", MAX_NOTE), saved_by=actor.name, saved_at=now)
    session.add(revision)
    session.flush()
    return revision


def share(session: Session, actor: Actor, draft_id: int, username: str) -> DraftShare:
    """Share the draft with another process owner; only its owner (or an admin) may.
    Raises InvalidInput naming `username` when that is no active process owner or the owner."""
    draft = get(session, actor, draft_id)
    _owner_only(draft, actor, "share")
    user = users.find(session, username) if isinstance(username, str) else None
    if user is None or not user.active or user.role not in OWNERS:
        raise InvalidInput(f"{str(username)[:100]!r} is not an active process owner",
                           field="username")
    if user.username == draft.owner:
        raise InvalidInput("the draft is already its owner's", field="username")
    existing = session.get(DraftShare, (draft.id, user.username))
    if existing is not None:
        return existing
    row = DraftShare(draft_id=draft.id, username=user.username, shared_by=actor.name,
                     shared_at=clock.now())
    session.add(row)
    session.flush()
    return row


def unshare(session: Session, actor: Actor, draft_id: int, username: str) -> None:
    """Stop sharing the draft with `username`; only its owner (or an admin) may. Raises
    NotFound when it was not shared with them."""
    draft = get(session, actor, draft_id)
    _owner_only(draft, actor, "unshare")
    row = session.get(DraftShare, (draft.id, username))
    if row is None:
        raise NotFound(f"draft {draft_id} is not shared with {username}", field="username")
    session.delete(row)
    session.flush()


def deploy(session: Session, actor: Actor, draft_id: int, revision: int, *,
           comment: str | None = None, warnings: list | None = None) -> list:
    """Deploy revision `revision` of the draft (catalog.deploy: validated, versioning only
    what changed); the deployed rows. The draft remembers the revision it deployed.

    `revision` must be the newest (Conflict otherwise: what was reviewed is what ships).
    Raises InvalidDefinition with every problem when the revision does not validate."""
    draft = get(session, actor, draft_id)
    if revision != draft.head:
        raise Conflict(f"revision {revision} is not the newest of draft {draft_id} "
                       f"(revision {draft.head}); review the newest before deploying it",
                       field="revision")
    files = head_files(session, draft)
    note = comment or f"draft {draft.id} '{draft.title}' revision {revision}"
    deployed = catalog.deploy(session, bundle_of(files), actor.name, comment=note,
                              warnings=warnings)
    draft.deployed_revision, draft.deployed_at = revision, clock.now()
    session.flush()
    return deployed


def shareable_with(session: Session, draft: Draft) -> list[str]:
    """The active process owners the draft could still be shared with, by name."""
    shared = set(session.scalars(select(DraftShare.username)
                                 .where(DraftShare.draft_id == draft.id)))
    names = session.scalars(select(User.username).where(User.role == "process_owner",
                                                        User.active.is_(True))
                            .order_by(User.username))
    return [n for n in names if n != draft.owner and n not in shared]


def _owner_only(draft: Draft, actor: Actor, what: str) -> None:
    if actor.role != "admin" and draft.owner != actor.name:
        raise Forbidden(f"only {draft.owner}, whose draft it is, may {what} it")


def _text(value, field: str, limit: int, *, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(f"{field} must be text of 1 to {limit} characters", field=field)
    return value.strip()


# ------------------------------------------------------------------ reads

def head_files(session: Session, draft: Draft) -> dict[str, str]:
    return revision_row(session, draft, draft.head).files


def revision_row(session: Session, draft: Draft, number: int) -> DraftRevision:
    """Revision `number` of the draft; raises NotFound."""
    row = session.scalars(select(DraftRevision).where(DraftRevision.draft_id == draft.id,
                                                      DraftRevision.number == number)).first()
    if row is None:
        raise NotFound(f"draft {draft.id} has no revision {number}", field="revision")
    return row


def summary(draft: Draft) -> dict:
    return {"id": draft.id, "title": draft.title, "owner": draft.owner, "revision": draft.head,
            "base": draft.base, "created_at": draft.created_at, "updated_at": draft.updated_at,
            "deployed_revision": draft.deployed_revision, "deployed_at": draft.deployed_at}


def show(session: Session, draft: Draft, number: int | None = None) -> dict:
    """The draft with the files of revision `number` (the newest by default), its history
    (newest first, without files) and whom it is shared with."""
    shown = revision_row(session, draft, number or draft.head)
    history = session.scalars(select(DraftRevision).where(DraftRevision.draft_id == draft.id)
                              .order_by(DraftRevision.number.desc()))
    shares = session.scalars(select(DraftShare).where(DraftShare.draft_id == draft.id)
                             .order_by(DraftShare.username))
    return {**summary(draft), "shown_revision": shown.number, "files": shown.files,
            "history": [{"revision": r.number, "note": r.note, "saved_by": r.saved_by,
                         "saved_at": r.saved_at, "files": len(r.files)} for r in history],
            "shared_with": [{"username": s.username, "shared_by": s.shared_by,
                             "shared_at": s.shared_at} for s in shares]}

