"""A FastAPI + SQLite peer of two Aegis endpoints, for side-by-side benchmarks.

It is written the way FastAPI's documentation suggests (a database dependency per request, an
OAuth2 bearer dependency that decodes the JWT with PyJWT, Pydantic response models) and reads the
very database file a running Aegis uses, opened read-only. It serves exactly:

- ``GET /api/v1/techniques`` (filters ``tactic``, ``status``, ``review_required``, ``platform``,
  ``q``, ``include_deprecated``), and
- ``GET /api/v1/metrics/by-tactic``,

with the same JSON values as Aegis, and the same bearer-token checks: HS256, issuer ``aegis``,
audience ``aegis-api``, ``exp``/``iat``/``iss``/``aud``/``sub`` required, then the user is loaded by
``sub`` on every request and must be active with a ``token_version`` equal to the ``ver`` claim.

Configuration: ``PEER_DATA_DIR`` is the Aegis data dir (``aegis.db`` and ``secret.key``).
``AEGIS_JWT_SECRET``, when set, is used instead of ``secret.key``, as Aegis does.

Run: ``python -m uvicorn app:app --app-dir benches/peer --host 127.0.0.1 --port 8001``
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel, StrictInt, StrictStr, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

ISSUER = "aegis"
AUDIENCE = "aegis-api"
MIN_SECRET_BYTES = 32


# --- configuration -----------------------------------------------------------------------------


def _data_dir() -> Path:
    value = os.environ.get("PEER_DATA_DIR")
    if not value:
        raise RuntimeError("PEER_DATA_DIR must name the Aegis data dir (holding aegis.db and secret.key)")
    return Path(value).resolve()


def _load_secret(data_dir: Path) -> bytes:
    """``AEGIS_JWT_SECRET`` (raw bytes) if set, else the hex-encoded key in ``secret.key``."""
    configured = os.environ.get("AEGIS_JWT_SECRET")
    if configured:
        secret = configured.encode()
    else:
        secret = bytes.fromhex((data_dir / "secret.key").read_text().strip())
    if len(secret) < MIN_SECRET_BYTES:
        raise RuntimeError(f"the token secret is {len(secret)} bytes; at least {MIN_SECRET_BYTES} are needed")
    return secret


DATA_DIR = _data_dir()
DB_PATH = DATA_DIR / "aegis.db"
if not DB_PATH.is_file():
    raise RuntimeError(f"{DB_PATH} does not exist; start Aegis on this data dir first")
DB_URI = f"{DB_PATH.as_uri()}?mode=ro"
SECRET = _load_secret(DATA_DIR)

app = FastAPI(title="Aegis peer (FastAPI)", version="1.0.0")


# --- errors: Aegis's {"detail", "code"} body ---------------------------------------------------


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, detail: str) -> None:
        self.status_code = status_code
        self.code = code
        self.detail = detail


def _error(status_code: int, code: str, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else None
    # Keys in Aegis's order (alphabetical), like the response models below.
    return JSONResponse({"code": code, "detail": detail}, status_code=status_code, headers=headers)


@app.exception_handler(ApiError)
async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return _error(exc.status_code, exc.code, exc.detail)


@app.exception_handler(RequestValidationError)
async def validation_error_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    # Aegis answers a query parameter it cannot parse with 400, not FastAPI's 422.
    messages = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "query")
        messages.append(f"{where}: {error.get('msg')}")
    return _error(400, "VALIDATION_ERROR", "; ".join(messages) or "invalid request")


@app.exception_handler(StarletteHTTPException)
async def http_error_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 404:
        return _error(404, "NOT_FOUND", "no such resource")
    if exc.status_code == 405:
        return _error(405, "METHOD_NOT_ALLOWED", "method not allowed on this path")
    return _error(exc.status_code, "VALIDATION_ERROR", str(exc.detail))


# --- dependencies ------------------------------------------------------------------------------


def get_db() -> Iterator[sqlite3.Connection]:
    """One read-only connection per request (FastAPI may run the dependency and the endpoint on
    different threadpool threads, hence ``check_same_thread=False``)."""
    conn = sqlite3.connect(DB_URI, uri=True, check_same_thread=False)
    try:
        yield conn
    finally:
        conn.close()


Db = Annotated[sqlite3.Connection, Depends(get_db)]

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


class TokenClaims(BaseModel):
    """The claims Aegis's tokens carry; types as strict as Aegis's own deserialisation."""

    sub: StrictStr
    exp: StrictInt
    iat: StrictInt
    iss: StrictStr
    aud: StrictStr
    ver: StrictInt


class User(BaseModel):
    id: str
    username: str
    role: str


def _invalid_token() -> ApiError:
    return ApiError(401, "UNAUTHORIZED", "invalid or expired token")


def get_current_user(token: Annotated[str | None, Depends(oauth2_scheme)], db: Db) -> User:
    if not token:  # no Authorization header, another scheme, or "Bearer" alone
        raise ApiError(401, "UNAUTHORIZED", "a valid bearer token is required")
    try:
        payload = jwt.decode(
            token,
            SECRET,
            algorithms=["HS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        claims = TokenClaims.model_validate(payload)
    except (jwt.InvalidTokenError, ValidationError):
        raise _invalid_token() from None
    # Role, active flag and token version come from the database on every request, never from
    # the token: a deactivated user or a token issued before a password/role change is refused.
    row = db.execute(
        "SELECT id, username, role, is_active, token_version FROM users WHERE id = ?", (claims.sub,)
    ).fetchone()
    if row is None or not row[3] or row[4] != claims.ver:
        raise _invalid_token()
    return User(id=row[0], username=row[1], role=row[2])


CurrentUser = Annotated[User, Depends(get_current_user)]


# --- models ------------------------------------------------------------------------------------


class CoverageStatus(str, Enum):
    not_evaluated = "not_evaluated"
    in_progress = "in_progress"
    validated = "validated"
    partial = "partial"
    not_covered = "not_covered"


# Fields are declared in the order Aegis writes them (alphabetical), so that the two servers'
# bodies can be compared byte for byte as well as by value.
class TechniqueSummary(BaseModel):
    deprecated: bool
    id: str
    is_subtechnique: bool
    mitre_id: str
    name: str
    parent_mitre_id: str | None
    platforms: list[str]
    review_required: bool
    revoked: bool
    status_global: CoverageStatus
    tactic: str | None
    tactics: list[str]


class TacticMetrics(BaseModel):
    coverage_percentage: float
    in_progress: int
    mitre_id: str
    name: str
    not_covered: int
    not_evaluated: int
    partial: int
    tactic: str
    total: int
    validated: int


# --- helpers -----------------------------------------------------------------------------------


def tactics_in_matrix_order(db: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(shortname, mitre_id, name) of every tactic, in ATT&CK matrix order."""
    return db.execute("SELECT shortname, mitre_id, name FROM tactics ORDER BY position").fetchall()


