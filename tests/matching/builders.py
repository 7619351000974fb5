"""Builders of the matching domain through the API: companies, advisers, needs, rounds and their preferences,
matches and their moves. Each returns the created resource's JSON, and fails the test on an unexpected status.

Reference facts used throughout: 夕張市 012092 (全部過疎, outside the 三大都市圏) and 氷見市 162051 (全部過疎) may host;
千代田区 131016 (三大都市圏, no 過疎) may not; 札幌市 011002 is outside the 三大都市圏."""

import httpx

from common.db import Database
from services.matching.demo import load_demo_data

YUBARI, HIMI, CHIYODA, SAPPORO, OSAKA, NAGOYA = "012092", "162051", "131016", "011002", "271004", "231002"
Headers = dict[str, str]


def municipality(code: str) -> str:
    return f"municipality:{code}"


def company_party(company: dict) -> str:
    return f"company:{company['id']}"


def adviser_party(adviser: dict) -> str:
    return f"adviser:{adviser['id']}"


def ident(party: str) -> str:
    """The id in a party name: `company:co_1` → `co_1`."""
    return party.partition(":")[2]


def created(response: httpx.Response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


async def add_company(
    client: httpx.AsyncClient, ops: Headers, name: str = "Tokyo Digital", head_office: str = CHIYODA, **extra
) -> dict:
    body = {
        "name": name,
        "municipality_code": head_office,
        "markets": ["kigyojin", "satellite_office"],
        "fields": ["ict_digital"],
        **extra,
    }
    return created(await client.post("/matching/companies", json=body, headers=ops))


async def add_adviser(
    client: httpx.AsyncClient, ops: Headers, name: str = "Adviser", home: str = SAPPORO, **extra
) -> dict:
    body = {"name": name, "adviser_type": "private_expert", "municipality_code": home, "fields": ["tourism"], **extra}
    return created(await client.post("/matching/advisers", json=body, headers=ops))


async def add_need(
    client: httpx.AsyncClient, headers: Headers, code: str = YUBARI, market: str = "kigyojin", **extra
) -> dict:
    body = {"market": market, "title": "DX of the town office", "fields": ["ict_digital"], **extra}
    return created(await client.post(f"/matching/municipalities/{code}/needs", json=body, headers=headers))


async def new_round(
    client: httpx.AsyncClient, ops: Headers, market: str = "kigyojin", proposing_side: str = "municipality"
) -> str:
    return created(
        await client.post(
            "/matching/rounds",
            headers=ops,
            json={"name": "サテライトオフィス・マッチングセミナー", "market": market, "proposing_side": proposing_side},
        )
    )["id"]


async def prefer(
    client: httpx.AsyncClient,
    headers: Headers,
    round_id: str,
    participant: str,
    ranking: list[str],
    capacity: int = 1,
    status: int = 200,
) -> httpx.Response:
    response = await client.post(
        f"/matching/rounds/{round_id}/preferences",
        headers=headers,
        json={"participant": participant, "capacity": capacity, "ranking": ranking},
    )
    assert response.status_code == status, response.text
    return response


async def solve(client: httpx.AsyncClient, ops: Headers, round_id: str) -> dict:
    response = await client.post(f"/matching/rounds/{round_id}/solve", headers=ops)
    assert response.status_code == 200, response.text
    return response.json()


async def propose(client: httpx.AsyncClient, headers: Headers, company: dict, code: str = YUBARI) -> dict:
    return created(
        await client.post(
            "/matching/matches",
            headers=headers,
            json={"market": "kigyojin", "municipality_code": code, "company_id": company["id"]},
        )
    )


async def move(
    client: httpx.AsyncClient, headers: Headers, match: dict, to: str, request_id: str | None = None
) -> httpx.Response:
    extra = {"X-Request-ID": request_id} if request_id else {}
    return await client.post(
        f"/matching/matches/{match['id']}/transitions", json={"to": to}, headers={**headers, **extra}
    )


async def example_targets(client: httpx.AsyncClient, db: Database, ops: Headers) -> dict[str, str]:
    """A value for each path parameter of the matching API that the request examples of its document can act on:
    the demo market (whose ids the examples name), a kigyojin round and a proposed advisor match."""
    async with db.sessionmaker() as session:
        await load_demo_data(session)
        await session.commit()
    round_id = await new_round(client, ops)
    match = created(
        await client.post(
            "/matching/matches",
            headers=ops,
            json={"market": "advisor", "municipality_code": YUBARI, "adviser_id": "adv_demo_002"},
        )
    )
    return {
        "code": "162086",
        "need_id": "need_demo_001",
        "company_id": "co_demo_001",
        "adviser_id": "adv_demo_001",
        "round_id": round_id,
        "match_id": match["id"],
    }
