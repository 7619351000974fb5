"""Finding a municipality of the reference data by part of its name or the first digits of its code, with no key:
the reference data is published, and a front end searches it before anyone signs in."""

import pytest

YUBARI = "012092"


async def search(client, **params) -> list[dict]:
    response = await client.get("/subsidy/municipalities", params={"limit": 500} | params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


@pytest.mark.parametrize(
    "text", ["夕張", "ユウバリ", "ゆうばり", "ﾕｳﾊﾞﾘ", "yubari", "ＹＵＢＡＲＩ", "012092", "０１２０９２"]
)
async def test_a_name_in_kanji_kana_or_english_finds_the_municipality(client, text):
    found = await search(client, q=text)
    assert [m["code"] for m in found] == [YUBARI]
    assert found[0]["name"] == "夕張市"


async def test_part_of_a_name_finds_every_municipality_holding_it_in_code_order(client):
    found = await search(client, q="川町")
    assert len(found) > 10
    assert all("川町" in m["name"] for m in found)
    assert [m["code"] for m in found] == sorted(m["code"] for m in found)


async def test_leading_digits_find_the_codes_that_start_with_them(client):
    found = await search(client, q="0120")
    assert YUBARI in {m["code"] for m in found}
    assert all(m["code"].startswith("0120") for m in found)


async def test_a_like_wildcard_in_the_text_is_only_a_character(client):
    assert await search(client, q="%") == []
    assert await search(client, q="_") == []


async def test_the_search_combines_with_the_other_filters(client):
    everywhere = await search(client, q="町")
    kaso = await search(client, q="町", kaso="true", prefecture="01")
    assert kaso and len(kaso) < len(everywhere)
    assert all(m["is_kaso"] and m["pref_code"] == "01" and "町" in m["name"] for m in kaso)


async def test_a_search_pages_by_code(client):
    first = (await client.get("/subsidy/municipalities", params={"q": "市", "limit": 5})).json()
    second = (
        await client.get("/subsidy/municipalities", params={"q": "市", "limit": 5, "cursor": first["next_cursor"]})
    ).json()
    codes = [m["code"] for m in first["items"] + second["items"]]
    assert len(set(codes)) == 10 and codes == sorted(codes)


@pytest.mark.parametrize("text", ["", "   ", "x" * 33])
async def test_an_empty_blank_or_overlong_search_is_422_naming_q(client, text):
    response = await client.get("/subsidy/municipalities", params={"q": text})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "q"


async def test_one_municipality_is_open_without_a_key(client):
    response = await client.get(f"/subsidy/municipalities/{YUBARI}")
    assert response.status_code == 200
    assert response.json()["name"] == "夕張市"
