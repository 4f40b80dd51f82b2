/** The lease rules in src/controller/policy.ts, and the state machine they rest on. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { FINISHED, TaskStatus } from "../../src/contract/schemas.ts";
import { callerOf, holdsLease, mayRevive } from "../../src/controller/policy.ts";

const subjects = fc.constantFrom("bob", "carol", "alice");
const roleSets = fc.subarray(["worker", "admin", "dev"]);

describe("holding a lease (fencing)", () => {
  test("only the claimant of the current attempt of a claimed task holds it; another attempt is a lost lease, another claimant a refusal", () => {
    fc.assert(
      fc.property(
        subjects,
        roleSets,
        fc.constantFrom(...TaskStatus.options),
        subjects,
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        (subject, roles, status, claimant, current, asked) => {
          const caller = callerOf(subject, roles, "admin");
          const task = { task_id: "t", target: "worker", status, claimed_by: claimant, attempt: current };
          const verdict = holdsLease(caller, task, asked);
          const holds = roles.includes("worker") && status === "claimed" && current === asked && claimant === subject;
          expect(verdict.ok).toBe(holds);
          if (verdict.ok) return;
          if (!roles.includes("worker") || (status === "claimed" && current === asked)) expect(verdict.kind).toBe("forbidden");
          else {
            expect(verdict.kind).toBe("conflict");
            expect(verdict.why).toContain("was lost");
          }
        },
      ),
    );
  });
});

test("a dead letter is put back by its sender or an admin only", () => {
  fc.assert(
    fc.property(subjects, roleSets, (subject, roles) => {
      const caller = callerOf(subject, roles, "admin");
      expect(mayRevive(caller, { task_id: "t", target: "worker", source: "alice", claimed_by: null })).toBe(subject === "alice" || roles.includes("admin"));
    }),
  );
});

test("finished: completed, failed, cancelled, dead-lettered (until revived) and expired; pending and claimed are open", () => {
  expect([...FINISHED].sort()).toEqual(["cancelled", "completed", "dead_lettered", "expired", "failed"]);
});
