"""Programs, rosters and applications through the gateway: eligibility, identity, idempotency, tenancy."""

from sqlmodel import select

from common.models import Grant, LedgerEntry
from services.mynapoint import idempotency
from services.mynapoint.identity import my_number_check_digit
from services.mynapoint.settlement import reconcile
from tests.conftest import bearer, make_key
from tests.mynapoint.builders import OTHER_MUNICIPALITY, application, fixed_program, resident


def valid_my_number(first_eleven: str = "12345678901") -> str:
    return first_eleven + str(my_number_check_digit(first_eleven))


async def test_provider_secret_is_shown_once(client, ops_key, provider):
    assert provider["webhook_secret"].startswith("whsec_")
    listed = (await client.get("/mynapoint/providers", headers=bearer(ops_key))).json()["items"]
    assert [p["id"] for p in listed] == [provider["id"]]
    assert "webhook_secret" not in listed[0]


async def test_program_reports_its_balances(client, muni_key, program):
    shown = await client.get(f"/mynapoint/programs/{program['id']}", headers=bearer(muni_key))
    assert shown.status_code == 200
    assert (shown.json()["budget_yen"], shown.json()["reserved_yen"], shown.json()["posted_yen"]) == (50_000, 0, 0)


async def test_a_fixed_grant_is_reserved_once_per_resident(client, app_key, provider, program, session):
    url = f"/mynapoint/programs/{program['id']}/applications"
    first = await client.post(url, headers=bearer(app_key), json=application(provider["id"], "myki-0001"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["eligible"] is True and body["reasons"] == []
    assert body["grant"]["points"] == 5_000 and body["grant"]["status"] == "reserved"
    # Without a key, a second application still finds the first grant rather than making another.
    again = await client.post(url, headers=bearer(app_key), json=application(provider["id"], "myki-0001"))
    assert again.json()["grant"]["id"] == body["grant"]["id"]
    grants = (await session.exec(select(Grant).where(Grant.program_id == program["id"]))).all()
    assert len(grants) == 1
    ledger = (await session.exec(select(LedgerEntry).where(LedgerEntry.program_id == program["id"]))).all()
    assert sorted((row.kind, row.budget_delta, row.reserved_delta) for row in ledger) == [
        ("fund", 50_000, 0),
        ("reserve", 0, 5_000),
    ]
    assert await reconcile(session) == []


async def test_the_budget_runs_out_with_a_plain_reason(client, app_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    answers = [
        (await client.post(url, headers=bearer(app_key), json=application(provider["id"], f"myki-{n:04d}"))).json()
        for n in range(12)
    ]
    granted = [a for a in answers if a["grant"]]
    assert len(granted) == 10  # 50,000 yen of 5,000-point grants
    refused = [a for a in answers if not a["grant"]]
    assert all(a["eligible"] and a["reasons"][0]["code"] == "budget_exhausted" for a in refused)


async def test_a_top_up_lets_refused_residents_apply_again(client, app_key, muni_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    for n in range(11):
        await client.post(url, headers=bearer(app_key), json=application(provider["id"], f"myki-{n:04d}"))
    funded = await client.post(
        f"/mynapoint/programs/{program['id']}/funding", headers=bearer(muni_key), json={"amount_yen": 5_000}
    )
    assert funded.json()["budget_yen"] == 55_000
    retry = await client.post(url, headers=bearer(app_key), json=application(provider["id"], "myki-0010"))
    assert retry.json()["grant"]["points"] == 5_000


async def test_ineligible_residents_are_told_why(client, app_key, muni_key, provider):
    rules = {
        "min_age": 18,
        "household_with_children": True,
        "max_income_band": 3,
        "requires_activity": True,
        "age_reference_date": "2023-04-01",
    }
    created = await client.post(
        "/mynapoint/programs", headers=bearer(muni_key), json=fixed_program(provider["id"], eligibility=rules)
    )
    program_id = created.json()["id"]
    await client.post(
        f"/mynapoint/programs/{program_id}/roster",
        headers=bearer(muni_key),
        json={
            "residents": [
                resident("young-1", birth_date="2010-01-01"),
                resident("rich-1", income_band=5, household_with_children=False, activity_participation=False),
            ]
        },
    )
    url = f"/mynapoint/programs/{program_id}/applications"

    async def reasons(myki_id: str) -> list[str]:
        answer = (await client.post(url, headers=bearer(app_key), json=application(provider["id"], myki_id))).json()
        assert answer["eligible"] is False and answer["grant"] is None
        assert all(reason["message"] for reason in answer["reasons"])
        return [reason["code"] for reason in answer["reasons"]]

    assert await reasons("young-1") == ["too_young"]
    assert await reasons("rich-1") == ["no_children_in_household", "income_too_high", "no_activity"]
    assert await reasons("stranger-1") == ["not_on_roster"]


async def test_a_my_number_is_refused_and_never_echoed_or_logged(client, app_key, provider, program, caplog):
    number = valid_my_number()
    response = await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], number),
    )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "myki_id"
    assert number not in response.text
    as_account = application(provider["id"], "myki-0001") | {"provider_account_id": number}
    response = await client.post(
        f"/mynapoint/programs/{program['id']}/applications", headers=bearer(app_key), json=as_account
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "provider_account_id"
    assert number not in response.text
    assert number not in caplog.text
    # Twelve digits that fail the check digit are not a My Number, and pass as an identifier.
    wrong = number[:11] + str((int(number[11]) + 1) % 10)
    other = await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], wrong),
    )
    assert other.status_code == 200 and other.json()["reasons"][0]["code"] == "not_on_roster"


