"""Point issuance: providers, programs, rosters, applications and the two-phase ledger. Never commits.

Every budget movement is one UPDATE of the program's balances (conditional when it commits more money) and
one append-only ledger row, in the caller's transaction, so the committed totals always equal the ledger.
"""

import json
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from common.auth import Principal
from common.driver_sql import DriverConnection, DriverStatement, Outcome
from common.errors import Conflict, Forbidden, NotFound, Unprocessable
from common.models import Application, Grant, LedgerEntry, Municipality, OutboxEvent, Program, Provider, RosterEntry
from common.models.mynapoint import DeliveryStatus, GrantStatus, LedgerKind, ProgramKind
from common.money import apply_rate
from common.requestid import current_request_id
from common.settings import Settings
from common.ids import new_id
from common.timeutil import JST, utcnow
from common.error_codes import ErrorCode
from services.mynapoint import repository, signing
from services.mynapoint.idempotency import Forget, Remember
from services.mynapoint.identity import is_my_number, myki_hash
from services.mynapoint.repository import ProgramTerms, ResidentAttributes
from services.mynapoint.schemas import ApplicationCreate, ChargeCompleted, ProgramCreate, ProviderUpdate, RosterRow
from services.mynapoint.templates import TEMPLATES

FIXED_SOURCE = "application"
CHARGE_SOURCE = "charge:"  # + the provider's charge id: a premium grant
RELINK_SOURCE = "relink:"  # + the voided fixed grant it replaces, after the resident re-linked an account
REDELIVER_SOURCE = "redeliver:"  # + the voided grant it replaces, after ops redelivered its failed grant.created
REPLACEMENT_SOURCES = (RELINK_SOURCE, REDELIVER_SOURCE)


# --- tenancy --------------------------------------------------------------------------------------------

def _is_ops(principal: Principal) -> bool:
    return principal.role == "ops"


async def program_for(session: AsyncSession, principal: Principal, program_id: str, *, manage: bool) -> Program:
    """The program if this caller may see it (manage: change it); 404 for another municipality's program."""
    program = await session.get(Program, program_id)
    if program is None:
        raise NotFound(f"no program {program_id}", field="program_id")
    if _is_ops(principal):
        return program
    if principal.role == "municipality":
        if principal.municipality_code != program.municipality_code:
            raise NotFound(f"no program {program_id}", field="program_id")
        return program
    if manage:
        raise Forbidden(f"the {principal.role} role cannot change programs")
    return program


# --- providers -------------------------------------------------------------------------------------------

async def create_provider(session: AsyncSession, name: str, webhook_url: str,
                          settings: Settings) -> tuple[Provider, str]:
    await signing.check_webhook_url(webhook_url, allow_insecure=settings.insecure_webhooks_allowed())
    secret = signing.new_secret()
    provider = Provider(id=new_id("prov"), name=name, webhook_url=webhook_url, webhook_secret=secret)
    session.add(provider)
    await session.flush()
    return provider, secret


async def update_provider(session: AsyncSession, provider_id: str, body: ProviderUpdate,
                          settings: Settings) -> Provider:
    """A new name or endpoint URL (checked as at onboarding); events not yet delivered go to the new URL."""
    provider = await _provider(session, provider_id)
    changes = body.model_dump(exclude_unset=True)
    if None in changes.values():
        field = next(name for name, value in changes.items() if value is None)
        raise Unprocessable(f"{field} cannot be empty; leave it out to keep it", field=field)
    if "webhook_url" in changes:
        await signing.check_webhook_url(changes["webhook_url"], allow_insecure=settings.insecure_webhooks_allowed())
    for name, value in changes.items():
        setattr(provider, name, value)
    session.add(provider)
    await session.flush()
    return provider


async def enable_webhooks(session: AsyncSession, provider_id: str) -> Provider:
    """Deliveries to an endpoint that a 410 disabled start again. Its events that failed meanwhile stay failed
    until ops redeliver them, each on its own (a failed grant.created's voided grant is reserved again then)."""
    provider = await _provider(session, provider_id)
    provider.webhook_disabled_at = None
    session.add(provider)
    await session.flush()
    return provider


async def rotate_secret(session: AsyncSession, provider_id: str, overlap_hours: int) -> tuple[Provider, str]:
    """A new secret; the old one keeps signing alongside it (two signatures) until the overlap ends."""
    provider = await _provider(session, provider_id)
    secret = signing.new_secret()
    provider.previous_webhook_secret = provider.webhook_secret
    provider.previous_secret_expires_at = utcnow() + timedelta(hours=overlap_hours)
    provider.webhook_secret = secret
    session.add(provider)
    await session.flush()
    return provider, secret


def live_secrets(provider: Provider | repository.ProviderSecrets, now: datetime) -> list[str]:
    found = [provider.webhook_secret] if provider.webhook_secret else []
    expires = provider.previous_secret_expires_at
    if provider.previous_webhook_secret and expires and _aware(expires) > now:
        found.append(provider.previous_webhook_secret)
    return found


