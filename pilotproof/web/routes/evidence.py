"""`evidence`: build a signed bundle, download it, verify an uploaded one."""

import asyncio
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, HTTPException, UploadFile
from fastapi.responses import FileResponse

from kpi import UnknownProfileError, get_profile
from pilotproof.web.models import EvidenceBuilt, EvidenceRequest
from pilotproof.web.settings import WebSettings
from pilotproof.web.state import Auditor, Operator, Reader, ServiceDep
from telemetry import StoreError
from telemetry.timegrid import NS
from verifier import BuildError, VerifyReport

router = APIRouter(tags=["evidence"])


@router.post("/api/evidence", status_code=201)
async def build(body: EvidenceRequest, svc: ServiceDep, who: Operator) -> EvidenceBuilt:
    """Build a signed evidence bundle for a profile and window (operator). Rate-limited
    per token; the newest `keep_bundles` bundles are kept for download."""
    settings = svc.settings
    if svc.jobs.spec.key is None:
        raise HTTPException(503, "the service has no evidence signing key configured")
    window = svc.window(body.start, body.end)
    try:
        get_profile(body.profile)
    except UnknownProfileError as e:
        raise HTTPException(404, str(e)) from None
    if not svc.builds.allow(who.name):
        raise HTTPException(429, f"at most {settings.builds_per_minute} builds a minute")
    # unique without coordination: two builds in one millisecond get two folders
    bundle_id = (
        f"{body.profile}-{window.start_ns // NS}-{window.end_ns // NS}-"
        f"{int(time.time())}-{secrets.token_hex(4)}"
    )
    out = settings.work_dir / bundle_id
    try:
        result = await svc.jobs.build(body.profile, (window.start_ns, window.end_ns), out)
    except BuildError as e:
        await asyncio.to_thread(shutil.rmtree, out, True)
        raise HTTPException(409, str(e)) from None
    except StoreError as e:
        await asyncio.to_thread(shutil.rmtree, out, True)
        raise HTTPException(503, f"the store is unavailable: {e}") from None
    await asyncio.to_thread(prune, settings, time.time())
    return EvidenceBuilt(id=bundle_id, bytes=result.bytes, lines=result.lines,
                         batches=result.batches, verdict=result.verdict)  # fmt: skip


@router.get(
    "/api/evidence/{bundle_id}",
    response_class=FileResponse,
    responses={200: {"content": {"application/gzip": {}}}},
)
async def download(bundle_id: str, svc: ServiceDep, _: Reader) -> FileResponse:
    """Download a built bundle as one `.tar.gz`."""
    path = svc.settings.work_dir / f"{bundle_id}.tar.gz"
    if "/" in bundle_id or bundle_id.startswith(".") or not path.is_file():
        raise HTTPException(404, f"no bundle {bundle_id!r} (bundles are kept a while)")
    return FileResponse(path, media_type="application/gzip", filename=path.name)


@router.post("/api/verify")
async def verify(
    bundle: Annotated[UploadFile, File(description="a bundle as .tar.gz")],
    svc: ServiceDep,
    who: Auditor,
) -> VerifyReport:
    """Upload a bundle (`.tar.gz`) and verify it offline against the service's
    trusted keys (auditor). Rate-limited per token; archives are unpacked in a worker
    under the limits of docs/evidence.md (members, sizes, compression ratio)."""
    limit = svc.settings.max_upload_bytes
    if svc.jobs.spec.trust is None:
        raise HTTPException(503, "the service has no trusted-keys file configured")
    if not svc.verifies.allow(who.name):
        raise HTTPException(429, f"at most {svc.settings.verify_per_minute} verifications a minute")
    with tempfile.TemporaryDirectory(prefix="pilotproof-upload-") as tmp:
        path = Path(tmp) / "bundle.tar.gz"
        size = 0
        with path.open("wb") as f:
            while chunk := await bundle.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise HTTPException(413, f"bundles up to {limit:,} bytes")
                f.write(chunk)
        report = await svc.jobs.verify(path)
    # the report speaks of the upload by its name, never of the server's folders
    name = bundle.filename or "upload"
    report.bundle = name
    for x in [*(x for c in report.checks for x in c.findings), *report.warnings]:
        x.where = x.where.replace(str(path), name).replace(tmp, "")
        x.message = x.message.replace(str(path), name).replace(tmp, "")
    return report


def prune(settings: WebSettings, now: float) -> None:
    """Keep the newest `keep_bundles` built bundles younger than `keep_bundle_days`."""
    packed = sorted(settings.work_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    old = now - settings.keep_bundle_days * 86400
    for i, path in enumerate(packed):
        if i < len(packed) - settings.keep_bundles or path.stat().st_mtime < old:
            path.unlink(missing_ok=True)
            shutil.rmtree(path.with_name(path.name.removesuffix(".tar.gz")), ignore_errors=True)
