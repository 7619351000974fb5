"""Point-issuance data for the console's browser tests, made through the live suite's public API (the same
calls the console makes), with the request bodies of tests/mynapoint/builders.py."""

import uuid
from dataclasses import dataclass

import httpx

from tests.harness import bearer
from tests.mynapoint.builders import MUNICIPALITY, application, credited, fixed_program, resident, signed, unlinked

# Nothing listens on port 9 (discard) of 127.0.0.1: the live suite has no delivery worker, so nothing is sent.
UNREACHABLE_URL = "http://127.0.0.1:9/hook"


def answered(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def onboard_provider(api: httpx.Client, ops_key: str, webhook_url: str = UNREACHABLE_URL) -> dict:
    """A provider with its whsec_ secret."""
    body = {"name": "テストペイ", "webhook_url": webhook_url}
    return answered(api.post("/mynapoint/providers", headers=bearer(ops_key), json=body), 201)


def program_with_roster(
    api: httpx.Client, muni_key: str, provider: dict, municipality_code: str, name: str, residents: int = 0
) -> dict:
    """A fixed program (5,000 points each, 50,000 yen) of the municipality, residents myki-0000 … on its roster."""
    body = fixed_program(provider["id"], municipality_code=municipality_code, name=name)
    program = answered(api.post("/mynapoint/programs", headers=bearer(muni_key), json=body), 201)
    if residents:
        roster = {"residents": [resident(f"myki-{n:04d}") for n in range(residents)]}
        answered(api.post(f"/mynapoint/programs/{program['id']}/roster", headers=bearer(muni_key), json=roster))
    return program


def unique_name(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def apply(api: httpx.Client, app_key: str, provider: dict, program: dict, myki: str) -> dict:
    """A resident's application; its grant is reserved."""
    path = f"/mynapoint/programs/{program['id']}/applications"
    return answered(api.post(path, headers=bearer(app_key), json=application(provider["id"], myki)))


def credit(api: httpx.Client, provider: dict, grant_id: str) -> None:
    """The provider's signed grant.credited: the grant is posted."""
    body, headers = signed(provider["webhook_secret"], credited(grant_id))
    answered(api.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers))


def unlink(api: httpx.Client, provider: dict, account: str) -> None:
    """The provider's signed account.unlinked: the resident's applications on that account are unlinked."""
    body, headers = signed(provider["webhook_secret"], unlinked(account))
    answered(api.post(f"/webhooks/providers/{provider['id']}", content=body, headers=headers))


@dataclass
class OfficerProgram:
    """A municipality's program with residents who applied: the keys, the provider and the grants reserved."""

    muni_key: str
    app_key: str
    provider: dict
    program: dict
    grants: list[dict]


def officer_program(suite, name: str, applicants: int) -> OfficerProgram:
    """A program of MUNICIPALITY with `applicants` residents who applied (myki-0000 …), one grant reserved each."""
    muni_key = suite.make_key("municipality", municipality_code=MUNICIPALITY)
    app_key = suite.make_key("app")
    with suite.api() as api:
        provider = onboard_provider(api, suite.ops_key)
        program = program_with_roster(api, muni_key, provider, MUNICIPALITY, unique_name(name), applicants)
        grants = [apply(api, app_key, provider, program, f"myki-{n:04d}")["grant"] for n in range(applicants)]
    return OfficerProgram(muni_key, app_key, provider, program, grants)