async def _provider(session: AsyncSession, provider_id: str) -> Provider:
    provider = await session.get(Provider, provider_id)
    if provider is None:
        raise NotFound(f"no provider {provider_id}", field="provider_id")
    return provider


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- programs --------------------------------------------------------------------------------------------

def _program_fields(body: ProgramCreate) -> dict:
    fields = body.model_dump(exclude_none=True, exclude={"template", "eligibility"})
    if body.template is not None:
        if body.template not in TEMPLATES:
            raise Unprocessable(f"unknown template; use one of {', '.join(TEMPLATES)}", field="template")
        template = {k: v for k, v in TEMPLATES[body.template].items() if k != "description"}
        fields = {**template, **fields}
    for name in ("kind", "opens_at", "closes_at"):
        if name not in fields:
            raise Unprocessable(f"{name} is required (or a template that sets it)", field=name)
    # SQLite keeps datetimes without their offset, so every stored instant is UTC.
    fields["opens_at"], fields["closes_at"] = (fields[n].astimezone(UTC) for n in ("opens_at", "closes_at"))
    if fields["closes_at"] <= fields["opens_at"]:
        raise Unprocessable("closes_at must be after opens_at", field="closes_at")
    if fields["kind"] == "fixed" and not fields.get("points_per_person"):
        raise Unprocessable("a fixed program needs points_per_person", field="points_per_person")
    if fields["kind"] == "premium" and not fields.get("premium_rate"):
        raise Unprocessable("a premium program needs premium_rate", field="premium_rate")
    return fields


async def create_program(session: AsyncSession, principal: Principal, body: ProgramCreate) -> Program:
    if principal.role == "municipality" and principal.municipality_code != body.municipality_code:
        raise Forbidden("a municipality key creates programs only for its own municipality", field="municipality_code")
    if await session.get(Municipality, body.municipality_code) is None:
        raise NotFound(f"no municipality with code {body.municipality_code}", field="municipality_code")
    for index, provider_id in enumerate(body.provider_ids):
        if await session.get(Provider, provider_id) is None:
            raise NotFound(f"no provider {provider_id}", field=f"provider_ids.{index}")
    fields = _program_fields(body)
    budget = fields.pop("budget_yen")
    program = Program(id=new_id("prog"), template=body.template, budget_yen=0,
                      eligibility=body.eligibility.model_dump(mode="json", exclude_none=True), **fields)
    session.add(program)
    await session.flush()
    if budget:
        await _move(session, program.id, LedgerKind.fund, budget=budget)
    await session.refresh(program)
    return program


async def fund_program(session: AsyncSession, principal: Principal, program_id: str, amount: int) -> Program:
    program = await program_for(session, principal, program_id, manage=True)
    await _move(session, program.id, LedgerKind.fund, budget=amount)
    await session.refresh(program)
    return program


async def _move(session: AsyncSession, program_id: str, kind: LedgerKind, *, budget: int = 0, reserved: int = 0,
                posted: int = 0, grant: Grant | None = None) -> bool:
    """One budget movement: the conditional balance update, and its ledger row only if it applied."""
    if not await repository.adjust_balances(session, program_id, budget=budget, reserved=reserved, posted=posted):
        return False
    session.add(LedgerEntry(program_id=program_id, kind=kind, budget_delta=budget, reserved_delta=reserved,
                            posted_delta=posted, grant_id=grant.id if grant else None,
                            provider_id=grant.provider_id if grant else None, request_id=current_request_id()))
    await session.flush()
    return True


# --- roster ----------------------------------------------------------------------------------------------

async def upsert_roster(session: AsyncSession, principal: Principal, program_id: str, rows: list[dict],
                        secret: bytes) -> dict:
    """All rows or none: every row is validated first, and any error leaves the roster untouched."""
    program = await program_for(session, principal, program_id, manage=True)
    entries, errors = {}, []
    for number, raw in enumerate(rows, start=1):
        entry = _roster_entry(program.id, raw, secret, number, errors)
        if entry is not None:
            entries[entry.myki_hash] = entry
    if errors:
        return {"upserted": 0, "errors": errors}
    for entry in entries.values():
        await session.merge(entry)
    await session.flush()
    return {"upserted": len(entries), "errors": []}


def _roster_entry(program_id: str, raw: dict, secret: bytes, number: int, errors: list) -> RosterEntry | None:
    try:
        row = RosterRow.model_validate(raw)
    except ValueError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        errors.append({"row": number, "field": field, "message": first["msg"]})
        return None
    try:
        digest = myki_hash(row.myki_id, secret)
    except Unprocessable as exc:
        errors.append({"row": number, "field": "myki_id", "message": exc.message})
        return None
    return RosterEntry(program_id=program_id, myki_hash=digest, birth_date=row.birth_date,
                       household_with_children=row.household_with_children, income_band=row.income_band,
                       activity_participation=row.activity_participation, updated_at=utcnow())


# --- eligibility -----------------------------------------------------------------------------------------