def resolve_tactic(db: sqlite3.Connection, value: str) -> str:
    """A tactic's shortname from its shortname, TA id or name, any case."""
    tactics = tactics_in_matrix_order(db)
    wanted = value.strip().lower()
    for shortname, mitre_id, name in tactics:
        if wanted in (shortname.lower(), mitre_id.lower(), name.lower()):
            return shortname
    known = ", ".join(shortname for shortname, _, _ in tactics)
    raise ApiError(400, "VALIDATION_ERROR", f"unknown tactic '{value}'; known tactics: {known}")


def coverage_percentage(validated: int, partial: int, total: int) -> float:
    """(validated + partial) / total x 100, rounded half away from zero to 2 decimals, as Aegis
    does (Python's round() would round half to even: 3.125 -> 3.12 instead of 3.13)."""
    if total == 0:
        return 0.0
    scaled = (validated + partial) / total * 100.0 * 100.0
    whole = math.floor(scaled)
    rounded = whole + 1 if scaled - whole >= 0.5 else whole
    return rounded / 100.0


# --- endpoints ---------------------------------------------------------------------------------


@app.get("/api/v1/techniques", response_model=list[TechniqueSummary])
def list_techniques(
    user: CurrentUser,
    db: Db,
    tactic: str | None = None,
    status: CoverageStatus | None = None,
    review_required: bool | None = None,
    platform: str | None = None,
    q: str | None = None,
    include_deprecated: bool = False,
):
    """Active techniques and sub-techniques ordered by ATT&CK id; revoked and deprecated ones
    only with ``include_deprecated=true``."""
    sql = (
        "SELECT id, mitre_id, name, platforms, status_global, is_subtechnique, parent_mitre_id,"
        " review_required, revoked, deprecated FROM techniques WHERE 1 = 1"
    )
    params: list[object] = []
    if not include_deprecated:
        sql += " AND revoked = 0 AND deprecated = 0"
    if tactic is not None:
        sql += " AND id IN (SELECT technique_id FROM technique_tactics WHERE tactic = ?)"
        params.append(resolve_tactic(db, tactic))
    if status is not None:
        sql += " AND status_global = ?"
        params.append(status.value)
    if review_required is not None:
        sql += " AND review_required = ?"
        params.append(int(review_required))
    sql += " ORDER BY mitre_id"
    rows = db.execute(sql, params).fetchall()

    tactics_of: dict[str, list[str]] = {}
    for technique_id, shortname in db.execute(
        "SELECT technique_id, tactic FROM technique_tactics ORDER BY technique_id, position"
    ):
        tactics_of.setdefault(technique_id, []).append(shortname)

    wanted_platform = platform.strip().lower() if platform is not None else None
    needle = q.strip().lower() if q is not None else ""

    techniques = []
    for row in rows:
        (technique_id, mitre_id, name, platforms_json, status_global, is_sub, parent, review, revoked, deprecated) = row
        platforms = json.loads(platforms_json)
        if wanted_platform is not None and wanted_platform not in platforms:
            continue
        if needle and needle not in mitre_id.lower() and needle not in name.lower():
            continue
        tactics = tactics_of.get(technique_id, [])
        techniques.append(
            {
                "id": technique_id,
                "mitre_id": mitre_id,
                "name": name,
                "tactic": tactics[0] if tactics else None,
                "tactics": tactics,
                "platforms": platforms,
                "status_global": status_global,
                "is_subtechnique": bool(is_sub),
                "parent_mitre_id": parent,
                "review_required": bool(review),
                "revoked": bool(revoked),
                "deprecated": bool(deprecated),
            }
        )
    return techniques


