/** Input fields several tools share, described once. */
import { z } from "zod";
import { IdempotencyKey, LIMITS } from "../lib/schemas.ts";

/** For tools that create something: repeating a call that failed midway must not create it twice. */
export const idempotencyKey = IdempotencyKey.optional().describe(
  "Only when repeating a call that failed and named an idempotency key: pass that key, so the controller answers with what the first call did instead of doing it twice.",
);

export const waitSeconds = (what: string) =>
  z.number().min(0).max(LIMITS.waitSeconds).default(0).describe(`Wait up to this many seconds (at most ${LIMITS.waitSeconds}) ${what}; 0 answers at once.`);