def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def eligibility_reasons(program: Program | ProgramTerms, entry: RosterEntry | ResidentAttributes | None,
                        now: datetime) -> list[dict]:
    """Why a resident may not receive this program's points, in plain words; empty when eligible."""
    if not _aware(program.opens_at) <= now < _aware(program.closes_at):
        return [_reason("outside_window", "Applications for this program are not open now "
                        f"(open {_aware(program.opens_at).astimezone(JST):%Y-%m-%d} to "
                        f"{_aware(program.closes_at).astimezone(JST):%Y-%m-%d} JST).")]
    if entry is None:
        return [_reason("not_on_roster", "You are not on the municipality's list of residents for this program; "
                        "please ask the municipality.")]
    rules, reasons = program.eligibility, []
    if rules.get("min_age") is not None or rules.get("max_age") is not None:
        reasons += _age_reasons(program, entry, rules)
    if rules.get("household_with_children") and not entry.household_with_children:
        reasons.append(_reason("no_children_in_household", "This program is for households with children."))
    band = rules.get("max_income_band")
    if band is not None and (entry.income_band is None or entry.income_band > band):
        reasons.append(_reason("income_too_high", f"This program is for income band {band} or below."))
    if rules.get("requires_activity") and not entry.activity_participation:
        reasons.append(_reason("no_activity", "This program is for residents who took part in the local activity."))
    return reasons


def _age_reasons(program: Program | ProgramTerms, entry: RosterEntry | ResidentAttributes,
                 rules: dict) -> list[dict]:
    if entry.birth_date is None:
        return [_reason("birth_date_unknown", "The municipality has no birth date for you; please ask it.")]
    reference = rules.get("age_reference_date")
    day = date.fromisoformat(reference) if reference else _aware(program.opens_at).astimezone(JST).date()
    age = _age_on(entry.birth_date, day)
    if rules.get("min_age") is not None and age < rules["min_age"]:
        return [_reason("too_young", f"You must be at least {rules['min_age']} on {day:%Y-%m-%d}.")]
    if rules.get("max_age") is not None and age > rules["max_age"]:
        return [_reason("too_old", f"This program is for people aged {rules['max_age']} or under on {day:%Y-%m-%d}.")]
    return []


def _reason(code: str, message: str) -> dict:
    return {"code": code, "message": message}


BUDGET_EXHAUSTED = _reason("budget_exhausted", "You are eligible, but this program's budget is used up.")


# --- applications ----------------------------------------------------------------------------------------

def applicant_read(program_id: str, body: ApplicationCreate, settings: Settings) -> tuple[DriverStatement, dict]:
    """The read an application starts with, for the Idempotency-Key claim to carry in its round trip."""
    return repository.APPLICANT, {"program_id": program_id, "myki_hash": myki_hash(body.myki_id,
                                                                                   settings.myki_secret_bytes())}


async def apply(session: AsyncSession, program_id: str, body: ApplicationCreate, settings: Settings,
                remember: Remember = Forget(), applicant: Outcome | None = None) -> dict:
    """A resident's application; `remember` stores the response (Idempotency-Key) in this same transaction.

    The path every new resident takes is driver-level SQL: one query reads the program, the roster entry and
    any earlier application (`applicant`, when the claim of the Idempotency-Key already ran it), and one batch
    writes the application, its grant and the reservation, and commits."""
    read, values = applicant_read(program_id, body, settings)
    digest = values["myki_hash"]
    sql = DriverConnection(session)
    found = repository.applicant_from(applicant or await sql.run(read, commit=True, **values), program_id)
    if found is None:
        raise NotFound(f"no program {program_id}", field="program_id")
    program, entry, earlier_application_id = found
    if body.provider_id not in program.provider_ids:
        raise Unprocessable("this program does not run on that payment service", field="provider_id")
    if is_my_number(body.provider_account_id):
        raise Unprocessable("a 12-digit 個人番号 (My Number) must never be sent; send the payment account's own id",
                            code=ErrorCode.INVALID_IDENTITY, field="provider_account_id")
    if earlier_application_id is not None:
        return await _apply_again(session, program_id, digest, body, settings)
    now = utcnow()
    reasons = eligibility_reasons(program, entry, now)
    if reasons:
        return {"application_id": None, "eligible": False, "reasons": reasons, "grant": None}
    return await _admit(session, sql, program, digest, body, settings, now, remember)


async def _apply_again(session: AsyncSession, program_id: str, digest: str, body: ApplicationCreate,
                       settings: Settings) -> dict:
    """The resident has an application: its outcome again, or re-linking it after the account was unlinked."""
    program = await session.get(Program, program_id)
    existing = await repository.application_for(session, program_id, digest)
    if existing.unlinked_at is not None:
        return await relink(session, program, existing, body, settings)
    return await _application_result(session, existing)


