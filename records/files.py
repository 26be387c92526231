"""The files of the case record: folders registered as roots, and every file derived from a scan.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path


from ifb1.records.schema import (
    ARTEFACT_KINDS,
    DATA_ROOT,
    PathOutsideRootsError,
    RecordError,
    ScanPathTakenError,
    VERDICT_UNSUITABLE,
)
from ifb1.records.rows import Artefact, _check_sha, utc_text


class FilesMixin:
    """:class:`~ifb1.records.db.Record`'s methods for roots and artefacts (registered files)."""

    # -- folders and files -------------------------------------------------

    def add_root(self, path: str | os.PathLike[str], *, kind: str, actor: str) -> Path:
        """Register a folder (intake tray, output folder) that may hold files of this record.

        Deletion only ever removes files inside the data folder or a
        registered folder. Registering is logged (``root-added``).

        Returns
        -------
        Path
            The folder's resolved path.
        """
        real = Path(os.path.realpath(path))
        if not real.is_dir():
            raise RecordError(f"{path}: not an existing folder")
        if real == Path(real.anchor):
            raise RecordError(f"{path}: the filesystem root cannot be a folder of the record")
        with self.transaction():
            cur = self._conn.execute(
                "INSERT OR IGNORE INTO roots (path, kind, added_utc) VALUES (?, ?, ?)",
                (str(real), kind, utc_text(self._clock())),
            )
            if cur.rowcount:
                self.log("root-added", None, actor, {"path": str(real), "kind": kind})
        return real

    def roots(self) -> dict[str, Path]:
        """The folders files may live in: ``{"data": data folder, path: path, ...}`` (resolved)."""
        result = {DATA_ROOT: Path(os.path.realpath(self._data_dir))}
        for (path,) in self._conn.execute("SELECT path FROM roots ORDER BY root_id"):
            result[path] = Path(path)
        return result

    def root_path(self, root: str) -> Path | None:
        """The folder an artefact's ``root`` names now, or None when it is not registered."""
        return self.roots().get(root)

    def locate(self, path: str | os.PathLike[str]) -> tuple[str, str]:
        """``(root, relpath)`` of a file path within the record's folders.

        The folders are resolved (symlinks followed) and so is the file's
        parent folder; the file name itself is kept, so a symlinked file is
        not silently replaced by its target.

        Raises
        ------
        PathOutsideRootsError
            When the path is outside every folder of the record.
        """
        p = Path(os.path.abspath(path))
        if p.name in ("", ".", ".."):
            raise PathOutsideRootsError(f"{path}: not a file path")
        full = Path(os.path.realpath(p.parent)) / p.name
        best: tuple[str, Path] | None = None
        for label, root in self.roots().items():
            if full.is_relative_to(root) and full != root:
                if best is None or len(root.parts) > len(best[1].parts):
                    best = (label, root)
        if best is None:
            raise PathOutsideRootsError(
                f"{path}: outside the data folder and the folders registered for this record "
                f"(register the folder with add_root / the batch's folder options)"
            )
        return best[0], full.relative_to(best[1]).as_posix()

    def add_artefact(
        self, form_key: int, kind: str, path: str | os.PathLike[str], *, sha256: str | None = None
    ) -> int:
        """Register a file derived from (or being) the form's scan; returns its id.

        Register a file *before* writing it, so that a crash in between leaves
        no unregistered file behind; the file need not exist yet. An existing
        path must be a regular file, not a symlink. ``sha256`` is the content
        the file holds (or will hold once written); deletion then removes the
        file only while it still holds that content. Registering a path again
        for the same form updates its content hash (a forced re-export).

        Raises
        ------
        PathOutsideRootsError
            When the file is outside the record's folders.
        RecordError
            For an unknown kind, a form being deleted, or a file registered
            to another form.
        """
        if kind not in ARTEFACT_KINDS:
            raise RecordError(f"unknown artefact kind {kind!r} (known: {', '.join(sorted(ARTEFACT_KINDS))})")
        sha = _check_sha(sha256, path)
        root, relpath = self.locate(path)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise RecordError(f"{path}: an artefact must be a regular file (not a symlink or folder)")
        with self.transaction():
            form = self.form(form_key)
            if form.status in ("deletion-pending", "deleted"):
                raise RecordError(f"form {form_key} is being deleted or deleted; no file may be added to it")
            existing = self._live_artefact(root, relpath)
            if existing is not None:
                if existing["form_key"] != form_key:
                    raise RecordError(f"{path}: already registered to form {existing['form_key']}")
                if sha is not None and existing["sha256"] != sha:
                    self._conn.execute(
                        "UPDATE artefacts SET sha256 = ? WHERE artefact_id = ?", (sha, existing["artefact_id"])
                    )
                return existing["artefact_id"]
            return self._insert_artefact(form_key, kind, root, relpath, sha)

    def _live_artefact(self, root: str, relpath: str) -> sqlite3.Row | None:
        """The file registered now at this place, under whichever of the record's folders it was.

        Folders may nest (the batch's ``OUT`` and an ``ifb1 export --out OUT/exports``): the same
        file can be named from either, so every folder holding the path is looked at.
        """
        base = self.roots().get(root)
        if base is None:
            return self._conn.execute(
                "SELECT * FROM artefacts WHERE root = ? AND relpath = ? AND removed_utc IS NULL", (root, relpath)
            ).fetchone()
        full = base / relpath
        for label, folder in self.roots().items():
            if full.is_relative_to(folder) and full != folder:
                row = self._conn.execute(
                    "SELECT * FROM artefacts WHERE root = ? AND relpath = ? AND removed_utc IS NULL",
                    (label, full.relative_to(folder).as_posix()),
                ).fetchone()
                if row is not None:
                    return row
        return None

    def _insert_artefact(self, form_key: int, kind: str, root: str, relpath: str, sha: str | None) -> int:
        cur = self._conn.execute(
            "INSERT INTO artefacts (form_key, kind, root, relpath, added_utc, sha256) VALUES (?, ?, ?, ?, ?, ?)",
            (form_key, kind, root, relpath, utc_text(self._clock()), sha),
        )
        return int(cur.lastrowid)

    def artefact_owner(self, path: str | os.PathLike[str]) -> int | None:
        """The form a file path is registered to now, or None (also for paths outside the record's folders)."""
        try:
            root, relpath = self.locate(path)
        except PathOutsideRootsError:
            return None
        row = self._live_artefact(root, relpath)
        return None if row is None else int(row["form_key"])

    def _take_scan_path(self, root: str, relpath: str, *, path: str, sha: str, actor: str) -> None:
        """Free a scan file name registered to another form, for a new scan found under it.

        The name now holds other content (``sha``), so the old form's scan is
        no longer there: its registration is closed and a ``note`` says so.
        A form whose deletion still has to remove its scan (an unsuitable copy
        not yet deleted) keeps the name: :class:`ScanPathTakenError`.
        """
        row = self._live_artefact(root, relpath)
        if row is None:
            return
        old = self.form(row["form_key"])
        if old.scan_sha256 == sha:
            return
        if old.is_copy and old.verdict == VERDICT_UNSUITABLE and old.status != "deleted":
            raise ScanPathTakenError(
                f"{path}: this name is registered to form {old.form_key} ({old.form_id or 'no form id'}, an "
                f"unsuitable copy to delete, sha256 {old.scan_sha256}) but now holds another scan (sha256 {sha}); "
                "give this file another name and run again (ifb1 delete then finishes the old form's deletion)"
            )
        self._conn.execute(
            "UPDATE artefacts SET removed_utc = ? WHERE artefact_id = ?", (utc_text(self._clock()), row["artefact_id"])
        )
        self.log(
            "note",
            old.form_key,
            actor,
            {
                "text": "the scan's file name now holds another scan; this form's scan is no longer there",
                "file": path,
                "scan_sha256": old.scan_sha256,
                "now_sha256": sha,
            },
        )

    def add_scan_copy(self, form_key: int, path: str | os.PathLike[str], *, sha256: str, actor: str) -> bool:
        """Register another file holding an unsuitable copy's scan, so that deletion removes it too.

        For a second copy of the same scan in the tray, or the same scan sent
        again, before or after the form's deletion: the file is registered as
        a ``scan`` of the form and ``flagged`` is logged with its path;
        :func:`ifb1.records.delete_unsuitable` then removes it (and, after a
        completed deletion, logs its deletion again).

        Returns
        -------
        bool
            True when newly registered, False when it already was.

        Raises
        ------
        RecordError
            When the form is not an unsuitable copy or ``sha256`` is not its scan's.
        """
        sha = _check_sha(sha256, path)
        root, relpath = self.locate(path)
        with self.transaction():
            form = self.form(form_key)
            if not (form.is_copy and form.verdict == VERDICT_UNSUITABLE):
                raise RecordError(f"form {form_key}: only an unsuitable copy's scan is registered again for deletion")
            if sha != form.scan_sha256:
                raise RecordError(f"{path}: sha256 {sha} is not form {form_key}'s scan ({form.scan_sha256})")
            row = self._live_artefact(root, relpath)
            if row is not None and row["form_key"] == form_key:
                return False
            self._take_scan_path(root, relpath, path=str(path), sha=sha, actor=actor)
            self._insert_artefact(form_key, "scan", root, relpath, sha)
            self.log(
                "flagged",
                form_key,
                actor,
                {"is_copy": True, "action": "delete", "file": str(path), "another_file_of_the_scan": True,
                 "form_status": form.status},
            )
        return True

    def artefacts(self, form_key: int) -> tuple[Artefact, ...]:
        """The form's registered files, oldest first."""
        roots = self.roots()
        rows = self._conn.execute(
            "SELECT * FROM artefacts WHERE form_key = ? ORDER BY artefact_id", (form_key,)
        ).fetchall()
        out = []
        for r in rows:
            base = roots.get(r["root"], Path(r["root"]))
            out.append(
                Artefact(
                    artefact_id=r["artefact_id"],
                    form_key=r["form_key"],
                    kind=r["kind"],
                    root=r["root"],
                    relpath=r["relpath"],
                    path=base / r["relpath"],
                    added_utc=r["added_utc"],
                    removed_utc=r["removed_utc"],
                    sha256=r["sha256"],
                )
            )
        return tuple(out)
