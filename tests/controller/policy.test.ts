/** The lease rules in src/controller/policy.ts, and the state machine they rest on. */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { FINISHED, HELD, TaskStatus } from "../../src/contract/schemas.ts";
import { callerOf, holdsLease, mayAddSubtask, mayCompleteWith, mayMove, mayNote, mayRevive } from "../../src/controller/policy.ts";

const subjects = fc.constantFrom("bob", "carol", "alice");
const roleSets = fc.subarray(["worker", "admin", "dev"]);

describe("holding a lease (fencing)", () => {
  test("only the claimant of the current attempt of a held task (claimed, or waiting for an answer) holds it; another attempt is a lost lease, another claimant a refusal", () => {
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
          const holds = roles.includes("worker") && HELD.has(status) && current === asked && claimant === subject;
          expect(verdict.ok).toBe(holds);
          if (verdict.ok) return;
          if (!roles.includes("worker") || (HELD.has(status) && current === asked)) expect(verdict.kind).toBe("forbidden");
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

describe("threads and subtasks", () => {
  const statuses = fc.constantFrom(...TaskStatus.options);

  test("only a task's sender answers its holder's question", () => {
    fc.assert(
      fc.property(subjects, roleSets, (subject, roles) => {
        const verdict = mayMove(callerOf(subject, roles, "admin"), { task_id: "t", target: "worker", source: "alice", claimed_by: "bob" }, "answer");
        expect(verdict.ok).toBe(subject === "alice");
        if (!verdict.ok) expect(verdict.kind).toBe("forbidden");
      }),
    );
  });

  test("a note comes from the sender or the task's holder while it is held, never on a finished task", () => {
    fc.assert(
      fc.property(subjects, roleSets, statuses, (subject, roles, status) => {
        const verdict = mayNote(callerOf(subject, roles, "admin"), { task_id: "t", source: "alice", status, claimed_by: "bob" });
        const side = subject === "alice" || (subject === "bob" && HELD.has(status));
        expect(verdict.ok).toBe(side && !FINISHED.has(status));
        if (!verdict.ok) expect(verdict.kind).toBe(side ? "conflict" : "forbidden");
      }),
    );
  });

  test("subtasks are added only by the parent's holder while it holds it; admins and senders are no exception", () => {
    fc.assert(
      fc.property(subjects, roleSets, statuses, subjects, (subject, roles, status, claimant) => {
        const verdict = mayAddSubtask(callerOf(subject, roles, "admin"), { task_id: "t", status, claimed_by: claimant });
        expect(verdict.ok).toBe(HELD.has(status) && claimant === subject);
        if (!verdict.ok) expect(verdict.kind).toBe(HELD.has(status) ? "forbidden" : "conflict");
      }),
    );
  });

  test("a parent with unfinished subtasks completes only when forced", () => {
    fc.assert(
      fc.property(fc.nat(60), fc.boolean(), (unfinished, force) => {
        const verdict = mayCompleteWith({ task_id: "t" }, unfinished, force);
        expect(verdict.ok).toBe(unfinished === 0 || force);
        if (!verdict.ok) expect(verdict.kind).toBe("conflict");
      }),
    );
  });
});

test("finished: completed, failed, cancelled, dead-lettered (until revived) and expired; pending, claimed and input_required are open", () => {
  expect([...FINISHED].sort()).toEqual(["cancelled", "completed", "dead_lettered", "expired", "failed"]);
});