async def _admit(session: AsyncSession, sql: DriverConnection, program: ProgramTerms, digest: str,
                 body: ApplicationCreate, settings: Settings, now: datetime, remember: Remember) -> dict:
    """Record the application and, for a fixed program, reserve its grant — all or nothing, in one batch that
    also stores the response and commits (outside the tests' savepoints), so one round trip does all of it.

    The reservation is the batch's last statement (the response is remembered before it), so the program row
    — which every application of the program contends for — stays locked only from that UPDATE to the
    COMMIT right behind it. When the budget does not cover the grant, the program's CHECK constraint fails
    the batch and the whole transaction is rolled back: the resident may apply again after a top-up.
    """
    application = {"id": new_id("appl"), "program_id": program.id, "myki_hash": digest,
                   "provider_id": body.provider_id, "provider_account_id": body.provider_account_id,
                   "granted_yen": 0, "request_id": current_request_id(), "created_at": now}
    result = {"application_id": application["id"], "eligible": True, "reasons": [], "grant": None}
    grant_rows, reservation = [], []
    if program.kind == ProgramKind.fixed:
        grant = _new_grant(program, application, FIXED_SOURCE, program.points_per_person, settings, now)
        result["grant"] = {"id": grant["id"], "points": grant["points"], "status": grant["status"]}
        grant_rows = _grant_rows(grant, application["provider_account_id"])
        reservation = [(repository.RESERVE, {"program_id": program.id, "points": grant["points"]})]
    batch = [(repository.INSERT_APPLICATION, application), *grant_rows, *remember.statements(result), *reservation]
    try:
        await sql.run_all(batch, commit=True)
    except sql.integrity_error as error:
        await session.rollback()
        if sql.violated_constraint(error) == repository.BUDGET_CONSTRAINT:
            return {"application_id": None, "eligible": True, "reasons": [BUDGET_EXHAUSTED], "grant": None}
        if await repository.application_for(session, program.id, digest) is None:
            raise
        # The same resident, admitted concurrently by another request that has committed since.
        return await _apply_again(session, program.id, digest, body, settings)
    return result


def _new_grant(program: ProgramTerms, application: dict, source: str, points: int, settings: Settings,
               now: datetime) -> dict:
    return {"id": new_id("gr"), "program_id": program.id, "application_id": application["id"],
            "provider_id": application["provider_id"], "myki_hash": application["myki_hash"], "source": source,
            "points": points, "status": GrantStatus.reserved.value,
            "expires_at": now + timedelta(hours=settings.grant_reservation_hours), "created_at": now}


def _grant_rows(grant: dict, provider_account_id: str) -> list[tuple[DriverStatement, dict]]:
    """write_grant's rows for a batch: the grant, its ledger row and its grant.created webhook."""
    ledger_entry = {"program_id": grant["program_id"], "grant_id": grant["id"], "provider_id": grant["provider_id"],
                    "kind": LedgerKind.reserve.value, "budget_delta": 0, "reserved_delta": grant["points"],
                    "posted_delta": 0, "request_id": current_request_id(), "created_at": grant["created_at"]}
    event = outbox_row(grant["provider_id"], "grant.created", _grant_created(
        grant["id"], grant["program_id"], provider_account_id, grant["points"], grant["expires_at"]))
    return [(repository.INSERT_GRANT, grant), (repository.INSERT_LEDGER_ENTRY, ledger_entry),
            (repository.INSERT_OUTBOX_EVENT, event)]


def _grant_created(grant_id: str, program_id: str, provider_account_id: str, points: int,
                   expires_at: datetime) -> dict:
    return {"grant_id": grant_id, "program_id": program_id, "provider_account_id": provider_account_id,
            "points": points, "expires_at": expires_at.isoformat()}


async def _application_result(session: AsyncSession, application: Application) -> dict:
    program = await session.get(Program, application.program_id)
    grant = await latest_fixed_grant(session, program.id, application.myki_hash) \
        if program.kind == ProgramKind.fixed else None
    return {"application_id": application.id, "eligible": True, "reasons": [], "grant": _grant_brief(grant)}


async def latest_fixed_grant(session: AsyncSession, program_id: str, myki_hash: str) -> Grant | None:
    """A fixed program's newest grant for the resident: the application's, or the one that replaced it last."""
    return await repository.latest_grant(session, program_id, myki_hash, FIXED_SOURCE, REPLACEMENT_SOURCES)


def _grant_brief(grant: Grant | None) -> dict | None:
    return None if grant is None else {"id": grant.id, "points": grant.points, "status": str(grant.status)}


async def reserve_grant(session: AsyncSession, program: Program, application: Application, source: str,
                        points: int, settings: Settings, now: datetime) -> Grant | None:
    """The grant, then its reservation; None when the budget does not cover it (the caller rolls back)."""
    grant = await write_grant(session, program, application, source, points, settings, now)
    if not await repository.adjust_balances(session, program.id, reserved=points):
        return None
    return grant


