"""Point-issuance figures for /metrics: webhook deliveries by state, and each program's budget and its use.

Read from the database at each scrape (the figures are the ledger's, not a process's counters), so every
replica of the service reports the same numbers. Utilisation is a ratio for dashboards, never money.
"""

import logging

from fastapi import FastAPI
from sqlalchemy import func
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from common.metrics import Gauge
from common.models import OutboxEvent, Program

log = logging.getLogger("chiiki.mynapoint.metrics")

DELIVERIES = Gauge(
    "chiiki_webhook_deliveries",
    "Outbound webhook events by provider and state (pending is the backlog, failed awaits an operator)",
    ["provider", "status"],
)
BUDGET_YEN = Gauge(
    "chiiki_program_budget_yen",
    "A program's budget and the part of it reserved or posted",
    ["program", "municipality", "part"],
)
BUDGET_UTILISATION = Gauge(
    "chiiki_program_budget_utilisation_ratio", "(reserved + posted) / budget of a program", ["program", "municipality"]
)


async def refresh(app: FastAPI) -> None:
    try:
        async with app.state.db.reader() as session:
            deliveries = (
                await session.exec(
                    select(OutboxEvent.provider_id, OutboxEvent.status, func.count()).group_by(
                        OutboxEvent.provider_id, OutboxEvent.status
                    )
                )
            ).all()
            programs = (await session.exec(select(Program))).all()
    except DBAPIError as exc:  # a scrape must still answer when the database does not
        log.warning("could not read point-issuance metrics: %s", type(exc).__name__)
        return
    DELIVERIES.clear()
    for provider_id, status, count in deliveries:
        DELIVERIES.labels(provider_id, status).set(count)
    BUDGET_YEN.clear()
    BUDGET_UTILISATION.clear()
    for program in programs:
        labels = (program.id, program.municipality_code)
        BUDGET_YEN.labels(*labels, "budget").set(program.budget_yen)
        BUDGET_YEN.labels(*labels, "reserved").set(program.reserved_yen)
        BUDGET_YEN.labels(*labels, "posted").set(program.posted_yen)
        used = program.reserved_yen + program.posted_yen
        BUDGET_UTILISATION.labels(*labels).set(used / program.budget_yen if program.budget_yen else 0)
