/**
 * The live side shows a change only to the waiters filed under what it names: that
 * index must never hide a change from someone mayHear lets hear it.
 */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { filedUnder, namedBy } from "../../src/controller/live.ts";
import { mayHear, visibilityOf, type Caller } from "../../src/controller/policy.ts";
import type { Change } from "../../src/controller/store/store.ts";

const name = fc.constantFrom("ann", "bob", "ops", "review", "qa");
const caller = fc
  .record({ subject: name, roles: fc.uniqueArray(name, { maxLength: 3 }), isAdmin: fc.boolean() })
  .map(({ subject, roles, isAdmin }): Caller => ({ subject, roles: new Set(roles), isAdmin }));
const change = fc.record({
  source: name,
  target: name,
  approver_role: fc.option(name),
  task_id: name,
  parent_task_id: fc.option(name),
  approval_id: fc.option(name),
});

test("whoever may hear a change is filed under a key it names", () => {
  fc.assert(
    fc.property(caller, change, (who, c) => {
      const keys = filedUnder({ hearer: visibilityOf(who) });
      const named = new Set(namedBy(c as unknown as Change));
      if (mayHear(who, c)) expect(keys === null || keys.some((k) => named.has(k))).toBe(true);
    }),
    { numRuns: 2000 },
  );
});

test("a wait on a task hears its own changes and its subtasks'; a wait on an approval, that approval's", () => {
  fc.assert(
    fc.property(name, change, (id, c) => {
      const named = new Set(namedBy(c as unknown as Change));
      const [byTask] = filedUnder({ task: id })!;
      const [byApproval] = filedUnder({ approval: id })!;
      expect(named.has(byTask!)).toBe(c.task_id === id || c.parent_task_id === id);
      expect(named.has(byApproval!)).toBe(c.approval_id === id);
    }),
    { numRuns: 2000 },
  );
});