async def write_grant(session: AsyncSession, program: Program, application: Application, source: str,
                      points: int, settings: Settings, now: datetime) -> Grant:
    """A reserved grant, its ledger row and its grant.created webhook; the budget UPDATE is the caller's."""
    grant = Grant(id=new_id("gr"), program_id=program.id, application_id=application.id,
                  provider_id=application.provider_id, myki_hash=application.myki_hash, source=source,
                  points=points, expires_at=now + timedelta(hours=settings.grant_reservation_hours))
    session.add(grant)
    await session.flush()
    session.add(LedgerEntry(program_id=program.id, kind=LedgerKind.reserve, reserved_delta=points, grant_id=grant.id,
                            provider_id=grant.provider_id, request_id=current_request_id()))
    enqueue(session, grant.provider_id, "grant.created", _grant_created(
        grant.id, program.id, application.provider_account_id, points, grant.expires_at))
    await session.flush()
    return grant


def enqueue(session: AsyncSession, provider_id: str, event_type: str, data: dict,
            not_before: datetime | None = None) -> OutboxEvent:
    """An outbound webhook in the caller's transaction (the transactional outbox)."""
    event = OutboxEvent(**outbox_row(provider_id, event_type, data))
    if not_before is not None and not_before > event.next_attempt_at:
        event.next_attempt_at = not_before
    session.add(event)
    return event


def outbox_row(provider_id: str, event_type: str, data: dict) -> dict:
    now = utcnow()
    body = json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data},
                      ensure_ascii=False, separators=(",", ":"))
    return {"id": new_id("msg"), "provider_id": provider_id, "event_type": event_type,
            "grant_id": data.get("grant_id"), "body": body, "status": DeliveryStatus.pending.value, "attempts": 0,
            "next_attempt_at": now, "created_at": now}


# --- resolving grants ------------------------------------------------------------------------------------

async def credit_grant(session: AsyncSession, provider_id: str, grant_id: str) -> str:
    """grant.credited: post a reservation (once); an outcome word for the inbound-webhook record."""
    grant = await session.get(Grant, grant_id)
    if grant is None or grant.provider_id != provider_id:
        return "rejected: no such grant for this provider"
    if not await repository.set_grant_status(session, grant.id, GrantStatus.reserved, GrantStatus.posted, utcnow()):
        return f"ignored: grant already {(await _fresh_status(session, grant))}"
    await _move(session, grant.program_id, LedgerKind.post, reserved=-grant.points, posted=grant.points, grant=grant)
    return "posted"


async def void_grant(session: AsyncSession, grant_id: str) -> bool:
    """Free a reservation (expiry, unlinked account) and withdraw it from the provider; false if already resolved."""
    grant = await _void(session, grant_id)
    if grant is None:
        return False
    await withdraw_from_provider(session, grant)
    return True


async def void_undelivered_grant(session: AsyncSession, grant_id: str) -> bool:
    """Free a reservation whose grant.created finally failed: the provider never got it, so nothing is sent."""
    return await _void(session, grant_id) is not None


async def _void(session: AsyncSession, grant_id: str) -> Grant | None:
    grant = await session.get(Grant, grant_id)
    if grant is None or not await repository.set_grant_status(
            session, grant.id, GrantStatus.reserved, GrantStatus.voided, utcnow()):
        return None
    await _undo_reservation(session, grant)
    return grant


async def withdraw_from_provider(session: AsyncSession, grant: Grant) -> None:
    """A voided reservation must never be credited: its grant.created is cancelled if it was never sent and no
    worker is sending it; otherwise the provider has it, or may have it, and is sent grant.revoked."""
    now = utcnow()
    if await repository.cancel_grant_created(session, grant.id, now, attempted=False):
        return
    # An earlier attempt may have landed although it failed: no more retries, and the provider hears it is void.
    await repository.cancel_grant_created(session, grant.id, now, attempted=True)
    in_flight_until = await repository.grant_created_lease(session, grant.id, now)
    # After the lease ends, so a grant.created being sent right now reaches the provider before its revocation.
    tell_revoked(session, grant, not_before=_aware(in_flight_until) if in_flight_until else None)


def tell_revoked(session: AsyncSession, grant: Grant, not_before: datetime | None = None) -> None:
    enqueue(session, grant.provider_id, "grant.revoked",
            {"grant_id": grant.id, "program_id": grant.program_id, "points": grant.points}, not_before)


async def _undo_reservation(session: AsyncSession, grant: Grant) -> None:
    """Void's money side: the budget is freed, and a premium grant's points no longer count against the cap."""
    await _move(session, grant.program_id, LedgerKind.void, reserved=-grant.points, grant=grant)
    await _give_back_to_cap(session, grant)


async def _give_back_to_cap(session: AsyncSession, grant: Grant) -> None:
    """A premium grant that is voided or revoked stops counting against the resident's per-person cap.

    Known by its program, not its source: a premium grant redelivered after a failure has a `redeliver:` source."""
    program = await session.get(Program, grant.program_id)
    if program.kind == ProgramKind.premium:
        await repository.add_to_person_total_unchecked(session, grant.application_id, -grant.points)


