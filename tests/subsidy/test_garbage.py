"""Garbage of many shapes, posted to every subsidy endpoint: always a 2xx or 4xx, never a 5xx."""

import random

from services.subsidy.calculators import CALCULATORS
from services.subsidy.rulebook import get_rulebook
from tests.conftest import bearer

ODD_VALUES = [
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    10**30,
    -(10**30),
    "",
    "x",
    "1/0",
    "0/0",
    "-1/2",
    "1e400",
    "NaN",
    "inf",
    "１２３",
    "0.1" * 30,
    [],
    [1, "a"],
    {},
    {"a": {"b": []}},
    "2023-02-30",
    "9" * 500,
    "\u0000",
    "🙂",
    [[[[[]]]]],
]
TOP_LEVEL_KEYS = ["fiscal_year", "municipality_code", "inputs", "overrides", "program"]


def _garbage(rng: random.Random, depth: int = 0):
    choice = rng.random()
    if depth < 2 and choice < 0.2:
        return {
            rng.choice(["cost", "persons", "members", "x", "kind"]): _garbage(rng, depth + 1)
            for _ in range(rng.randint(0, 3))
        }
    if depth < 2 and choice < 0.3:
        return [_garbage(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(ODD_VALUES)


def _bodies(rng: random.Random, program: str) -> list:
    fields = list(CALCULATORS[program].inputs.model_fields)
    parameters = list(get_rulebook().programs[program].spec.parameters)
    bodies = [None, [], "text", 7, {"inputs": None}, {"inputs": []}, {"overrides": []}, {"fiscal_year": 2023.0}]
    for _ in range(30):
        inputs = {name: _garbage(rng) for name in rng.sample(fields, k=rng.randint(0, len(fields)))}
        body = {"fiscal_year": rng.choice([2022, 2023, 1, -5, "2023", None, 10**20]), "inputs": inputs}
        if rng.random() < 0.3:
            body[rng.choice(TOP_LEVEL_KEYS)] = _garbage(rng)
        if rng.random() < 0.3:
            body["overrides"] = {
                rng.choice(parameters + ["x"]): rng.choice([_garbage(rng), 0, 1, 10**12, "0", "9/1"])
                for _ in range(rng.randint(1, 3))
            }
        if rng.random() < 0.3:
            body["municipality_code"] = rng.choice(["012092", "0120921", "abcdef", "000000", "016951", 12092])
        bodies.append(body)
    return bodies


async def test_no_garbage_makes_a_5xx(client, app_key):
    rng = random.Random(20230401)
    statuses = set()
    for program in sorted(CALCULATORS) + ["nope", "..%2Fetc"]:
        bodies = _bodies(rng, program if program in CALCULATORS else "tokutei_kumiai")
        for body in bodies:
            response = await client.post(f"/subsidy/programs/{program}/calculate", json=body)
            assert response.status_code < 500, (program, body, response.text)
            statuses.add(response.status_code)
        batch = await client.post(
            "/subsidy/calculate/batch",
            json={"items": [dict(b, program=program) if isinstance(b, dict) else b for b in bodies]},
        )
        assert batch.status_code == 200, batch.text
        assert all(r["status"] < 500 for r in batch.json()["results"])
        saved = await client.post("/subsidy/calculations", json=rng.choice(bodies), headers=bearer(app_key))
        assert saved.status_code < 500, saved.text
    for raw in [b"{", b"\xff\xfe", b"[]" * 1000, b'{"items": 5}', b'{"items": [1, null, "x"]}']:
        response = await client.post(
            "/subsidy/calculate/batch", content=raw, headers={"content-type": "application/json"}
        )
        assert response.status_code < 500
    for query in ["fiscal_year=abc", "fiscal_year=99999999999999999999", "fiscal_year=-1"]:
        assert (await client.get(f"/subsidy/programs/local10000?{query}")).status_code < 500
    assert statuses >= {200, 422}
