"""Impact runs: one program, one set of inputs, over every municipality of the reference data, baseline against
reform. The job's state is in the database: a run interrupted by a restart is run again when the service starts.
"""

import asyncio
import csv
import io
import logging
from typing import Any

from fastapi import FastAPI
from pydantic import ValidationError

from common.auth import Principal
from common.db import Database
from common.errors import ChiikiError, NotFound
from common.ids import new_id
from common.models import SubsidyImpactJob
from common.timeutil import utcnow
from services.subsidy import repository
from services.subsidy.calculators import CALCULATORS
from services.subsidy.reference import MunicipalityFacts, ReferenceData
from services.subsidy.rulebook import Rulebook
from services.subsidy.saved import can_read
from services.subsidy.schemas import ImpactRequest
from services.subsidy.service import (
    ATTRIBUTE_NAMES,
    applied_fiscal_year,
    compute,
    parameters_for,
    program_of,
    validation_error,
)

log = logging.getLogger("chiiki.subsidy.impact")
CHUNK = 400  # rows between two progress commits (and two yields to the event loop)
CSV_COLUMNS = (
    "code",
    "name",
    "baseline_eligible",
    "baseline_amount",
    "reform_eligible",
    "reform_amount",
    "difference",
    "error",
)


def _check_request(rulebook: Rulebook, request: ImpactRequest) -> None:
    """What does not depend on the municipality is refused at once (422 naming the field), not in every row."""
    program = program_of(rulebook, request.program, in_path=False)
    fiscal_year, _ = applied_fiscal_year(program, request.fiscal_year)
    parameters_for(rulebook, program, fiscal_year, request.overrides)
    own = {name: value for name, value in request.inputs.items() if name not in ATTRIBUTE_NAMES}
    try:
        CALCULATORS[program.id].inputs.model_validate(own)
    except ValidationError as exc:
        raise validation_error(exc, "inputs") from None


async def create_job(
    session: Any, rulebook: Rulebook, reference: ReferenceData, principal: Principal, request: ImpactRequest
) -> SubsidyImpactJob:
    _check_request(rulebook, request)
    job = SubsidyImpactJob(
        id=new_id("impact"),
        program=request.program,
        fiscal_year=request.fiscal_year,
        inputs=request.inputs,
        overrides=request.overrides,
        status="queued",
        total=len(reference),
        created_by_key_id=principal.key_id,
    )
    await repository.add(session, job)
    return job


def _side(
    rulebook: Rulebook, job: SubsidyImpactJob, overrides: dict[str, Any], municipality: MunicipalityFacts
) -> tuple[bool, int]:
    result = compute(
        rulebook, job.program, job.fiscal_year, job.inputs, overrides, municipality, include_trace=False, in_path=False
    )
    return result["eligible"], result["amount"]


def impact_row(rulebook: Rulebook, job: SubsidyImpactJob, municipality: MunicipalityFacts) -> dict[str, Any]:
    row: dict[str, Any] = {"code": municipality.code, "name": municipality.name}
    try:
        row["baseline_eligible"], row["baseline_amount"] = _side(rulebook, job, {}, municipality)
        row["reform_eligible"], row["reform_amount"] = _side(rulebook, job, job.overrides, municipality)
    except ChiikiError as exc:  # e.g. a municipality without a 財政力指数: reported in its row
        return row | {
            "baseline_eligible": None,
            "baseline_amount": None,
            "reform_eligible": None,
            "reform_amount": None,
            "difference": None,
            "error": exc.message,
        }
    row["difference"] = row["reform_amount"] - row["baseline_amount"]
    return row


def totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    good = [row for row in rows if "error" not in row]
    return {
        "municipalities": len(rows),
        "errors": len(rows) - len(good),
        "baseline_amount": sum(row["baseline_amount"] for row in good),
        "reform_amount": sum(row["reform_amount"] for row in good),
        "difference": sum(row["difference"] for row in good),
        "baseline_eligible": sum(1 for row in good if row["baseline_eligible"]),
        "reform_eligible": sum(1 for row in good if row["reform_eligible"]),
        "gain": sum(1 for row in good if row["difference"] > 0),
        "lose": sum(1 for row in good if row["difference"] < 0),
        "unchanged": sum(1 for row in good if row["difference"] == 0),
        "become_eligible": sum(1 for row in good if row["reform_eligible"] and not row["baseline_eligible"]),
        "become_ineligible": sum(1 for row in good if row["baseline_eligible"] and not row["reform_eligible"]),
    }


async def _progress(db: Database, job_id: str, **changes: Any) -> SubsidyImpactJob:
    async with db.sessionmaker() as session:
        job = await repository.get_impact_job(session, job_id)
        if job is None:
            raise LookupError(f"impact job {job_id} vanished")
        for name, value in changes.items():
            setattr(job, name, value)
        session.add(job)
        await session.commit()
        return job


async def run_job(db: Database, rulebook: Rulebook, reference: ReferenceData, job_id: str) -> None:
    """Runs the job to its end, committing progress every CHUNK rows; a failure is recorded on the job."""
    try:
        job = await _progress(db, job_id, status="running", done=0, total=len(reference))
        municipalities = list(reference.by_code.values())
        rows: list[dict[str, Any]] = []
        for start in range(0, len(municipalities), CHUNK):
            rows += [impact_row(rulebook, job, m) for m in municipalities[start : start + CHUNK]]
            await _progress(db, job_id, done=len(rows))
            await asyncio.sleep(0)
        fiscal_year, _ = applied_fiscal_year(rulebook.programs[job.program], job.fiscal_year)
        result = {"rules_version": rulebook.version, "fiscal_year": fiscal_year, "totals": totals(rows), "rows": rows}
        await _progress(db, job_id, status="done", result=result, finished_at=utcnow())
    except Exception as exc:  # recorded on the job, which then answers "failed" instead of running forever
        log.exception("impact job %s failed", job_id)
        await _progress(db, job_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500], finished_at=utcnow())


async def run_in_app(app: FastAPI, job_id: str) -> None:
    reference = await app.state.reference.current(app.state.db)
    await run_job(app.state.db, app.state.rulebook, reference, job_id)


async def resume_unfinished(app: FastAPI) -> None:
    """At start: jobs left queued or running by a stopped process are run again from the beginning."""
    async with app.state.db.reader() as session:
        job_ids = await repository.unfinished_impact_job_ids(session)
    tasks: set[asyncio.Task[None]] = getattr(app.state, "impact_tasks", set())
    app.state.impact_tasks = tasks
    for job_id in job_ids:
        log.info("resuming impact job %s", job_id)
        task = asyncio.create_task(run_in_app(app, job_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


async def get_job(session: Any, principal: Principal, job_id: str) -> SubsidyImpactJob:
    job = await repository.get_impact_job(session, job_id)
    if job is None or not can_read(principal, None, job.created_by_key_id):
        raise NotFound(f"no impact job {job_id}", field="job_id")
    return job


def job_view(job: SubsidyImpactJob) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": job.id,
        "status": job.status,
        "program": job.program,
        "fiscal_year": job.fiscal_year,
        "inputs": job.inputs,
        "overrides": job.overrides,
        "progress": {"done": job.done, "total": job.total},
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }
    if job.error:
        view["error"] = job.error
    if job.result is not None:
        view["result"] = job.result
    return view


def job_csv(job: SubsidyImpactJob) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in (job.result or {}).get("rows", []):
        writer.writerow(row)
    return out.getvalue()
