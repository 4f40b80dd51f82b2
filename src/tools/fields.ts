/** Input fields several tools share, described once. */
import { z } from "zod";
import { LIMITS } from "../lib/schemas.ts";

export const waitSeconds = (what: string) =>
  z.number().min(0).max(LIMITS.waitSeconds).default(0).describe(`Wait up to this many seconds (at most ${LIMITS.waitSeconds}) ${what}; 0 answers at once.`);
