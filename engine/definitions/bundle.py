"""Bundles: the BPMN/DMN files, forms and message schemas of one upload or folder, and the
one reader that turns uploaded files, folders or paths into a bundle.

The API's multipart upload, the owners' upload page and the command line all read bundles
here, so a file is taken or refused by the same rule wherever it comes from: BPMN
(`*.bpmn`, `*.bpmn20.xml`) and DMN (`*.dmn`) files are sources; `*.json` files in a
`messages/` folder (or uploaded as messages) are message schemas, one per message name
(`messages/pickup_booked.json`); other `*.json` files are forms; all are named without their
folder. Anything else is refused with every such file listed.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import InvalidDefinition, NotFound

BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")
DMN_SUFFIX = ".dmn"
SOURCE_SUFFIXES = BPMN_SUFFIXES + (DMN_SUFFIX,)
FORM_SUFFIX = ".json"
FORMS_FOLDER = "forms"
MESSAGES_FOLDER = "messages"


@dataclass
class Bundle:
    """Files of one upload: BPMN/DMN sources, forms and message schemas, by file name."""

    files: dict[str, bytes] = field(default_factory=dict)
    forms: dict[str, bytes] = field(default_factory=dict)
    messages: dict[str, bytes] = field(default_factory=dict)   # "<message name>.json" -> schema

    @classmethod
    def from_folder(cls, folder: Path | str) -> "Bundle":
        """The sources of `folder`, the forms of its `forms/` folder and the message schemas of
        its `messages/` folder. Raises NotFound."""
        folder = Path(folder)
        if not folder.is_dir():
            raise NotFound(f"no such folder: {folder}")
        bundle = cls()
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_source(path.name):
                bundle.files[path.name] = path.read_bytes()
        bundle._add_forms_of(folder)
        return bundle

    @classmethod
    def from_files(cls, named: Iterable[tuple[str, bytes]],
                   messages: Iterable[tuple[str, bytes]] = ()) -> "Bundle":
        """A bundle of uploaded (file name, content) pairs; names may carry folders. A `*.json`
        file in a `messages/` folder, or given in `messages`, is a message schema.

        Raises InvalidDefinition naming every file that is neither a source, a form nor a
        message schema, or when there is no source at all.
        """
        bundle, refused = cls(), []
        tagged = [(name, content, False) for name, content in named]
        tagged += [(name, content, True) for name, content in messages]
        for name, content, as_message in tagged:
            base = base_name(name)
            if not base:
                continue
            if is_source(base) and not as_message:
                bundle.files[base] = content
            elif base.endswith(FORM_SUFFIX) and (as_message or in_messages_folder(name)):
                bundle.messages[base] = content
            elif base.endswith(FORM_SUFFIX):
                bundle.forms[base] = content
            else:
                refused.append(name)
        if refused:
            raise InvalidDefinition(
                "only .bpmn, .dmn, forms/*.json and messages/*.json files can be uploaded",
                field="files",
                details=[{"file": n, "line": None, "element_id": None,
                          "message": "unsupported file type"} for n in refused])
        bundle.require_sources()
        return bundle

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str]) -> "Bundle":
        """Folders (as `from_folder`) and single files, each file with the forms of the
        `forms/` folder beside it. Raises NotFound and InvalidDefinition like the others."""
        named, bundle = [], cls()
        for path in map(Path, paths):
            if path.is_dir():
                folder = cls.from_folder(path)
                bundle.files.update(folder.files)
                bundle.forms.update(folder.forms)
                bundle.messages.update(folder.messages)
            elif path.is_file():
                named.append((path.name, path.read_bytes()))
                bundle._add_forms_of(path.parent, keep=True)
            else:
                raise NotFound(f"no such file or folder: {path}")
        if named:
            single = cls.from_files(named)
            bundle.files.update(single.files)
            bundle.forms.update(single.forms)
            bundle.messages.update(single.messages)
        bundle.require_sources()
        return bundle

    def require_sources(self) -> None:
        """Raise InvalidDefinition when the bundle holds no BPMN or DMN file."""
        if not self.files:
            raise InvalidDefinition("the upload contains no .bpmn or .dmn file", field="files")

    def _add_forms_of(self, folder: Path, keep: bool = False) -> None:
        # The message schemas beside the forms come with them: a process file taken alone
        # needs both to run.
        for sub, into in ((FORMS_FOLDER, self.forms), (MESSAGES_FOLDER, self.messages)):
            if not (folder / sub).is_dir():
                continue
            for path in sorted((folder / sub).glob("*" + FORM_SUFFIX)):
                if keep:
                    into.setdefault(path.name, path.read_bytes())
                else:
                    into[path.name] = path.read_bytes()


def is_source(name: str) -> bool:
    return name.endswith(SOURCE_SUFFIXES)


def in_messages_folder(name: str) -> bool:
    """True for a file name whose last folder is `messages/` (either slash)."""
    folders = name.replace("\\", "/").split("/")[:-1]
    return bool(folders) and folders[-1].strip() == MESSAGES_FOLDER


def base_name(name: str) -> str:
    """A file name without its folders (either slash)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()
