"""/metrics of the point-issuance service: the delivery backlog and each program's budget use."""

import httpx

from tests.conftest import bearer
from tests.mynapoint.builders import application


def _sample(text: str, name: str, **labels) -> float | None:
    """The value of the series `name` with these labels in a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_metrics_show_backlog_and_budget_use(client, service_apps, app_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    for n in range(3):
        response = await client.post(url, headers=bearer(app_key), json=application(provider["id"], f"myki-{n:04d}"))
        assert response.json()["grant"]["status"] == "reserved"

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=service_apps["mynapoint"]), base_url="http://mynapoint.test"
    ) as direct:
        text = (await direct.get("/metrics")).text

    # Three grants of 5,000 reserved against a budget of 50,000: 15,000 used, 0.3 of the budget.
    labels = {"program": program["id"], "municipality": program["municipality_code"]}
    assert _sample(text, "chiiki_program_budget_yen", **labels, part="budget") == 50_000
    assert _sample(text, "chiiki_program_budget_yen", **labels, part="reserved") == 15_000
    assert _sample(text, "chiiki_program_budget_utilisation_ratio", **labels) == 0.3
    # Each grant wrote one grant.created event to the outbox, none delivered yet.
    assert _sample(text, "chiiki_webhook_deliveries", provider=provider["id"], status="pending") == 3
