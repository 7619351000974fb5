/** A municipal adviser's journey: the catalogue, the finder for a town, then one program calculated with its
 * trace; the finder's amount and the calculation's agree to the yen. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChiikiApiError, unwrap } from "../index.js";
import { liveClient } from "./env.js";

const YUBARI = "012092"; // 夕張市
const LOCAL10000_INPUTS = {
  initial_investment: 40_000_000, municipal_grant: 10_000_000, loan_amount: 20_000_000, own_funds: 10_000_000,
  lender_type: "jfc",
};

test("catalogue → finder → calculate with trace", async () => {
  const chiiki = liveClient();
  const catalogue = await unwrap(chiiki.GET("/subsidy/programs", { params: { query: { limit: 100 } } }));
  const local10000 = catalogue.items.find((program) => program.id === "local10000");
  assert.ok(local10000, "the catalogue lists ローカル10,000");
  assert.ok(local10000.fiscal_years.includes(2023));

  const found = await unwrap(chiiki.POST("/subsidy/finder", {
    body: { fiscal_year: 2023, municipality_code: YUBARI, inputs: LOCAL10000_INPUTS },
  }));
  assert.equal(found.municipality_code, YUBARI);
  const item = found.items.find((candidate) => candidate.program === local10000.id);
  assert.equal(item?.status, "eligible");
  assert.ok(typeof item.amount === "number" && item.amount > 0);

  const result = await unwrap(chiiki.POST("/subsidy/programs/{program}/calculate", {
    params: { path: { program: local10000.id } },
    body: { fiscal_year: 2023, municipality_code: YUBARI, inputs: LOCAL10000_INPUTS },
  }));
  assert.equal(result.eligible, true);
  assert.equal(result.amount, item.amount);
  const trace = result.trace ?? [];
  assert.ok(trace.length > 0, "the calculation explains itself");
  for (const step of trace) {
    for (const parameter of step.parameters) {
      assert.ok(parameter.citation.length > 0, `${step.rule}: ${parameter.name} cites its source`);
    }
  }
  assert.ok(trace.some((step) => step.rule === "local10000.national_rate" && step.parameters.length > 0));
});

test("an unknown program is a typed error with its registered code", async () => {
  const chiiki = liveClient();
  await assert.rejects(
    unwrap(chiiki.POST("/subsidy/programs/{program}/calculate", {
      params: { path: { program: "no_such_program" } }, body: { fiscal_year: 2023 },
    })),
    (error: unknown) => error instanceof ChiikiApiError && error.status === 404 && error.code === "unknown_program",
  );
});
