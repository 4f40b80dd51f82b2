/**
 * The policy and each engine's visibility SQL say the same thing: for any tasks,
 * approvals and callers, a list returns exactly what `mayReadTask` (tasks) and
 * `mayReadApproval` (approvals) allow, on SQLite and PostgreSQL.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { callerOf, mayReadApproval, mayReadTask, visibilityOf, type Caller } from "../../src/controller/policy.ts";
import type { Store } from "../../src/controller/store/store.ts";
import type { ApprovalRecord, Task } from "../../src/contract/schemas.ts";
import { ENGINES, NO_CLOCKS, storeOn } from "./engines.ts";

const SUBJECTS = ["alice", "bob", "carol", "dave"];
const ROLES = ["dev", "ops", "lead", "qa", "admin"];

const world = fc.record({
  tasks: fc.array(
    fc.record({
      source: fc.constantFrom(...SUBJECTS),
      target: fc.constantFrom(...ROLES),
      approvals: fc.array(fc.record({ approver_role: fc.constantFrom(...ROLES), requested_by: fc.constantFrom(...SUBJECTS) }), { maxLength: 2 }),
    }),
    { minLength: 1, maxLength: 8 },
  ),
  callers: fc.array(fc.record({ subject: fc.constantFrom(...SUBJECTS), roles: fc.subarray(ROLES) }), { minLength: 1, maxLength: 4 }),
});

type World = typeof world extends fc.Arbitrary<infer W> ? W : never;

let runs = 0;

/** Stores one generated world under names of its own, so worlds on one database do not meet. */
async function store(s: Store, w: World) {
  const run = `r${runs++}-${crypto.randomUUID().slice(0, 6)}`;
  const name = (n: string) => `${run}-${n}`;
  const now = new Date().toISOString();
  const tasks: Task[] = [];
  const approvals: ApprovalRecord[] = [];
  await s.transaction(async (tx) => {
    for (const spec of w.tasks) {
      const task: Task = {
        task_id: crypto.randomUUID(),
        target: name(spec.target),
        source: name(spec.source),
        task_type: "probe",
        description: null,
        data: {},
        context: {},
        priority: "normal",
        status: "pending",
        claimed_by: null,
        result: null,
        error: null,
        created_at: now,
        updated_at: now,
        version: 1,
        trace_id: run,
        ...NO_CLOCKS,
        parent_task_id: null,
      };
      await tx.insertTask(task);
      tasks.push(task);
      for (const a of spec.approvals) {
        const approval: ApprovalRecord = {
          approval_id: crypto.randomUUID(),
          task_id: task.task_id,
          approver_role: name(a.approver_role),
          reason: "probe",
          status: "pending",
          requested_by: name(a.requested_by),
          decided_by: null,
          comments: "",
          created_at: now,
          decided_at: null,
          trace_id: run,
          expires_at: null,
          escalate_to: null,
          escalated_from: null,
        };
        await tx.insertApproval(approval);
        approvals.push(approval);
      }
    }
  });
  const callers = w.callers.map((c) => callerOf(name(c.subject), c.roles.map(name), name("admin")));
  return { tasks, approvals, callers, run };
}

const ids = (items: { task_id?: string; approval_id?: string }[], key: "task_id" | "approval_id") => items.map((i) => i[key]!).sort();

async function visibleTasks(s: Store, caller: Caller, run: string) {
  // Newest first: this world's tasks are the newest, whatever earlier worlds left (admins see those too).
  const rows = await s.listTasks({ visibleTo: visibilityOf(caller), order: "desc", limit: 200 });
  return rows.filter((t) => t.trace_id === run);
}

async function visibleApprovals(s: Store, caller: Caller, run: string) {
  const rows = await s.listApprovals({ visibleTo: visibilityOf(caller), limit: 200 });
  return rows.filter((a) => a.trace_id === run);
}

for (const engine of ENGINES) {
  describe(`visibility: ${engine.name}`, () => {
    const opened = storeOn(engine);

    test("listing tasks and approvals returns exactly what the policy lets each caller read", async () => {
      await fc.assert(
        fc.asyncProperty(world, async (w) => {
          const s = opened.store;
          const { tasks, approvals, callers, run } = await store(s, w);
          const approverRoles = (task: Task) => approvals.filter((a) => a.task_id === task.task_id).map((a) => a.approver_role);
          for (const caller of callers) {
            const readable = tasks.filter((t) => mayReadTask(caller, t, approverRoles(t)));
            expect(ids(await visibleTasks(s, caller, run), "task_id")).toEqual(ids(readable, "task_id"));
            const taskOf = (a: ApprovalRecord) => tasks.find((t) => t.task_id === a.task_id)!;
            const allowed: ApprovalRecord[] = [];
            for (const a of approvals)
              if (await mayReadApproval(caller, a, async () => mayReadTask(caller, taskOf(a), approverRoles(taskOf(a))))) allowed.push(a);
            expect(ids(await visibleApprovals(s, caller, run), "approval_id")).toEqual(ids(allowed, "approval_id"));
          }
        }),
        { numRuns: 40 },
      );
    });
  });
}