async def revoke_grant(session: AsyncSession, principal: Principal, grant_id: str) -> Grant:
    grant = await session.get(Grant, grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id}", field="grant_id")
    await program_for(session, principal, grant.program_id, manage=True)
    now = utcnow()
    if await repository.set_grant_status(session, grant.id, GrantStatus.reserved, GrantStatus.voided, now):
        await _undo_reservation(session, grant)
        await withdraw_from_provider(session, grant)
    elif await repository.set_grant_status(session, grant.id, GrantStatus.posted, GrantStatus.revoked, now):
        await _move(session, grant.program_id, LedgerKind.revoke, posted=-grant.points, grant=grant)
        await _give_back_to_cap(session, grant)
        tell_revoked(session, grant)
    else:
        raise Unprocessable(f"grant {grant_id} is already {await _fresh_status(session, grant)}",
                            code=ErrorCode.GRANT_RESOLVED, field="grant_id")
    await session.flush()
    await session.refresh(grant)
    return grant


async def _fresh_status(session: AsyncSession, grant: Grant) -> str:
    await session.refresh(grant)
    return str(grant.status)


async def void_expired_reservations(session: AsyncSession) -> int:
    return sum([await void_grant(session, grant_id)
                for grant_id in await repository.expired_reservations(session, utcnow())])


# --- unlinked payment accounts ---------------------------------------------------------------------------

async def unlink_account(session: AsyncSession, provider_id: str, data: dict) -> str:
    """account.unlinked: the resident's applications on that account (of one program when program_id is given)
    are marked unlinked and their reservations voided; posted grants stay, as those points already landed.
    Later charges on the account are refused. An outcome sentence for the inbound-webhook record."""
    account, program_id = data.get("provider_account_id"), data.get("program_id")
    if not isinstance(account, str) or not account:
        return "rejected: provider_account_id missing"
    if program_id is not None and not isinstance(program_id, str):
        return "rejected: program_id must be a string"
    now = utcnow()
    unlinked = voided = 0
    for application in await repository.linked_applications_on_account(session, provider_id, account, program_id):
        if await repository.mark_unlinked(session, application.id, now):
            unlinked += 1
            for grant_id in await repository.reserved_grant_ids(session, application.id):
                voided += await void_grant(session, grant_id)
    return f"unlinked {_count(unlinked, 'application')}, voided {_count(voided, 'grant')}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


async def relink(session: AsyncSession, program: Program, application: Application, body: ApplicationCreate,
                 settings: Settings) -> dict:
    """The resident applies again after the account was unlinked: the application moves to the new account.

    Re-linking is applying again, so the window and the roster are checked again. In a fixed program, when the
    resident's newest fixed grant is voided (its points never landed: the unlink voided the reservation, or it
    failed or expired before), a new grant is reserved with source `relink:<voided grant id>`. A voided grant is
    final, the UNIQUE (program, resident, source) lets each voided grant be replaced once, and a posted (or
    revoked) grant is never replaced, so a resident holds at most one live fixed grant at any time.
    """
    now = utcnow()
    reasons = eligibility_reasons(program, await repository.roster_entry(session, program.id, application.myki_hash),
                                  now)
    if reasons:
        return {"application_id": None, "eligible": False, "reasons": reasons, "grant": None}
    relinked = await repository.relink(session, application.id, body.provider_id, body.provider_account_id)
    await session.refresh(application)
    if not relinked or program.kind != ProgramKind.fixed:  # not relinked: a concurrent request just did it
        return await _application_result(session, application)
    previous = await latest_fixed_grant(session, program.id, application.myki_hash)
    if previous is None or previous.status != GrantStatus.voided:
        return await _application_result(session, application)
    source = f"{RELINK_SOURCE}{previous.id}"
    if await reserve_grant(session, program, application, source, program.points_per_person, settings, now) is None:
        await session.rollback()  # the application stays unlinked; the resident may try again after a top-up
        return {"application_id": None, "eligible": True, "reasons": [BUDGET_EXHAUSTED], "grant": None}
    return await _application_result(session, application)


# --- redelivery -----------------------------------------------------------------------------------------

async def redeliver(session: AsyncSession, event_id: str, settings: Settings) -> OutboxEvent:
    """Ops send an event again; the event that will be sent.

    A grant.created is sent again only while its grant is reserved. Its grant voided, sending it would offer the
    provider points nobody pays for (the provider's grant.credited is then ignored, and settlement never counts
    them), so the grant is reserved again as a new grant and that grant's own grant.created is sent instead. A
    posted or revoked grant has nothing left to deliver. Any other event is sent again as it is.
    """
    event = await session.get(OutboxEvent, event_id)
    if event is None:
        raise NotFound(f"no delivery {event_id}", field="event_id")
    if event.status == DeliveryStatus.cancelled:
        # Cancelled because its grant was voided: sending it now would offer the provider points nobody pays for.
        raise Unprocessable(f"delivery {event_id} was cancelled and is never sent", code=ErrorCode.DELIVERY_CANCELLED,
                            field="event_id")
    if (await _provider(session, event.provider_id)).webhook_disabled_at is not None:
        # It would fail at once, and a failed grant.created voids the grant reserved again for it.
        raise Unprocessable(f"provider {event.provider_id}'s endpoint was disabled by a 410; enable it first "
                            f"(POST /mynapoint/providers/{event.provider_id}/enable-webhooks)",
                            code=ErrorCode.ENDPOINT_DISABLED, field="event_id")
    # Locked: a void committing meanwhile waits, then finds the event pending and cancels it (or tells revoked).
    grant = await repository.grant_for_update(session, event.grant_id) \
        if event.event_type == "grant.created" and event.grant_id else None
    if grant is None or grant.status == GrantStatus.reserved:
        return await _requeue(session, event)
    if grant.status != GrantStatus.voided:
        raise Unprocessable(f"grant {grant.id} is already {grant.status}: nothing to deliver", code=ErrorCode.GRANT_RESOLVED,
                            field="event_id")
    return await _replace_undelivered_grant(session, event, grant, settings)


