/** Input fields several tools share, described once. */
import { z } from "zod";
import { IdempotencyKey, LIMITS } from "../contract/schemas.ts";

/** For tools that create something: repeating a call that failed midway must not create it twice. */
export const idempotencyKey = IdempotencyKey.optional().describe(
  "Only when repeating a call that failed and named an idempotency key: pass that key, so the controller answers with what the first call did instead of doing it twice.",
);

/** By default as long as one long-poll of the controller; a tool that polls again and again may allow more. */
export const waitSeconds = (what: string, max: number = LIMITS.waitSeconds) =>
  z.number().min(0).max(max).default(0).describe(`Wait up to this many seconds (at most ${max}) ${what}; 0 answers at once.`);
