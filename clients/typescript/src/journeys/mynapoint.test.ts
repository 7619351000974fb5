/** The point-programme journeys, through the gateway with the typed client only:
 *  - officer: create a program from a template, upload a roster, fund it, list the municipality's programs,
 *    pause and resume it, list its applications and read its change log;
 *  - resident: a resident app applies, then asks for the resident's status.
 * The live suite hands the script one ops key, which may act as the officer and as the app. */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";

import { ChiikiApiError, unwrap, type ChiikiClient } from "../index.js";
import { liveClient } from "./env.js";

const YUBARI = "012092"; // 夕張市
const TEMPLATE = "mynapoint-2-health-insurance"; // 7,500 points a resident; cards applied for by 28 Feb 2023
const POINTS = 7_500;
const DAY_MS = 86_400_000;

function idempotencyKey(): { "Idempotency-Key": string } {
  return { "Idempotency-Key": randomUUID() };
}

async function onboardProvider(chiiki: ChiikiClient): Promise<string> {
  const provider = await unwrap(chiiki.POST("/mynapoint/providers", {
    // Nothing listens there: these journeys never need a delivery to land.
    body: { name: `journey provider ${randomUUID()}`, webhook_url: "http://127.0.0.1:9/webhooks/chiiki" },
    params: { header: idempotencyKey() },
  }));
  return provider.id;
}

async function startProgram(chiiki: ChiikiClient, providerId: string, mykiIds: string[]) {
  const now = Date.now();
  const program = await unwrap(chiiki.POST("/mynapoint/programs", {
    body: {
      municipality_code: YUBARI, name: "夕張市 保険証ポイント", purpose: "健康保険証利用の促進", template: TEMPLATE, budget_yen: 0,
      provider_ids: [providerId], opens_at: new Date(now - DAY_MS).toISOString(),
      closes_at: new Date(now + 30 * DAY_MS).toISOString(),
    },
    params: { header: idempotencyKey() },
  }));
  assert.equal(program.points_per_person, POINTS);
  const path = { program_id: program.id };
  const uploaded = await unwrap(chiiki.POST("/mynapoint/programs/{program_id}/roster", {
    params: { path },
    body: { residents: mykiIds.map((myki_id) => ({ myki_id, card_applied_on: "2022-11-15" })) },
  }));
  assert.deepEqual(uploaded, { upserted: mykiIds.length, errors: [] });
  const funded = await unwrap(chiiki.POST("/mynapoint/programs/{program_id}/funding", {
    params: { path, header: idempotencyKey() }, body: { amount_yen: POINTS * mykiIds.length },
  }));
  assert.equal(funded.budget_yen, POINTS * mykiIds.length);
  return program;
}

test("officer: a program from a template, its roster and budget, paused and resumed, with its change log", async () => {
  const chiiki = liveClient();
  const providerId = await onboardProvider(chiiki);
  const resident = `officer-${randomUUID().slice(0, 8)}`;
  const program = await startProgram(chiiki, providerId, [resident]);
  const path = { program_id: program.id };

  const listed = await unwrap(chiiki.GET("/mynapoint/programs", {
    params: { query: { municipality_code: YUBARI, status: "open", limit: 500 } },
  }));
  assert.ok(listed.items.some((item) => item.id === program.id), "the town's open programs include the new one");

  const paused = await unwrap(chiiki.PATCH("/mynapoint/programs/{program_id}", {
    params: { path }, body: { status: "paused" },
  }));
  assert.equal(paused.status, "paused");
  await assert.rejects(
    unwrap(chiiki.POST("/mynapoint/programs/{program_id}/applications", {
      params: { path, header: idempotencyKey() },
      body: { myki_id: resident, provider_id: providerId, provider_account_id: "acct-officer" },
    })),
    (error: unknown) => error instanceof ChiikiApiError && error.status === 409 && error.code === "program_paused",
  );
  const resumed = await unwrap(chiiki.PATCH("/mynapoint/programs/{program_id}", {
    params: { path }, body: { status: "open" },
  }));
  assert.equal(resumed.status, "open");

  const applied = await unwrap(chiiki.POST("/mynapoint/programs/{program_id}/applications", {
    params: { path, header: idempotencyKey() },
    body: { myki_id: resident, provider_id: providerId, provider_account_id: "acct-officer" },
  }));
  const applications = await unwrap(chiiki.GET("/mynapoint/programs/{program_id}/applications", {
    params: { path },
  }));
  assert.deepEqual(applications.items.map((item) => item.id), [applied.application_id]);

  const changes = await unwrap(chiiki.GET("/mynapoint/programs/{program_id}/changes", { params: { path } }));
  assert.deepEqual(changes.items.map((change) => [change.before, change.after]), [
    [{ status: "open" }, { status: "paused" }],
    [{ status: "paused" }, { status: "open" }],
  ]);
});

test("resident: the app applies, then asks where the points are", async () => {
  const chiiki = liveClient();
  const providerId = await onboardProvider(chiiki);
  const resident = `resident-${randomUUID().slice(0, 8)}`;
  const program = await startProgram(chiiki, providerId, [resident]);
  const path = { program_id: program.id };

  const before = await unwrap(chiiki.POST("/mynapoint/programs/{program_id}/status", {
    params: { path }, body: { myki_id: resident },
  }));
  assert.deepEqual([before.eligible, before.reasons.map((reason) => reason.code)], [true, ["not_applied"]]);

  const applied = await unwrap(chiiki.POST("/mynapoint/programs/{program_id}/applications", {
    params: { path, header: idempotencyKey() },
    body: { myki_id: resident, provider_id: providerId, provider_account_id: "acct-resident" },
  }));
  assert.equal(applied.eligible, true);
  assert.equal(applied.grant?.points, POINTS);

  const after = await unwrap(chiiki.POST("/mynapoint/programs/{program_id}/status", {
    params: { path }, body: { myki_id: resident },
  }));
  assert.equal(after.application?.id, applied.application_id);
  assert.deepEqual(after.grants.map((grant) => [grant.id, grant.status, grant.reason.code]),
    [[applied.grant?.id, "reserved", "awaiting_credit"]]);
});