async def _requeue(session: AsyncSession, event: OutboxEvent) -> OutboxEvent:
    event.status, event.attempts, event.next_attempt_at = DeliveryStatus.pending, 0, utcnow()
    event.lease_until = event.lease_token = None
    session.add(event)
    await session.flush()
    return event


async def _replace_undelivered_grant(session: AsyncSession, event: OutboxEvent, voided: Grant,
                                     settings: Settings) -> OutboxEvent:
    """Reserve a grant voided by its own failed grant.created again, as a new grant with source
    `redeliver:<voided grant id>`; the new grant's grant.created (pending), while the old event stays failed.

    As with relink, the UNIQUE (program, resident, source) lets each voided grant be replaced once, and only the
    resident's newest fixed grant is replaced, so a resident never holds two live grants where one is allowed.
    Unlike relink, this is not applying again: the resident was found eligible and the grant approved, and only
    its delivery failed, so the roster is not checked again, but the window is (no grant is reserved after the
    program closed). A grant withdrawn on purpose (grant.revoked sent: revoked, expired, unlinked) is not
    replaced, nor one whose resident unlinked the account since (re-linking replaces it). The points are the
    voided grant's, all or none: within the budget (the conditional UPDATE of reserve_grant) and, for a premium
    grant, within the per-person cap. Any refusal raises, and the request's transaction is rolled back whole.
    """
    program = await session.get(Program, voided.program_id)
    application = await repository.application_for_update(session, voided.application_id)
    source = f"{REDELIVER_SOURCE}{voided.id}"
    await _check_replaceable(session, event, voided, program, application, source)
    if program.kind == ProgramKind.premium and not await _claim_within_cap(session, program, application,
                                                                           voided.points, whole=True):
        raise Unprocessable(f"the resident's per-person cap of {program.per_person_cap} points no longer has room "
                            f"for the {voided.points} points of grant {voided.id}", code=ErrorCode.PER_PERSON_CAP_REACHED,
                            field="event_id")
    replaced_meanwhile = _already_replaced(event, voided)  # made now: the rollback below expires the rows
    try:
        grant = await reserve_grant(session, program, application, source, voided.points, settings, utcnow())
    except IntegrityError:  # the UNIQUE source: a concurrent redelivery replaced it first
        await session.rollback()
        raise replaced_meanwhile from None
    if grant is None:
        raise Unprocessable(f"the program's budget no longer covers the {voided.points} points of grant "
                            f"{voided.id}", code=ErrorCode.BUDGET_EXHAUSTED, field="event_id")
    return await repository.grant_created_event(session, grant.id)


async def _check_replaceable(session: AsyncSession, event: OutboxEvent, voided: Grant, program: Program,
                             application: Application, source: str) -> None:
    replacement = await repository.grant_for(session, program.id, voided.myki_hash, source)
    if replacement is not None:
        raise _already_replaced(event, voided, replacement)
    if event.status != DeliveryStatus.failed or await repository.grant_revoked_sent(session, voided.id):
        raise Unprocessable(f"grant {voided.id} was voided and withdrawn from the provider: nothing to deliver",
                            code=ErrorCode.GRANT_RESOLVED, field="event_id")
    if application.unlinked_at is not None:
        raise Unprocessable("the resident's payment account was unlinked; the grant is reserved again when the "
                            "resident applies with another account", code=ErrorCode.ACCOUNT_UNLINKED, field="event_id")
    if not _aware(program.opens_at) <= utcnow() < _aware(program.closes_at):
        raise Unprocessable(f"program {program.id} is outside its application window: no grant is reserved again",
                            code=ErrorCode.OUTSIDE_WINDOW, field="event_id")
    if program.kind == ProgramKind.fixed:
        newest = await latest_fixed_grant(session, program.id, voided.myki_hash)
        if newest.id != voided.id:
            raise Unprocessable(f"grant {voided.id} was already replaced by {newest.id}", code=ErrorCode.GRANT_SUPERSEDED,
                                field="event_id")


def _already_replaced(event: OutboxEvent, voided: Grant, replacement: Grant | None = None) -> Conflict:
    by = f" by grant {replacement.id}" if replacement else ""
    return Conflict(f"delivery {event.id} was already redelivered: grant {voided.id} was reserved again{by}; "
                    "redeliver that grant's grant.created instead", code=ErrorCode.ALREADY_REDELIVERED, field="event_id")