async def test_a_hyphenated_my_number_is_refused_as_an_id_and_as_an_account(client, app_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    for body in (
        application(provider["id"], "1234-5678-9018"),
        application(provider["id"], "myki-0001", account="１２３４ ５６７８ ９０１８"),
    ):
        response = await client.post(url, headers=bearer(app_key), json=body)
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_identity" and error["field"] in ("myki_id", "provider_account_id")
        assert "9018" not in response.text


async def test_a_trailing_newline_or_full_width_form_is_the_same_resident(client, app_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    first = (await client.post(url, headers=bearer(app_key), json=application(provider["id"], "myki-0003"))).json()
    for variant in ("myki-0003\n", " myki-0003", "ｍｙｋｉ－０００３"):
        again = await client.post(
            url, headers=bearer(app_key), json=application(provider["id"], variant, account="acct-myki-0003")
        )
        assert again.status_code == 200, again.text
        assert again.json()["application_id"] == first["application_id"]
        assert again.json()["grant"]["id"] == first["grant"]["id"]


async def test_a_roster_with_one_bad_row_writes_nothing(client, muni_key, program):
    url = f"/mynapoint/programs/{program['id']}/roster"
    rows = [resident("new-1"), resident(valid_my_number("98765432109")), resident("new-2", income_band=-1)]
    answer = (await client.post(url, headers=bearer(muni_key), json={"residents": rows})).json()
    assert answer["upserted"] == 0
    assert [(e["row"], e["field"]) for e in answer["errors"]] == [(2, "myki_id"), (3, "income_band")]
    assert valid_my_number("98765432109") not in str(answer)


async def test_roster_csv_upserts_idempotently(client, app_key, muni_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/roster"
    csv_text = (
        "myki_id,birth_date,household_with_children,income_band,activity_participation\n"
        "csv-1,1980-01-01,true,1,false\ncsv-2,,false,,true\n"
    )
    for _ in range(2):
        answer = await client.post(url, headers=bearer(muni_key) | {"content-type": "text/csv"}, content=csv_text)
        assert answer.json() == {"upserted": 2, "errors": []}
    applied = await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], "csv-2"),
    )
    assert applied.json()["eligible"] is True


async def test_idempotency_replays_refuses_other_bodies_and_conflicts_in_flight(client, app_key, provider, program, db):
    url = f"/mynapoint/programs/{program['id']}/applications"
    headers = bearer(app_key) | {"Idempotency-Key": "k-1"}
    first = await client.post(url, headers=headers, json=application(provider["id"], "myki-0002"))
    replay = await client.post(url, headers=headers, json=application(provider["id"], "myki-0002"))
    assert replay.status_code == 200 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    other = await client.post(url, headers=headers, json=application(provider["id"], "myki-0003"))
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"

    # A request still in flight holds its claim: the same key meanwhile gets 409.
    key_id = app_key.split("_")[1]
    record_id = idempotency._digest(key_id, "POST", url, "k-2")
    body_hash = idempotency._digest(
        __import__("json").dumps(application(provider["id"], "myki-0004"), sort_keys=True, ensure_ascii=False)
    )
    async with db.sessionmaker() as session:
        assert await idempotency._claim(session, record_id, body_hash, reads=()) == (None, [])
    busy = await client.post(
        url, headers=bearer(app_key) | {"Idempotency-Key": "k-2"}, json=application(provider["id"], "myki-0004")
    )
    assert busy.status_code == 409 and busy.json()["error"]["code"] == "idempotency_in_progress"