@app.get("/api/v1/metrics/by-tactic", response_model=list[TacticMetrics])
def metrics_by_tactic(user: CurrentUser, db: Db):
    """Every tactic in ATT&CK matrix order, with its active techniques counted by status; a
    technique counts under each of its tactics."""
    counts: dict[str, dict[str, int]] = {}
    for shortname, status, count in db.execute(
        "SELECT tt.tactic, t.status_global, COUNT(*) FROM technique_tactics tt"
        " JOIN techniques t ON t.id = tt.technique_id"
        " WHERE t.revoked = 0 AND t.deprecated = 0"
        " GROUP BY tt.tactic, t.status_global"
    ):
        counts.setdefault(shortname, {})[status] = count

    result = []
    for shortname, mitre_id, name in tactics_in_matrix_order(db):
        by_status = counts.get(shortname, {})
        validated = by_status.get("validated", 0)
        partial = by_status.get("partial", 0)
        not_covered = by_status.get("not_covered", 0)
        in_progress = by_status.get("in_progress", 0)
        not_evaluated = by_status.get("not_evaluated", 0)
        total = validated + partial + not_covered + in_progress + not_evaluated
        result.append(
            {
                "tactic": shortname,
                "name": name,
                "mitre_id": mitre_id,
                "total": total,
                "validated": validated,
                "partial": partial,
                "not_covered": not_covered,
                "not_evaluated": not_evaluated,
                "in_progress": in_progress,
                "coverage_percentage": coverage_percentage(validated, partial, total),
            }
        )
    return result