# --- premium grants from charges -------------------------------------------------------------------------

async def charge_completed(session: AsyncSession, provider_id: str, data: dict, settings: Settings) -> str:
    """A qualifying charge: rate × amount in points, within the per-person cap and the budget, once per charge."""
    try:
        charge = ChargeCompleted.model_validate(data)
    except ValueError as exc:
        return f"rejected: {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}"
    program = await session.get(Program, charge.program_id)
    if program is None or program.kind != ProgramKind.premium:
        return "rejected: no premium program with that id"
    application = await repository.application_by_account(session, program.id, provider_id,
                                                          charge.provider_account_id)
    if application is None:
        return "rejected: no application for that account"
    if application.unlinked_at is not None:
        return "rejected: account unlinked"
    source = f"{CHARGE_SOURCE}{charge.charge_id}"
    if await repository.grant_for(session, program.id, application.myki_hash, source) is not None:
        return "ignored: charge already granted"
    points = await _claim_within_cap(session, program, application, apply_rate(charge.amount_yen,
                                                                                Fraction(program.premium_rate)))
    if points == 0:
        return "ignored: per-person cap reached"
    grant = await reserve_grant(session, program, application, source, points, settings, utcnow())
    if grant is None:
        raise BudgetExhausted()
    return f"reserved {points} points as {grant.id}"


class BudgetExhausted(Exception):
    """Raised inside the webhook's savepoint so that the person-total increase is undone with it."""


async def _claim_within_cap(session: AsyncSession, program: Program, application: Application, points: int, *,
                            whole: bool = False) -> int:
    """Add up to `points` (all of them or none when `whole`) to the resident's premium total, within the cap."""
    for _ in range(5):
        await session.refresh(application)
        room = points if program.per_person_cap is None else program.per_person_cap - application.granted_yen
        grantable = max(0, min(points, room))
        if grantable == 0 or (whole and grantable < points):
            return 0
        if await repository.add_to_person_total(session, application.id, grantable, program.per_person_cap,
                                                application.granted_yen):
            return grantable
    raise Unprocessable("the resident's total is changing too fast; retry", code=ErrorCode.BUSY)


# --- settlement and reconciliation -----------------------------------------------------------------------

def month_bounds(month: str) -> tuple[datetime, datetime]:
    """A calendar month in Japan time, as [start, end) instants."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime(year, number, 1, tzinfo=JST)
    except ValueError:
        raise Unprocessable("month must look like 2023-06", field="month") from None
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=JST)
    return start, end


async def settlements(session: AsyncSession, principal: Principal, month: str, municipality_code: str | None,
                      provider_id: str | None) -> list[dict]:
    if principal.role == "municipality":
        if municipality_code not in (None, principal.municipality_code):
            raise Forbidden("a municipality key sees only its own settlements", field="municipality")
        municipality_code = principal.municipality_code
    if principal.role == "provider":
        if provider_id not in (None, principal.provider_id):
            raise Forbidden("a provider key sees only its own settlements", field="provider")
        provider_id = principal.provider_id
    start, end = month_bounds(month)
    totals: dict[tuple[str, str], dict] = {}
    for code, provider, kind, posted, count in await repository.settlement_rows(
            session, start, end, municipality_code, provider_id):
        row = totals.setdefault((code, provider), {"municipality_code": code, "provider_id": provider, "month": month,
                                                   "credited_count": 0, "credited_yen": 0, "revoked_count": 0,
                                                   "revoked_yen": 0})
        if kind == LedgerKind.post:
            row["credited_count"], row["credited_yen"] = int(count), int(posted)
        else:
            row["revoked_count"], row["revoked_yen"] = int(count), -int(posted)
    for row in totals.values():
        row["net_yen"] = row["credited_yen"] - row["revoked_yen"]
    return [totals[key] for key in sorted(totals)]


async def reconcile(session: AsyncSession) -> list[str]:
    """Differences between each program's committed totals, its ledger and its grants; empty when all agree."""
    ledger = await repository.ledger_sums(session)
    grants = await repository.grant_sums(session)
    problems = []
    for program in (await session.exec(Program.__table__.select())).all():
        budget, reserved, posted = ledger.get(program.id, (0, 0, 0))
        committed = (program.budget_yen, program.reserved_yen, program.posted_yen)
        if committed != (budget, reserved, posted):
            problems.append(f"{program.id}: committed (budget, reserved, posted) {committed} "
                            f"but the ledger sums to {(budget, reserved, posted)}")
        if program.reserved_yen + program.posted_yen > program.budget_yen:
            problems.append(f"{program.id}: reserved + posted exceeds the budget {program.budget_yen}")
        by_grants = (grants.get((program.id, "reserved"), 0), grants.get((program.id, "posted"), 0))
        if by_grants != (program.reserved_yen, program.posted_yen):
            problems.append(f"{program.id}: live grants (reserved, posted) {by_grants} "
                            f"differ from the committed {(program.reserved_yen, program.posted_yen)}")
    return problems