async def test_a_failed_request_releases_its_idempotency_key(client, app_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    headers = bearer(app_key) | {"Idempotency-Key": "k-3"}
    bad = await client.post(url, headers=headers, json=application("prov_unknown", "myki-0005"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "provider_id"
    fixed = await client.post(url, headers=headers, json=application(provider["id"], "myki-0005"))
    assert fixed.status_code == 200 and fixed.json()["grant"] is not None


async def test_tenancy(client, db, app_key, muni_key, provider, program):
    other_muni = await make_key(db, "municipality", municipality_code=OTHER_MUNICIPALITY)
    assert (await client.get(f"/mynapoint/programs/{program['id']}", headers=bearer(other_muni))).status_code == 404
    roster = await client.post(
        f"/mynapoint/programs/{program['id']}/roster", headers=bearer(other_muni), json={"residents": []}
    )
    assert roster.status_code == 404
    foreign = await client.post("/mynapoint/programs", headers=bearer(other_muni), json=fixed_program(provider["id"]))
    assert foreign.status_code == 403 and foreign.json()["error"]["field"] == "municipality_code"
    assert (
        await client.post("/mynapoint/programs", headers=bearer(app_key), json=fixed_program(provider["id"]))
    ).status_code == 403
    assert (await client.get("/mynapoint/providers", headers=bearer(muni_key))).status_code == 403

    await client.post(
        f"/mynapoint/programs/{program['id']}/applications",
        headers=bearer(app_key),
        json=application(provider["id"], "myki-0001"),
    )
    own_provider = await make_key(db, "provider", provider_id=provider["id"])
    assert len((await client.get("/mynapoint/grants", headers=bearer(own_provider))).json()["items"]) == 1
    assert (await client.get("/mynapoint/grants?provider=prov_other", headers=bearer(own_provider))).status_code == 403
    assert (await client.get("/mynapoint/grants", headers=bearer(other_muni))).json()["items"] == []
    assert len((await client.get("/mynapoint/grants", headers=bearer(muni_key))).json()["items"]) == 1
    assert (await client.get("/mynapoint/grants", headers=bearer(app_key))).status_code == 403


async def test_bad_program_input_names_the_field(client, muni_key, provider):
    cases = [
        ({"budget_yen": -1}, "budget_yen"),
        ({"premium_rate": "0.25.1", "kind": "premium"}, "premium_rate"),
        ({"provider_ids": ["prov_nope"]}, "provider_ids.0"),
        ({"template": "nope"}, "template"),
        ({"points_per_person": None}, "points_per_person"),
        ({"opens_at": "2023-06-01T00:00:00"}, "opens_at"),
    ]
    for change, field in cases:
        body = {k: v for k, v in (fixed_program(provider["id"]) | change).items() if v is not None}
        response = await client.post("/mynapoint/programs", headers=bearer(muni_key), json=body)
        assert response.status_code in (404, 422), (change, response.text)
        assert response.json()["error"]["field"] == field, (change, response.text)


async def test_templates_fill_the_national_campaign_parameters(client, muni_key, provider):
    body = fixed_program(provider["id"], template="mynapoint-2-health-insurance")
    for name in ("kind", "points_per_person", "opens_at", "closes_at"):
        body.pop(name)
    created = await client.post("/mynapoint/programs", headers=bearer(muni_key), json=body)
    assert created.status_code == 201, created.text
    assert (created.json()["kind"], created.json()["points_per_person"]) == ("fixed", 7_500)
    assert created.json()["closes_at"].startswith("2023-05-31T15:00:00")  # 1 June 2023 00:00 JST
    premium = fixed_program(provider["id"], template="mynapoint-2-new-card")
    for name in ("kind", "points_per_person"):
        premium.pop(name)
    created = await client.post("/mynapoint/programs", headers=bearer(muni_key), json=premium)
    assert (created.json()["premium_rate"], created.json()["per_person_cap"]) == ("1/4", 5_000)


async def test_a_retried_top_up_funds_once(client, muni_key, program):
    url = f"/mynapoint/programs/{program['id']}/funding"
    headers = bearer(muni_key) | {"Idempotency-Key": "topup-1"}
    first = await client.post(url, headers=headers, json={"amount_yen": 7_000})
    again = await client.post(url, headers=headers, json={"amount_yen": 7_000})
    assert first.json() == again.json() and first.json()["budget_yen"] == 57_000
    other = await client.post(url, headers=headers, json={"amount_yen": 8_000})
    assert other.status_code == 422
    body = fixed_program(program["provider_ids"][0])
    created = await client.post("/mynapoint/programs", headers=bearer(muni_key) | {"Idempotency-Key": "p-1"}, json=body)
    replayed = await client.post(
        "/mynapoint/programs", headers=bearer(muni_key) | {"Idempotency-Key": "p-1"}, json=body
    )
    assert (created.status_code, replayed.status_code) == (201, 201)
    assert created.json()["id"] == replayed.json()["id"]


async def test_a_nul_character_is_refused_with_the_field_named_and_nothing_written(client, app_key, provider, program):
    url = f"/mynapoint/programs/{program['id']}/applications"
    body = application(provider["id"], "myki-0002") | {"provider_account_id": "acct\x00"}
    refused = await client.post(url, headers=bearer(app_key) | {"Idempotency-Key": "nul-1"}, json=body)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "provider_account_id"
    in_path = await client.get(f"/mynapoint/programs/{program['id']}%00", headers=bearer(app_key))
    assert in_path.status_code in (404, 422), in_path.text
    fixed = await client.post(
        url, headers=bearer(app_key) | {"Idempotency-Key": "nul-1"}, json=body | {"provider_account_id": "acct"}
    )
    assert fixed.status_code == 200 and fixed.json()["grant"] is not None
