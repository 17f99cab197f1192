"""remove.bg's "improve" submissions: images a client says we got wrong, kept for the operator.

A key may submit at most a daily cap (counted over the last 24 hours, under a lock on the key's
row so that replicas cannot overshoot it together). ``alphamatte improve export`` lays them
out as an eval source: ``<out>/improve/images/<id>.<ext>``, an empty ``alpha/`` for the ground
truth the operator draws, and ``submissions.json`` with each one's key, name and tag.
"""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, insert, select

from alphamatte.server.storage.schema import api_keys, improvements

SUFFIXES = {
    "JPEG": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "TIFF": ".tiff",
    "BMP": ".bmp",
    "GIF": ".gif",
    "HEIF": ".heic",
    "AVIF": ".avif",
}


class DailyCapError(Exception):
    """The key has submitted its daily cap already."""


class NotInGoodStandingError(Exception):
    """The key has no valid credit: it may not store images."""


class RevokedError(Exception):
    """The key was revoked (checked here, not trusted from the key cache)."""


@dataclass(frozen=True)
class Submission:
    id: str
    key_id: int
    filename: str
    tag: str
    size: int  # bytes of the image
    created_at: datetime


def submit(
    engine: Engine,
    key_id: int,
    image: bytes,
    *,
    filename: str,
    tag: str,
    daily_cap: int,
    daily_bytes: int,
) -> str:
    """Store one submission; its id. :class:`DailyCapError` past the key's daily cap (a
    count and a number of bytes), :class:`RevokedError` for a revoked key,
    :class:`NotInGoodStandingError` for one expired or without credit (storage is offered to
    paying keys only)."""
    now = datetime.now().replace(microsecond=0)
    ident = str(uuid.uuid4())
    with engine.begin() as conn:
        row = conn.execute(
            select(api_keys.c.revoked, api_keys.c.credits, api_keys.c.expires_at)
            .where(api_keys.c.id == key_id)
            .with_for_update()
        ).one_or_none()
        if row is None or row.revoked:
            raise RevokedError("the key is revoked")
        if row.credits <= 0 or (row.expires_at is not None and row.expires_at <= now):
            raise NotInGoodStandingError("a key with valid credits may submit improvements")
        recent, stored = conn.execute(
            select(func.count(), func.coalesce(func.sum(func.length(improvements.c.image)), 0))
            .select_from(improvements)
            .where(improvements.c.key_id == key_id)
            .where(improvements.c.created_at > now - timedelta(days=1))
        ).one()
        if recent >= daily_cap:
            raise DailyCapError(f"at most {daily_cap} submissions a day per key")
        if stored + len(image) > daily_bytes:
            raise DailyCapError(f"at most {daily_bytes:,} bytes of images a day per key")
        conn.execute(
            insert(improvements).values(
                id=ident,
                key_id=key_id,
                filename=filename[:255],
                tag=tag[:255],
                image=image,
                created_at=now,
            )
        )
    return ident


def listed(engine: Engine) -> list[Submission]:
    """Every submission, oldest first, without its image."""
    columns = improvements.c
    query = select(
        columns.id,
        columns.key_id,
        columns.filename,
        columns.tag,
        func.length(columns.image),
        columns.created_at,
    ).order_by(columns.created_at, columns.id)
    with engine.connect() as conn:
        return [Submission(*row) for row in conn.execute(query)]


def export(engine: Engine, out: Path) -> int:
    """Write every submission under ``out/improve`` as an eval source; how many were written."""
    from PIL import Image

    source = out / "improve"
    (source / "images").mkdir(parents=True, exist_ok=True)
    (source / "alpha").mkdir(exist_ok=True)
    index = []
    with engine.connect() as conn:
        rows = conn.execute(select(improvements).order_by(improvements.c.created_at))
        for row in rows:
            data: bytes = row.image
            with Image.open(io.BytesIO(data)) as opened:
                suffix = SUFFIXES.get(opened.format or "", ".img")
            (source / "images" / f"{row.id}{suffix}").write_bytes(data)
            index.append(
                {
                    "id": row.id,
                    "key_id": row.key_id,
                    "filename": row.filename,
                    "tag": row.tag,
                    "created_at": row.created_at.isoformat(sep=" "),
                }
            )
    (source / "submissions.json").write_text(json.dumps(index, indent=2) + "\n")
    return len(index)
