"""`evidence`: build a signed bundle, download it, verify an uploaded one."""

import asyncio
import re
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import FileResponse

from kpi import UnknownProfileError, get_profile
from pilotproof.web.models import EvidenceBuilt, EvidenceRequest, Verified
from pilotproof.web.settings import WebSettings
from pilotproof.web.state import Auditor, Operator, Reader, ServiceDep
from telemetry import Inventory, InventoryError, StoreError, parse_inventory
from telemetry.timegrid import NS
from verifier import BuildError

#: what a bundle or report id looks like (they are made here): anything else is a 404
#: before the file system sees it (a 300-character name is an OSError, not a 404)
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")

#: an inventory upload beyond this is refused (a 1,000-element site is about 200 KB)
MAX_INVENTORY_BYTES = 1 << 20

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
    if not ID.match(bundle_id) or not path.is_file():
        raise HTTPException(404, f"no bundle {bundle_id!r} (bundles are kept a while)")
    return FileResponse(path, media_type="application/gzip", filename=path.name)


@router.post("/api/verify")
async def verify(
    bundle: Annotated[UploadFile, File(description="a bundle as .tar.gz")],
    svc: ServiceDep,
    who: Auditor,
    inventory: Annotated[
        UploadFile | None,
        File(description="the site's filed inventory (YAML, JSON or a site config's TOML): "
             "the bundle must have been computed from exactly it"),
    ] = None,
    pin_site: Annotated[
        bool,
        Form(description="pin to the inventory this service runs with (instead of a file)"),
    ] = False,
) -> Verified:  # fmt: skip
    """Upload a bundle (`.tar.gz`) and verify it offline against the service's trusted
    keys (auditor), optionally pinned to a filed inventory. Rate-limited per token;
    archives are unpacked in a worker under the limits of docs/evidence.md (members,
    sizes, compression ratio). The HTML report of the verification — a refused bundle's
    too — is kept for download at `report`."""
    limit = svc.settings.max_upload_bytes
    if svc.jobs.spec.trust is None:
        raise HTTPException(503, "the service has no trusted-keys file configured")
    if not svc.verifies.allow(who.name):
        raise HTTPException(429, f"at most {svc.settings.verify_per_minute} verifications a minute")
    with tempfile.TemporaryDirectory(prefix="pilotproof-upload-") as tmp:
        path = Path(tmp) / "bundle.tar.gz"
        await _save(bundle, path, limit, f"bundles up to {limit:,} bytes")
        pinned: Inventory | None = svc.inventory if pin_site else None
        if inventory is not None and inventory.filename:
            pinned = await _inventory(inventory)
        reports = svc.settings.work_dir / "reports"
        await asyncio.to_thread(reports.mkdir, parents=True, exist_ok=True)
        report_id = f"verify-{int(time.time())}-{secrets.token_hex(6)}"
        report = await svc.jobs.verify(
            path, name=bundle.filename or "upload", inventory=pinned,
            report=reports / f"{report_id}.html",
        )  # fmt: skip
    await asyncio.to_thread(prune, svc.settings, time.time())
    return Verified(**report.model_dump(), report=f"/api/reports/{report_id}")


async def _save(upload: UploadFile, path: Path, limit: int, refusal: str) -> None:
    """Write an upload to `path`, refusing it (413) once it passes `limit` bytes."""
    size = 0
    with path.open("wb") as f:
        while chunk := await upload.read(1 << 20):
            size += len(chunk)
            if size > limit:
                raise HTTPException(413, refusal)
            f.write(chunk)


async def _inventory(upload: UploadFile) -> Inventory:
    """The uploaded filed inventory, or 400 naming what is wrong with it. It is parsed
    from the bytes sent, never as a file: a site config that names an inventory file is
    refused, so an upload cannot make the service read its own files."""
    name = Path(upload.filename or "inventory").name[:100]
    limit = MAX_INVENTORY_BYTES
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"inventories up to {limit:,} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise HTTPException(
            400, f"the inventory: {name}: not UTF-8 text (byte {e.start})"
        ) from None
    toml = name.lower().endswith(".toml")
    try:
        return await asyncio.to_thread(parse_inventory, text, toml=toml, where=name)
    except InventoryError as e:
        raise HTTPException(400, f"the inventory: {e}") from None


@router.get(
    "/api/reports/{report_id}",
    response_class=FileResponse,
    responses={200: {"content": {"text/html": {}}}},
)
async def report(report_id: str, svc: ServiceDep, _: Auditor) -> FileResponse:
    """The HTML report of an earlier verification (kept like built bundles)."""
    path = svc.settings.work_dir / "reports" / f"{report_id}.html"
    if not ID.match(report_id) or not path.is_file():
        raise HTTPException(404, f"no report {report_id!r} (reports are kept a while)")
    return FileResponse(path, media_type="text/html; charset=utf-8",
                        filename=f"{report_id}.html")  # fmt: skip


def prune(settings: WebSettings, now: float) -> None:
    """Keep the newest `keep_bundles` built bundles younger than `keep_bundle_days`."""
    packed = sorted(settings.work_dir.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    old = now - settings.keep_bundle_days * 86400
    for i, path in enumerate(packed):
        if i < len(packed) - settings.keep_bundles or path.stat().st_mtime < old:
            path.unlink(missing_ok=True)
            shutil.rmtree(path.with_name(path.name.removesuffix(".tar.gz")), ignore_errors=True)
    kept = (settings.work_dir / "reports").glob("*.html")
    reports = sorted(kept, key=lambda p: p.stat().st_mtime)
    for i, path in enumerate(reports):
        if i < len(reports) - 10 * settings.keep_bundles or path.stat().st_mtime < old:
            path.unlink(missing_ok=True)
