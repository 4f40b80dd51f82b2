/**
 * The rule "may hear a change" and each engine's SQL for it agree: for any changes and
 * callers, an event stream's replay (changesSince with a hearer, page by page) returns
 * exactly the changes `mayHear` lets the caller hear, in order, on SQLite and PostgreSQL.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mayHear } from "../../src/controller/policy.ts";
import type { Change, Store } from "../../src/controller/store/store.ts";
import { ENGINES, storeOn } from "./engines.ts";

const SUBJECTS = ["alice", "bob", "carol"];
const ROLES = ["dev", "ops", "lead", "qa"];

const world = fc.record({
  changes: fc.array(
    fc.record({
      source: fc.constantFrom(...SUBJECTS),
      target: fc.constantFrom(...ROLES),
      approver_role: fc.option(fc.constantFrom(...ROLES), { nil: null }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
  callers: fc.array(fc.record({ subject: fc.constantFrom(...SUBJECTS), roles: fc.subarray(ROLES) }), { minLength: 1, maxLength: 3 }),
  pageSize: fc.integer({ min: 1, max: 5 }),
});

type World = typeof world extends fc.Arbitrary<infer W> ? W : never;

let runs = 0;

/** Writes one world's changes under names of its own; answers where the trail stood before them. */
async function write(store: Store, w: World, name: (n: string) => string): Promise<number> {
  const start = (await store.changesSince(0, 1_000_000)).at(-1)?.seq ?? 0;
  await store.transaction(async (tx) => {
    for (const c of w.changes) {
      await tx.appendAudit(
        {
          at: new Date().toISOString(),
          actor: name(c.source),
          action: "task.created",
          task_id: crypto.randomUUID(),
          approval_id: null,
          from_status: null,
          to_status: "pending",
          trace_id: "t",
        },
        { source: name(c.source), target: name(c.target), approver_role: c.approver_role && name(c.approver_role), parent_task_id: null },
      );
    }
  });
  return start;
}

/** Reads a replay the way an event stream does: page after page until a short one. */
async function replay(store: Store, after: number, pageSize: number, hearer: { subject: string; roles: string[] }): Promise<Change[]> {
  const heard: Change[] = [];
  for (let upTo = after; ; ) {
    const page = await store.changesSince(upTo, pageSize, hearer);
    heard.push(...page);
    if (page.length < pageSize) return heard;
    upTo = page.at(-1)!.seq;
  }
}

for (const engine of ENGINES) {
  describe(`who may hear a change: ${engine.name}`, () => {
    const opened = storeOn(engine);

    test("a replay returns exactly the changes mayHear allows, in order", async () => {
      await fc.assert(
        fc.asyncProperty(world, async (w) => {
          const run = `r${runs++}-${crypto.randomUUID().slice(0, 6)}`;
          const name = (n: string) => `${run}-${n}`;
          const { store } = opened;
          const start = await write(store, w, name);
          const all = await store.changesSince(start, 1_000_000);
          for (const c of w.callers) {
            const caller = { subject: name(c.subject), roles: new Set(c.roles.map(name)), isAdmin: false };
            const heard = await replay(store, start, w.pageSize, { subject: caller.subject, roles: [...caller.roles] });
            expect(heard.map((h) => h.seq)).toEqual(all.filter((change) => mayHear(caller, change)).map((h) => h.seq));
          }
        }),
        { numRuns: 30 },
      );
    });
  });
}
