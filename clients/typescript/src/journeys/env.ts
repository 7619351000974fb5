/** The live suite the journeys run against: scripts/live_suite.py sets both variables. */
import { createChiikiClient, type ChiikiClient } from "../index.js";

export function liveClient(): ChiikiClient {
  const baseUrl = process.env.CHIIKI_BASE_URL;
  const apiKey = process.env.CHIIKI_API_KEY;
  if (!baseUrl || !apiKey) {
    throw new Error("CHIIKI_BASE_URL and CHIIKI_API_KEY must be set: run through scripts/live_suite.py");
  }
  return createChiikiClient({ baseUrl, apiKey });
}
