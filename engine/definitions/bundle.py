"""Bundles: the BPMN/DMN files and forms of one upload or folder, and the one reader that
turns uploaded files, folders or paths into a bundle.

The API's multipart upload, the owners' upload page and the command line all read bundles
here, so a file is taken or refused by the same rule wherever it comes from: BPMN
(`*.bpmn`, `*.bpmn20.xml`) and DMN (`*.dmn`) files are sources, `*.json` files are forms
(named without their folder), anything else is refused with every such file listed.
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


@dataclass
class Bundle:
    """Files of one upload: BPMN/DMN sources and forms, by file name."""

    files: dict[str, bytes] = field(default_factory=dict)
    forms: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def from_folder(cls, folder: Path | str) -> "Bundle":
        """The sources of `folder` and the forms of its `forms/` folder. Raises NotFound."""
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
    def from_files(cls, named: Iterable[tuple[str, bytes]]) -> "Bundle":
        """A bundle of uploaded (file name, content) pairs; names may carry folders.

        Raises InvalidDefinition naming every file that is neither a source nor a form, or
        when there is no source at all.
        """
        bundle, refused = cls(), []
        for name, content in named:
            base = base_name(name)
            if not base:
                continue
            if is_source(base):
                bundle.files[base] = content
            elif base.endswith(FORM_SUFFIX):
                bundle.forms[base] = content
            else:
                refused.append(name)
        if refused:
            raise InvalidDefinition(
                "only .bpmn, .dmn and forms/*.json files can be uploaded", field="files",
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
            elif path.is_file():
                named.append((path.name, path.read_bytes()))
                bundle._add_forms_of(path.parent, keep=True)
            else:
                raise NotFound(f"no such file or folder: {path}")
        if named:
            single = cls.from_files(named)
            bundle.files.update(single.files)
            bundle.forms.update(single.forms)
        bundle.require_sources()
        return bundle

    def require_sources(self) -> None:
        """Raise InvalidDefinition when the bundle holds no BPMN or DMN file."""
        if not self.files:
            raise InvalidDefinition("the upload contains no .bpmn or .dmn file", field="files")

    def _add_forms_of(self, folder: Path, keep: bool = False) -> None:
        forms_dir = folder / FORMS_FOLDER
        if not forms_dir.is_dir():
            return
        for path in sorted(forms_dir.glob("*" + FORM_SUFFIX)):
            if keep:
                self.forms.setdefault(path.name, path.read_bytes())
            else:
                self.forms[path.name] = path.read_bytes()


def is_source(name: str) -> bool:
    return name.endswith(SOURCE_SUFFIXES)


def base_name(name: str) -> str:
    """A file name without its folders (either slash)."""
    return name.replace("\\", "/").rsplit("/", 1)[-1].strip()
