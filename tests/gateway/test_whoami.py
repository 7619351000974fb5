"""GET /auth/whoami: what a key is, for a front end to show what the key may use from the API's answer."""

from common.models import Provider
from tests.harness import bearer, make_key


async def test_whoami_refuses_without_a_key(client):
    response = await client.get("/auth/whoami")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_whoami_refuses_an_unknown_key(client):
    response = await client.get("/auth/whoami", headers=bearer("chk_0123456789abcdef_wrong"))
    assert response.status_code == 401


async def test_whoami_names_the_role_and_tenant_of_each_key(client, db):
    async with db.sessionmaker() as session:
        session.add(Provider(id="prov_whoami", name="whoami pay", webhook_url="http://127.0.0.1:9/hook"))
        await session.commit()
    keys = {
        "ops": await make_key(db, "ops"),
        "municipality": await make_key(db, "municipality", municipality_code="012092"),
        "provider": await make_key(db, "provider", provider_id="prov_whoami"),
        "app": await make_key(db, "app"),
    }
    for role, key in keys.items():
        response = await client.get("/auth/whoami", headers=bearer(key))
        assert response.status_code == 200, response.text
        assert response.json() == {
            "role": role,
            "key_id": key.split("_")[1],
            "municipality_code": "012092" if role == "municipality" else None,
            "provider_id": "prov_whoami" if role == "provider" else None,
        }


async def test_whoami_is_in_the_openapi_document_as_a_protected_operation(client):
    operation = (await client.get("/openapi.json")).json()["paths"]["/auth/whoami"]["get"]
    assert operation["security"]
    assert set(operation["responses"]) >= {"200", "401"}
