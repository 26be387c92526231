"""The case record: schema, append-only hash-chained log, audit verify and safe deletion."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from ifb1.records import (
    DuplicateScanError,
    PathOutsideRootsError,
    PrintEntry,
    RecordBusyError,
    RecordError,
    SchemaTooNewError,
    delete_unsuitable,
    open_record,
    verify_chain,
)
from ifb1.records import chain, db
from ifb1.records import delete as delete_mod

RECEIVED = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
DELETE_AT = datetime(2025, 3, 4, 16, 0, tzinfo=timezone.utc)
REASON = "8 of 10 rolled prints are poor or missing (at most 2 allowed)"


def clock():
    return RECEIVED


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def raw(data: Path) -> sqlite3.Connection:
    """A plain connection, as someone tampering with the file would use."""
    return sqlite3.connect(data / db.DB_FILE, isolation_level=None)


def write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def add_scanned_form(record, data: Path, name: str, *, is_copy: bool, verdict: str, extra_roots=()) -> tuple[int, list[Path]]:
    """A form with a scan, two crops, a preview, an export and a result file, all registered."""
    content = f"scan of {name}".encode()
    scan = write(data / "scans" / f"{name}.png", content)
    key = record.add_form(
        scan_sha256=hashlib.sha256(content).hexdigest(),
        source_path=scan,
        is_copy=is_copy,
        actor="tester",
        form_id=f"IFB1-{name}",
        force="Kent",
        case_ref=f"CASE-{name}",
    )
    crops = [data / "crops" / name / f"{pos:02d}.png" for pos in (1, 2)]
    record.set_prints(
        key,
        [
            PrintEntry(1, True, 12.0, ("too dark",), crop_path=str(crops[0])),
            PrintEntry(2, True, 15.0, ("smudged",), crop_path=str(crops[1])),
            PrintEntry(3, False),
        ],
    )
    for c in crops:  # registered before written, as the pipeline does
        write(c, b"crop")
    files = [scan, *crops]
    for kind, rel in (("preview", "previews"), ("export", "exports"), ("result", "results")):
        p = data / rel / f"{name}.{kind}"
        record.add_artefact(key, kind, p)
        files.append(write(p, kind.encode()))
    record.set_verdict(key, verdict, [REASON] if verdict == "unsuitable" else ["all good"], actor="ifb1 test")
    return key, files


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


# ---------------------------------------------------------------- schema


def test_creates_private_schema(data: Path):
    with open_record(data, clock=clock) as record:
        assert record.schema_version == db.MIGRATIONS[-1][0]
        tables = {r[0] for r in record._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"forms", "prints", "artefacts", "events", "deletions", "schema_version", "audit_head"} <= tables
        assert record._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert record._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert [e.kind for e in record.events()] == ["record-created"]
        # the WAL side files exist while open and inherit the database's mode
        for name in (db.DB_FILE, db.DB_FILE + "-wal", db.DB_FILE + "-shm", chain.HEAD_FILE, db.LOCK_FILE):
            assert mode(data / name) == 0o600, name
    assert mode(data) == 0o700


def test_existing_open_folder_and_database_are_made_private(data: Path):
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    open_record(data).close()
    os.chmod(data / db.DB_FILE, 0o644)
    open_record(data).close()
    assert mode(data) == 0o700
    assert mode(data / db.DB_FILE) == 0o600


def test_migrations_are_idempotent_and_incremental(data: Path, monkeypatch):
    open_record(data, clock=clock).close()
    with open_record(data, clock=clock) as record:
        assert [e.kind for e in record.events()] == ["record-created"]
    nxt = db.MIGRATIONS[-1][0] + 1
    extra = (nxt, "test step", ["CREATE TABLE test_extra (x INTEGER)"])
    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, extra])
    with open_record(data, clock=clock) as record:
        assert record.schema_version == nxt
        migrated = [e for e in record.events() if e.kind == "schema-migrated"]
        assert len(migrated) == 1 and migrated[0].details["to"] == nxt
    with open_record(data, clock=clock) as record:  # nothing left to apply
        assert len(record.events()) == 2
        assert verify_chain(record).intact


def test_failed_migration_changes_nothing(data: Path, monkeypatch):
    open_record(data).close()
    latest = db.MIGRATIONS[-1][0]
    bad = (latest + 1, "broken step", ["CREATE TABLE half_done (x INTEGER)", "THIS IS NOT SQL"])
    monkeypatch.setattr(db, "MIGRATIONS", [*db.MIGRATIONS, bad])
    with pytest.raises(sqlite3.OperationalError):
        open_record(data)
    monkeypatch.undo()
    with open_record(data) as record:
        assert record.schema_version == latest
        assert not record._conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchone()


def test_refuses_a_newer_schema(data: Path):
    open_record(data).close()
    raw(data).execute("UPDATE schema_version SET version = 99")
    for kwargs in ({}, {"readonly": True}):
        with pytest.raises(SchemaTooNewError, match="schema version 99.*newer ifb1"):
            open_record(data, **kwargs)
    assert raw(data).execute("SELECT version FROM schema_version").fetchone()[0] == 99


def test_annotation_migration_from_version_1(data: Path, monkeypatch):
    """A record written by the v1 schema gains prints.annotation_code once; old rows read NULL."""
    v1 = [m for m in db.MIGRATIONS if m[0] == 1]
    with monkeypatch.context() as m:
        m.setattr(db, "MIGRATIONS", v1)
        with open_record(data, clock=clock) as record:
            assert record.schema_version == 1
    # A form and its scan as ifb1 with the v1 schema wrote them.
    write(data / "old.png", b"old")
    conn = raw(data)
    key = conn.execute("INSERT INTO forms (form_id, scan_sha256, source_path, received_utc, is_copy, status)"
                       " VALUES ('IFB1-OLD', ?, 'old.png', '2025-03-01T09:30:00.000000Z', 0, 'received')",
                       ("a" * 64,)).lastrowid
    conn.execute("INSERT INTO artefacts (form_key, kind, root, relpath, added_utc)"
                 " VALUES (?, 'scan', 'data', 'old.png', '2025-03-01T09:30:00.000000Z')", (key,))
    cols = {r[1] for r in raw(data).execute("PRAGMA table_info(prints)")}
    assert "annotation_code" not in cols
    # Print rows as ifb1 with the v1 schema wrote them.
    raw(data).executemany("INSERT INTO prints (form_key, position, present, quality, feedback) VALUES (?,?,?,?,'[]')",
                          [(key, 1, 1, 40.0), (key, 2, 0, None)])
    with pytest.raises(RecordError, match="schema version 1 needs upgrading"):
        open_record(data, readonly=True)

    with open_record(data, clock=clock) as record:
        assert record.schema_version == db.MIGRATIONS[-1][0] >= 2
        migrated = [e for e in record.events() if e.kind == "schema-migrated"]
        assert [(e.details["from"], e.details["to"]) for e in migrated] == [(1, v) for v in range(2, db.MIGRATIONS[-1][0] + 1)]
        # v3: the scan's registration carries its content hash
        (scan,) = record.artefacts(key)
        assert scan.sha256 == "a" * 64 and scan.removed_utc is None
        assert [p.annotation_code for p in record.prints(key)] == [None, None]  # not read back then
        assert [(p.position, p.present, p.quality) for p in record.prints(key)] == [(1, True, 40.0), (2, False, None)]
        # New rows keep the text read; only on empty boxes and only AMP/XX/UP.
        record.set_prints(key, [PrintEntry(1, True, 40.0), PrintEntry(2, False, annotation_code="AMP"),
                                PrintEntry(11, False, annotation_code="UP")])
        assert [p.annotation_code for p in record.prints(key)] == [None, "AMP", "UP"]
        for bad in (PrintEntry(3, True, 50.0, annotation_code="XX"), PrintEntry(3, False, annotation_code="AMPUTATED")):
            with pytest.raises(RecordError, match="annotation"):
                record.set_prints(key, [bad])
        assert [p.annotation_code for p in record.prints(key)] == [None, "AMP", "UP"]  # unchanged
        assert verify_chain(record).intact
    # The column's CHECK holds against writes that bypass set_prints too.
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        raw(data).execute("UPDATE prints SET annotation_code = 'XX' WHERE position = 1")
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        raw(data).execute("UPDATE prints SET annotation_code = 'xx' WHERE position = 2")
    with open_record(data, clock=clock) as record:  # applied once: nothing more on the next open
        assert [e.kind for e in record.events()].count("schema-migrated") == db.MIGRATIONS[-1][0] - 1
    with open_record(data, readonly=True) as record:
        assert [p.annotation_code for p in record.prints(key)] == [None, "AMP", "UP"]

    # A schema newer than this code's is still refused, for writing and reading, and left alone.
    newer = db.MIGRATIONS[-1][0] + 1
    raw(data).execute("UPDATE schema_version SET version = ?", (newer,))
    for kwargs in ({}, {"readonly": True}):
        with pytest.raises(SchemaTooNewError, match=f"schema version {newer}.*newer ifb1"):
            open_record(data, **kwargs)
    assert raw(data).execute("SELECT version FROM schema_version").fetchone()[0] == newer


def test_no_record_is_created_when_not_asked(data: Path):
    with pytest.raises(RecordError, match="no ifb1 record"):
        open_record(data, create=False)
    assert not (data / db.DB_FILE).exists()


def test_one_writer_at_a_time_readers_allowed(data: Path):
    with open_record(data) as writer:
        with pytest.raises(RecordBusyError, match="another ifb1 process"):
            open_record(data)
        with open_record(data, readonly=True) as reader:
            assert reader.events()[0].kind == "record-created"
            with pytest.raises(RecordError, match="read-only"):
                reader.log("note", None, "x")
        writer.log("note", None, "tester", {"text": "hello"})
    open_record(data).close()  # the lock is released on close


def test_duplicate_scan_and_paths_outside_refused(data: Path, tmp_path: Path):
    with open_record(data) as record:
        key, _ = add_scanned_form(record, data, "a", is_copy=True, verdict="suitable")
        scan = data / "scans" / "a.png"
        with pytest.raises(DuplicateScanError) as err:
            record.add_form(
                scan_sha256=hashlib.sha256(scan.read_bytes()).hexdigest(),
                source_path=scan,
                is_copy=True,
                actor="t",
            )
        assert err.value.form_key == key
        outside = write(tmp_path / "elsewhere" / "x.png", b"x")
        with pytest.raises(PathOutsideRootsError):
            record.add_artefact(key, "preview", outside)
        with pytest.raises(PathOutsideRootsError):
            record.add_artefact(key, "preview", data / ".." / "elsewhere" / "y.png")
        link = data / "previews" / "link.png"
        link.symlink_to(outside)
        with pytest.raises(RecordError, match="regular file"):
            record.add_artefact(key, "preview", link)
        # a registered folder makes it acceptable
        record.add_root(tmp_path / "elsewhere", kind="output", actor="t")
        record.add_artefact(key, "preview", outside)


# ---------------------------------------------------------------- event log


def test_events_cannot_be_updated_or_deleted(data: Path):
    with open_record(data) as record:
        record.log("note", None, "tester", {"text": "one"})
        record.log("note", None, "tester", {"text": "two"})
    conn = raw(data)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET actor = 'someone else' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events")
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 3


def _tamper(data: Path, *statements: str) -> None:
    """Someone with write access drops the triggers to edit the log."""
    conn = raw(data)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    for sql in statements:
        conn.execute(sql)
    conn.close()


def _log_five(data: Path) -> None:
    with open_record(data, clock=clock) as record:
        for i in range(5):
            record.log("note", None, "tester", {"i": i})
        assert verify_chain(record).intact


def _verify(data: Path):
    with open_record(data, readonly=True) as record:
        return verify_chain(record)


def test_verify_detects_a_modified_row(data: Path):
    _log_five(data)
    _tamper(data, """UPDATE events SET details = '{"i":99}' WHERE seq = 3""")
    report = _verify(data)
    assert not report.intact and report.first_broken_seq == 3
    assert any("content changed" in p for p in report.problems)


def test_verify_detects_a_removed_middle_row(data: Path):
    _log_five(data)
    _tamper(data, "DELETE FROM events WHERE seq = 4")
    report = _verify(data)
    assert not report.intact and report.first_broken_seq == 4


def test_verify_detects_a_truncated_tail(data: Path):
    _log_five(data)  # seq 1 record-created, 2..6 notes
    _tamper(data, "DELETE FROM events WHERE seq >= 5")
    report = _verify(data)
    assert not report.intact and report.first_broken_seq == 5
    # also when the audit_head table is rewritten to match: the head file remembers
    conn = raw(data)
    seq, digest = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, digest))
    conn.close()
    report = _verify(data)
    assert not report.intact and report.first_broken_seq == 5
    assert any(chain.HEAD_FILE in p for p in report.problems)


def test_verify_detects_a_missing_head_file_and_cli_exit_codes(data: Path):
    from ifb1.cli import main

    _log_five(data)
    ok = CliRunner().invoke(main, ["audit", "verify", "--data", str(data)])
    assert ok.exit_code == 0 and "intact: 6 events" in ok.output
    (data / chain.HEAD_FILE).unlink()
    bad = CliRunner().invoke(main, ["audit", "verify", "--data", str(data)])
    assert bad.exit_code == 1 and "BROKEN at seq 1" in bad.output
    none = CliRunner().invoke(main, ["audit", "verify", "--data", str(data / "nothing")])
    assert none.exit_code == 2 and "no ifb1 record" in none.output


def test_head_file_lag_is_a_warning_and_heals(data: Path):
    _log_five(data)
    conn = raw(data)
    seq, digest = conn.execute("SELECT seq, hash FROM events WHERE seq = 4").fetchone()
    conn.close()
    chain.write_head_file(data, seq, digest)  # as if a crash came before the rewrite
    report = _verify(data)
    assert report.intact and any("lags" in w for w in report.warnings)
    with open_record(data) as record:
        record.log("note", None, "tester")
        assert verify_chain(record).intact and not verify_chain(record).warnings


def test_keyed_chain(data: Path, tmp_path: Path, monkeypatch):
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(os.urandom(32).hex().encode())
    os.chmod(key_file, 0o644)
    monkeypatch.setenv(chain.KEY_FILE_ENV, str(key_file))
    with pytest.raises(ValueError, match="owner only"):
        chain.load_audit_key()
    os.chmod(key_file, 0o600)
    key = chain.load_audit_key()
    with open_record(data, audit_key=key) as record:
        record.log("note", None, "tester", {"i": 1})
        assert record.audit_alg == chain.ALG_HMAC and verify_chain(record).intact
    with pytest.raises(RecordError, match="not this record's key"):
        open_record(data, audit_key=b"x" * 32)
    with open_record(data) as record:  # no key: readable, not appendable, not verifiable
        with pytest.raises(RecordError, match="keyed"):
            record.log("note", None, "tester")
        assert not verify_chain(record).intact
    # a row rewritten with a freshly computed plain SHA-256 is caught
    conn = raw(data)
    row = conn.execute("SELECT seq, form_key, kind, utc, actor, prev_hash FROM events WHERE seq = 2").fetchone()
    forged = chain.event_digest(
        seq=row[0], form_key=row[1], kind=row[2], utc=row[3], actor="mallory", details="{}", prev_hash=row[5], key=None
    )
    conn.close()
    _tamper(data, f"UPDATE events SET actor = 'mallory', details = '{{}}', hash = '{forged}' WHERE seq = 2")
    with open_record(data, audit_key=key, readonly=True) as record:
        report = verify_chain(record)
    assert not report.intact and report.first_broken_seq == 2


# ---------------------------------------------------------------- deletion


@pytest.fixture
def three_forms(data: Path):
    """An unsuitable copy, an unsuitable original and a suitable copy."""
    with open_record(data, clock=clock) as record:
        copy = add_scanned_form(record, data, "copy", is_copy=True, verdict="unsuitable")
        original = add_scanned_form(record, data, "orig", is_copy=False, verdict="unsuitable")
        good = add_scanned_form(record, data, "good", is_copy=True, verdict="suitable")
    return copy, original, good


def _kinds(record, form_key):
    return [e.kind for e in record.events(form_key)]


def test_deletes_an_unsuitable_copy_and_everything_derived(data: Path, three_forms):
    (copy_key, copy_files), (orig_key, orig_files), (good_key, good_files) = three_forms
    assert len(copy_files) == 6
    with open_record(data, clock=clock) as record:
        assert [f.form_key for f in record.deletion_candidates()] == [copy_key]
        report = delete_unsuitable(record, actor="alice", now=DELETE_AT)
        assert report.ok and [o.form_key for o in report.deleted] == [copy_key]
        assert not any(p.exists() for p in copy_files)
        assert all(p.exists() for p in orig_files + good_files)
        note = (
            f"Fingerprints received on 2025-03-01 were unsuitable for scanning ({REASON}) "
            f"and were deleted on 2025-03-04. Scan file deleted: {copy_files[0]}."
        )
        (d,) = record.deletions()
        assert (d.status, d.deleted_on, d.received_on, d.note, d.form_id) == (
            "done", "2025-03-04", "2025-03-01", note, "IFB1-copy"
        )
        assert d.scan_sha256 == record.form(copy_key).scan_sha256 and d.reason == REASON
        assert _kinds(record, copy_key)[-2:] == ["delete-intent", "deleted"]
        intent, done = record.events(copy_key)[-2:]
        assert (intent.seq, done.seq) == (d.intent_seq, d.done_seq)
        assert done.actor == "alice" and done.utc.startswith("2025-03-04")
        assert done.details["deleted_on"] == "2025-03-04" and done.details["note"] == note
        assert record.form(copy_key).status == "deleted"
        assert all(a.removed_utc for a in record.artefacts(copy_key))
        # the form stays on the record; its files may not come back
        with pytest.raises(RecordError):
            record.add_artefact(copy_key, "preview", data / "previews" / "again.png")
        assert verify_chain(record).intact
        # a second run has nothing to do and logs nothing
        n = len(record.events())
        assert delete_unsuitable(record, actor="alice").outcomes == ()
        assert len(record.events()) == n
    # a completed deletion row cannot be changed or removed
    conn = raw(data)
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("UPDATE deletions SET deleted_on = '2030-01-01'")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM deletions")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("DELETE FROM forms")


def test_originals_and_suitable_forms_are_refused(data: Path, three_forms):
    _, (orig_key, orig_files), (good_key, good_files) = three_forms
    with open_record(data, clock=clock) as record:
        before = len(record.events())
        report = delete_unsuitable(record, actor="alice", form_keys=[orig_key, good_key])
        assert [o.action for o in report.outcomes] == ["refused", "refused"]
        assert "original" in report.outcomes[0].reason and "suitable" in report.outcomes[1].reason
        assert all(p.exists() for p in orig_files + good_files)
        assert len(record.events()) == before and record.deletions() == ()
        with pytest.raises(RecordError, match="only unsuitable scanned copies"):
            record.begin_deletion(orig_key, reason="x", actor="a", utc=DELETE_AT, files=[])


def test_dry_run_changes_nothing(data: Path, three_forms):
    (copy_key, copy_files), _, _ = three_forms

    def snapshot():
        conn = raw(data)
        state = [conn.execute(f"SELECT * FROM {t}").fetchall() for t in ("forms", "events", "deletions", "artefacts")]
        conn.close()
        return state, sorted(str(p) for p in data.rglob("*") if p.is_file() and "sqlite" not in p.name)

    before = snapshot()
    with open_record(data, clock=clock) as record:
        report = delete_unsuitable(record, actor="alice", dry_run=True, now=DELETE_AT)
    (o,) = report.outcomes
    assert o.action == "would-delete" and len(o.removed) == 6 and "deleted on 2025-03-04" in o.note
    assert snapshot() == before


class SimulatedCrash(BaseException):
    pass


def test_crash_mid_deletion_is_finished_by_the_next_run(data: Path, three_forms, monkeypatch):
    (copy_key, copy_files), _, _ = three_forms
    real = delete_mod._unlink_in_dir
    calls = []

    def crash_after_first(dir_fd, name):
        if calls:
            raise SimulatedCrash()
        calls.append(name)
        real(dir_fd, name)

    monkeypatch.setattr(delete_mod, "_unlink_in_dir", crash_after_first)
    with open_record(data, clock=clock) as record:
        with pytest.raises(SimulatedCrash):
            delete_unsuitable(record, actor="alice", now=DELETE_AT)
    remaining = [p for p in copy_files if p.exists()]
    assert len(remaining) == 5
    with open_record(data, clock=clock) as record:
        assert _kinds(record, copy_key).count("delete-intent") == 1
        assert "deleted" not in _kinds(record, copy_key)
        (d,) = record.deletions()
        assert d.status == "pending" and d.deleted_on is None and d.note is None
        assert record.form(copy_key).status == "deletion-pending"
        assert record.deletion_candidates() == ()
        assert verify_chain(record).intact

    monkeypatch.setattr(delete_mod, "_unlink_in_dir", real)
    later = datetime(2025, 3, 5, 8, 0, tzinfo=timezone.utc)
    with open_record(data, clock=clock) as record:
        report = delete_unsuitable(record, actor="bob", now=later)
        assert report.ok and [o.form_key for o in report.deleted] == [copy_key]
        assert not any(p.exists() for p in copy_files)
        kinds = _kinds(record, copy_key)
        assert kinds.count("delete-intent") == 1 and kinds.count("deleted") == 1
        assert record.deletions()[0].deleted_on == "2025-03-05"
        assert verify_chain(record).intact


def test_unremovable_file_leaves_the_deletion_pending(data: Path, three_forms, monkeypatch):
    from ifb1.cli import main

    (copy_key, copy_files), _, _ = three_forms
    real = delete_mod._unlink_in_dir

    def refuse_crops(dir_fd, name):
        if name == "02.png":
            raise PermissionError(13, "Permission denied")
        real(dir_fd, name)

    monkeypatch.setattr(delete_mod, "_unlink_in_dir", refuse_crops)
    result = CliRunner().invoke(main, ["delete", "--data", str(data), "--actor", "alice"])
    assert result.exit_code == 1, result.output
    assert "PENDING" in result.output and "Permission denied" in result.output
    assert [p.name for p in copy_files if p.exists()] == ["02.png"]
    with open_record(data, clock=clock) as record:
        kinds = _kinds(record, copy_key)
        assert "deleted" not in kinds and kinds[-1] == "delete-blocked"
        assert "Permission denied" in record.deletions()[0].last_error
    monkeypatch.setattr(delete_mod, "_unlink_in_dir", real)
    result = CliRunner().invoke(main, ["delete", "--data", str(data), "--actor", "alice"])
    assert result.exit_code == 0, result.output
    assert "DELETED" in result.output and "were deleted on" in result.output
    assert not any(p.exists() for p in copy_files)


def test_artefacts_resolving_outside_are_refused(data: Path, tmp_path: Path, three_forms):
    (copy_key, copy_files), _, _ = three_forms
    outside = tmp_path / "outside"
    victim = write(outside / "01.png", b"not ours")
    other = write(outside / "copy.preview", b"not ours either")
    # a folder of the record replaced by a symlink to somewhere else
    crops = data / "crops" / "copy"
    for p in crops.iterdir():
        p.unlink()
    crops.rmdir()
    crops.symlink_to(outside, target_is_directory=True)
    # a registered file replaced by a symlink to a file outside
    preview = data / "previews" / "copy.preview"
    preview.unlink()
    preview.symlink_to(other)
    # a scan with a second name outside: removing ours would not remove its content
    scan = data / "scans" / "copy.png"
    os.link(scan, outside / "hardlink.png")
    with open_record(data, clock=clock) as record:
        report = delete_unsuitable(record, actor="alice", now=DELETE_AT)
        (o,) = report.outcomes
        assert o.action == "pending" and not report.ok
        assert any("outside the record's folders" in e for e in o.errors)
        assert any("symbolic link" in e for e in o.errors)
        assert any("hard links" in e for e in o.errors)
        assert "deleted" not in _kinds(record, copy_key)
    assert victim.read_bytes() == b"not ours" and other.read_bytes() == b"not ours either"
    assert preview.is_symlink() and scan.exists()


def test_missing_registered_folder_blocks_deletion(data: Path, tmp_path: Path):
    # an output folder on a disk that is not mounted: its files cannot be shown to be gone
    out = tmp_path / "out"
    out.mkdir()
    with open_record(data, clock=clock) as record:
        record.add_root(out, kind="output", actor="t")
        key, files = add_scanned_form(record, data, "c", is_copy=True, verdict="unsuitable")
        export = out / "c.eft"
        record.add_artefact(key, "export", export)
        write(export, b"eft")
    out.rename(tmp_path / "out-unmounted")
    with open_record(data, clock=clock) as record:
        report = delete_unsuitable(record, actor="alice", now=DELETE_AT)
        assert not report.ok and "not mounted" in " ".join(report.pending[0].errors)
        assert "deleted" not in _kinds(record, key)
    (tmp_path / "out-unmounted").rename(out)
    with open_record(data, clock=clock) as record:
        assert delete_unsuitable(record, actor="alice", now=DELETE_AT).ok
    assert not export.exists() and not any(p.exists() for p in files)


def test_cli_delete_dry_run_and_audit_log(data: Path, three_forms):
    from ifb1.cli import main

    (copy_key, copy_files), _, _ = three_forms
    runner = CliRunner()
    dry = runner.invoke(main, ["delete", "--data", str(data), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "WOULD DELETE" in dry.output and "IFB1-copy" in dry.output and "note: Fingerprints received on" in dry.output
    assert all(p.exists() for p in copy_files)
    refused = runner.invoke(main, ["delete", "--data", str(data), "--form-id", "IFB1-orig"], env={"IFB1_DATA": None})
    assert refused.exit_code == 1 and "REFUSED" in refused.output and "original" in refused.output
    done = runner.invoke(main, ["delete", "--actor", "carol"], env={"IFB1_DATA": str(data)})
    assert done.exit_code == 0 and "DELETED" in done.output
    log = runner.invoke(main, ["audit", "log", "--data", str(data), "--form-id", "IFB1-copy"])
    assert log.exit_code == 0
    kinds = [line.split()[2] for line in log.output.splitlines()]
    assert kinds == ["received", "processed", "flagged", "delete-intent", "deleted"]
    assert "carol" in log.output.splitlines()[-1]


def test_deletion_hashes_each_file_and_leaves_other_content_alone(data: Path):
    with open_record(data, clock=clock) as record:
        key, files = add_scanned_form(record, data, "c", is_copy=True, verdict="unsuitable")
        crop = files[1]
        record.add_artefact(key, "crop", crop, sha256=hashlib.sha256(b"crop").hexdigest())
    scan = files[0]
    recorded = hashlib.sha256(scan.read_bytes()).hexdigest()
    scan.write_bytes(b"another scan saved under the same name")
    crop.write_bytes(b"another crop")
    with open_record(data, clock=clock) as record:
        dry = delete_unsuitable(record, actor="alice", dry_run=True, now=DELETE_AT)
        assert set(dry.outcomes[0].remaining) == {str(scan), str(crop)}
        report = delete_unsuitable(record, actor="alice", now=DELETE_AT)
        (o,) = report.outcomes
        assert o.action == "pending" and set(o.remaining) == {str(scan), str(crop)}
        (err,) = [e for e in o.errors if e.startswith(str(scan))]
        assert recorded in err and hashlib.sha256(scan.read_bytes()).hexdigest() in err
        assert "deleted" not in _kinds(record, key)
    assert scan.read_bytes() == b"another scan saved under the same name" and crop.read_bytes() == b"another crop"
    # Files registered without a hash (before schema version 3) other than the scan are removed as before.
    assert not files[2].exists()
    # The recorded content back (or the names freed): the deletion completes.
    scan.write_bytes(b"scan of c")
    crop.unlink()
    with open_record(data, clock=clock) as record:
        assert delete_unsuitable(record, actor="alice", now=DELETE_AT).ok
        assert record.form(key).status == "deleted"
    assert not scan.exists()
