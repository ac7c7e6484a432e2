"""Step 2: the files — every subject's SHA-256, nothing missing, nothing extra."""

from __future__ import annotations

from pathlib import Path

from verifier.archive import safe_member_name
from verifier.codes import Check, Finding
from verifier.statement import STATEMENT_FILE, Statement, sha256_file


def check_files(folder: Path, statement: Statement) -> Check:
    """The files check: a finding per unlisted, missing or altered file."""
    files = Check(name="files", name_zh="文件摘要", ok=True)
    add = files.findings.append
    listed: dict[str, str] = {}
    for s in statement.subject:
        name = safe_member_name(s.name)
        if name is None or name == STATEMENT_FILE or name in listed:
            add(
                Finding(
                    code="E_STATEMENT_FORMAT",
                    where=s.name,
                    message="unsafe or repeated subject name",
                )
            )
            continue
        listed[name] = s.digest.get("sha256", "")
    present = {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.relative_to(folder).as_posix() != STATEMENT_FILE
    }
    for name in sorted(present - listed.keys()):
        add(Finding(code="E_FILE_UNLISTED", where=name, message="not a subject of the statement"))
    for name, digest in sorted(listed.items()):
        if name not in present:
            add(Finding(code="E_SUBJECT_MISSING", where=name, message="listed but absent"))
        elif (got := sha256_file(folder / name)) != digest:
            add(
                Finding(
                    code="E_SUBJECT_DIGEST",
                    where=name,
                    message=f"sha256 {got}, statement says {digest}",
                )
            )
    files.ok = not files.findings
    files.detail = f"{len(listed)} files"
    return files
