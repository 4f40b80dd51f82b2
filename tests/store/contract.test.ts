/**
 * The store contract: what the mesh service relies on, run against every engine
 * (SQLite in a temp folder, PostgreSQL in a throwaway database).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { ApprovalRecord, EventAction, Task } from "../../src/contract/schemas.ts";
import type { Change, NewAuditEntry, Store, StoreTx, WebSession } from "../../src/controller/store/store.ts";
import { withoutSeq } from "../../src/controller/store/rows.ts";
import { ENGINES, NO_CLOCKS, type EngineDatabase } from "./engines.ts";

let clock = Date.parse("2030-01-01T00:00:00.000Z");
/** Strictly increasing timestamps, so orderings in the tests are unambiguous. */
const tick = () => new Date((clock += 1000)).toISOString();
const unique = (what: string) => `${what}-${crypto.randomUUID().slice(0, 8)}`;

const session = (idHash: string, expiresAt: string): WebSession => ({
  id_hash: idHash,
  subject: "alice",
  roles: ["approver", "lead"],
  csrf_token: "csrf",
  created_at: "2000-01-01T00:00:00.000Z",
  expires_at: expiresAt,
});

function newTask(overrides: Partial<Task> = {}): Task {
  const now = tick();
  return {
    task_id: crypto.randomUUID(),
    target: "worker",
    source: "alice",
    task_type: "review",
    description: "Look at PR 7",
    data: { pr: 7, tags: ["a", "b"], nested: { ok: true, none: null } },
    context: { repo: "mesh" },
    priority: "normal",
    status: "pending",
    claimed_by: null,
    result: null,
    error: null,
    created_at: now,
    updated_at: now,
    version: 1,
    trace_id: "0af7651916cd43dd8448eb211c80319c",
    ...NO_CLOCKS,
    parent_task_id: null,
    ...overrides,
  };
}

function newApproval(task: Task, overrides: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    approval_id: crypto.randomUUID(),
    task_id: task.task_id,
    approver_role: "lead",
    reason: "needs a second pair of eyes",
    status: "pending",
    requested_by: task.source,
    decided_by: null,
    comments: "",
    created_at: tick(),
    decided_at: null,
    trace_id: task.trace_id,
    expires_at: null,
    escalate_to: null,
    escalated_from: null,
    ...overrides,
  };
}

const entry = (task: Task, action: EventAction, overrides: Partial<NewAuditEntry> = {}): NewAuditEntry => ({
  at: tick(),
  actor: task.source,
  action,
  task_id: task.task_id,
  approval_id: null,
  from_status: null,
  to_status: task.status,
  trace_id: task.trace_id,
  ...overrides,
});

const about = (task: Task, approver_role: string | null = null) => ({
  target: task.target,
  source: task.source,
  approver_role,
  parent_task_id: task.parent_task_id,
});

async function addTask(store: Store, overrides: Partial<Task> = {}): Promise<Task> {
  const task = newTask(overrides);
  await store.transaction(async (tx) => {
    await tx.insertTask(task);
    await tx.appendAudit(entry(task, "task.created"), about(task));
  });
  return task;
}

async function addApproval(store: Store, task: Task, overrides: Partial<ApprovalRecord> = {}): Promise<ApprovalRecord> {
  const approval = newApproval(task, overrides);
  await store.transaction(async (tx) => {
    await tx.insertApproval(approval);
    await tx.appendAudit(entry(task, "approval.requested", { approval_id: approval.approval_id, to_status: "pending" }), about(task, approval.approver_role));
  });
  return approval;
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/** Whether `work` was seen waiting for another unit of work's lock (true) or finished first (false). */
const waitsBehindLock = (db: EngineDatabase, work: Promise<unknown>) =>
  Promise.race([
    work.then(() => false),
    db.writerWaits().then(
      () => true,
      () => false,
    ),
  ]);

/** Collects what a store's listeners hear about tasks for `target`; `until(n)` resolves once n arrived. */
function hear(store: Store, target: string) {
  const heard: Change[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const stop = store.onChange((change) => {
    if (change.target !== target) return;
    heard.push(change);
    for (const w of waiters.filter((w) => heard.length >= w.n)) w.resolve();
  });
  const until = (n: number) => (heard.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })));
  return { heard, until, stop };
}

/** Everything a database holds, as text: its files on SQLite (the log included), every row of every table on PostgreSQL. */
async function everythingStored(db: EngineDatabase): Promise<string> {
  if (db.path)
    return db.path
      .files()
      .map((f) => readFileSync(f).toString("latin1"))
      .join("\n");
  const tables = await db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
  const rows = await Promise.all(tables.map((t) => db.query(`SELECT t::text AS row FROM ${String(t.tablename)} t`)));
  return rows
    .flat()
    .map((r) => String(r.row))
    .join("\n");
}

for (const engine of ENGINES) {
  describe(`store contract: ${engine.name}`, () => {
    let db: EngineDatabase;
    let store: Store;

    beforeAll(async () => {
      db = await engine.create();
      store = await db.open();
    });

    afterAll(async () => {
      await store?.close();
      await db?.drop();
    });

    test("two controllers opening a fresh database at once apply each migration once", async () => {
      const fresh = await engine.create();
      try {
        const stores = await Promise.all([fresh.open(), fresh.open()]);
        for (const s of stores) await s.ping();
        const applied = await fresh.query("SELECT version, CAST(count(*) AS integer) AS times FROM schema_migrations GROUP BY version ORDER BY version");
        expect(applied.length).toBeGreaterThan(0);
        expect(applied.map((r) => Number(r.version))).toEqual(applied.map((_, i) => i + 1));
        expect(applied.every((r) => Number(r.times) === 1)).toBe(true);
        await Promise.all(stores.map((s) => s.close()));
        // Opening again finds nothing left to do.
        const again = await fresh.open();
        await again.close();
        expect(await fresh.query("SELECT version FROM schema_migrations")).toHaveLength(applied.length);
      } finally {
        await fresh.drop();
      }
    });

    test("keeps every field of a task and an approval as it was written", async () => {
      const task = await addTask(store, { description: null, priority: "high", data: { deep: { list: [1, "two", { three: 3 }] }, unicode: "ünïcødé ✓" } });
      expect(await store.getTask(task.task_id)).toEqual(task);
      const approval = await addApproval(store, task);
      expect(await store.getApproval(approval.approval_id)).toEqual(approval);
      expect((await store.listApprovals({ task_id: task.task_id, limit: 10 })).map(withoutSeq)).toEqual([approval]);
      expect(await store.getTask("no-such-task")).toBeNull();
      expect(await store.getApproval("no-such-approval")).toBeNull();
    });

    test("counts a task's approvals waiting for a decision, a unit of work's own new ones included", async () => {
      const task = await addTask(store);
      await addApproval(store, task);
      await addApproval(store, task, { status: "approved", decided_by: "carol", decided_at: tick() });
      await addApproval(store, await addTask(store));
      const counted = await store.transaction(async (tx) => {
        const before = await tx.countPendingApprovals(task.task_id);
        await tx.insertApproval(newApproval(task));
        return [before, await tx.countPendingApprovals(task.task_id)];
      });
      expect(counted).toEqual([1, 2]);
    });

    test("tells the status of each task asked about that exists, and nothing for the rest", async () => {
      const pending = await addTask(store);
      const done = await addTask(store, { status: "completed" });
      const statuses = await store.taskStatuses([pending.task_id, done.task_id, crypto.randomUUID(), pending.task_id]);
      expect(Object.fromEntries(statuses)).toEqual({ [pending.task_id]: "pending", [done.task_id]: "completed" });
      expect((await store.taskStatuses([])).size).toBe(0);
    });

    test("refuses text and numbers it could not keep as given, in writes and lookups alike, and stores none of it", async () => {
      const refused = (work: Promise<unknown>, field: string) => expect(work).rejects.toMatchObject({ kind: "invalid", fields: [{ field }] });
      const target = unique("role");
      await refused(addTask(store, { target, description: "a\0b" }), "description");
      await refused(addTask(store, { target, data: { note: "half \ud83d" } }), "data.note");
      await refused(addTask(store, { target, data: { list: ["ok", "\udc00"] } }), "data.list.1");
      await refused(addTask(store, { target, context: { "k\0": 1 } }), "context.k\0");
      await refused(addTask(store, { target, data: { n: Number.POSITIVE_INFINITY } }), "data.n");
      const task = await addTask(store, { target });
      await refused(addApproval(store, task, { reason: "\udfff" }), "reason");
      await refused(
        store.transaction((tx) => tx.updateTask(task.task_id, { ...task, result: { x: "\0" } })),
        "result.x",
      );
      await refused(store.getTask("a\0"), "id");
      await refused(store.getApproval("\ud800"), "id");
      await refused(store.listTasks({ source: "a\0", order: "asc", limit: 1 }), "source");
      await refused(store.listTasks({ visibleTo: { subject: "s", roles: ["\ud800"] }, order: "asc", limit: 1 }), "visibleTo.roles.0");
      await refused(store.listApprovals({ decided_by: "\ud800", limit: 1 }), "decided_by");
      await refused(store.listAudit({ actor: "\0", limit: 1 }), "actor");
      await refused(store.saveSession({ ...session(unique("session"), "2099-01-01T00:00:00.000Z"), subject: "\0" }), "subject");
      expect(await store.listTasks({ targets: [target], order: "asc", limit: 10 })).toEqual([{ ...task, seq: expect.any(Number) }]);
      expect(await store.getTask(task.task_id)).toEqual(task);
      expect(await store.listApprovals({ task_id: task.task_id, limit: 10 })).toEqual([]);
      // Whole characters beyond the BMP, and the largest finite numbers, are kept exactly.
      const kept = await addTask(store, { description: "😀 ✓", data: { max: Number.MAX_VALUE, min: -Number.MAX_VALUE } });
      expect(await store.getTask(kept.task_id)).toEqual(kept);
    });

    test("updates a task and an approval with their patches", async () => {
      const task = await addTask(store);
      const approval = await addApproval(store, task);
      const updated: Task = {
        ...task,
        status: "completed",
        claimed_by: "bob",
        result: { merged: true, sha: "abc" },
        error: "none",
        updated_at: tick(),
        version: 3,
      };
      const decided: ApprovalRecord = { ...approval, status: "approved", decided_by: "carol", comments: "fine", decided_at: tick() };
      await store.transaction(async (tx) => {
        await tx.updateTask(task.task_id, updated);
        await tx.updateApproval(approval.approval_id, decided);
      });
      expect(await store.getTask(task.task_id)).toEqual(updated);
      expect(await store.getApproval(approval.approval_id)).toEqual(decided);
    });

    test("commits all of a unit of work or none of it", async () => {
      const target = unique("role");
      const listener = hear(store, target);
      const task = newTask({ target });
      const scope = unique("scope");
      const failure = store.transaction(async (tx) => {
        await tx.reserveIdempotency(scope, "key", "hash", tick(), tick());
        await tx.insertTask(task);
        await tx.insertApproval(newApproval(task));
        await tx.appendAudit(entry(task, "task.created"), about(task));
        throw new Error("the service refused halfway");
      });
      await expect(failure).rejects.toThrow("the service refused halfway");
      expect(await store.getTask(task.task_id)).toBeNull();
      expect(await store.listApprovals({ task_id: task.task_id, limit: 10 })).toEqual([]);
      expect(await store.listAudit({ task_id: task.task_id, limit: 10 })).toEqual([]);
      const reservation = await store.transaction((tx) => tx.reserveIdempotency(scope, "key", "hash", tick(), tick()));
      expect(reservation).toEqual({ kind: "reserved" });
      // A change committed after the failed one is the first the listener hears.
      const next = await addTask(store, { target });
      await listener.until(1);
      listener.stop();
      expect(listener.heard.map((c) => c.task_id)).toEqual([next.task_id]);
    });

    test("a unit of work that locks a task makes the next one wait, then see its change", async () => {
      const task = await addTask(store);
      const hold = gate();
      const locked = gate();
      const first = store.transaction(async (tx) => {
        const seen = await tx.getTaskForUpdate(task.task_id);
        locked.open();
        await hold.opened;
        await tx.updateTask(task.task_id, { ...seen!, status: "claimed", claimed_by: "first", version: seen!.version + 1, updated_at: tick() });
      });
      await locked.opened;
      const second = store.transaction((tx) => tx.getTaskForUpdate(task.task_id));
      const waited = await waitsBehindLock(db, second);
      hold.open();
      await first;
      expect(waited).toBe(true);
      expect(await second).toMatchObject({ status: "claimed", claimed_by: "first", version: 2 });
    });

    test("says when the next lease, deadline or approval expiry falls due, and hands each due one to one unit of work", async () => {
      const at = (second: number) => new Date(Date.UTC(2001, 0, 1, 0, 0, second)).toISOString();
      const leased = await addTask(store, { status: "claimed", claimed_by: "bob", attempt: 1, lease_expires_at: at(2) });
      const deadlined = await addTask(store, { deadline: at(1) });
      await addTask(store, { status: "claimed", claimed_by: "bob", attempt: 1, lease_expires_at: "2999-01-01T00:00:00.000Z" });
      await addTask(store, { status: "completed", deadline: at(0) }); // finished: its deadline no longer counts
      const expiring = await addApproval(store, await addTask(store), { expires_at: at(3) });
      expect(await store.nextDueAt()).toBe(at(1));

      const now = at(5);
      const hold = gate();
      const locked = gate();
      // The first unit of work takes the earliest due task and acts on it; the second, at the same time, gets the other one.
      const first = store.transaction(async (tx) => {
        const due = await tx.lockDueTask(now);
        await tx.updateTask(due!.task_id, { ...due!, status: "expired", version: due!.version + 1, updated_at: now });
        locked.open();
        await hold.opened;
        return due!.task_id;
      });
      await locked.opened;
      const second = store.transaction(async (tx) => (await tx.lockDueTask(now))?.task_id);
      hold.open();
      expect([await first, await second]).toEqual([deadlined.task_id, leased.task_id]);
      expect((await store.transaction((tx) => tx.lockDueApproval(now)))?.approval_id).toBe(expiring.approval_id);
      expect(await store.transaction((tx) => tx.lockDueTask(at(0)))).toBeNull();
      expect(await store.transaction((tx) => tx.lockDueApproval(at(0)))).toBeNull();
    });

    test("a unit of work that locks an approval makes the next one wait, then see its decision", async () => {
      const task = await addTask(store);
      const approval = await addApproval(store, task);
      const hold = gate();
      const locked = gate();
      const first = store.transaction(async (tx) => {
        const seen = await tx.getApprovalForUpdate(approval.approval_id);
        locked.open();
        await hold.opened;
        await tx.updateApproval(approval.approval_id, { ...seen!, status: "rejected", decided_by: "first", decided_at: tick() });
      });
      await locked.opened;
      const second = store.transaction((tx) => tx.getApprovalForUpdate(approval.approval_id));
      const waited = await waitsBehindLock(db, second);
      hold.open();
      await first;
      expect(waited).toBe(true);
      expect(await second).toMatchObject({ status: "rejected", decided_by: "first" });
      expect(await store.transaction((tx) => tx.getTaskForUpdate("no-such-task"))).toBeNull();
      expect(await store.transaction((tx) => tx.getApprovalForUpdate("no-such-approval"))).toBeNull();
    });

    test("an idempotency key is reserved once, replayed while it lives, and free again once expired", async () => {
      const scope = unique("scope");
      const now = "2031-01-01T00:00:00.000Z";
      const expires = "2031-01-01T01:00:00.000Z";
      const first = await store.transaction(async (tx) => {
        const r = await tx.reserveIdempotency(scope, "k1", "hash-1", now, expires);
        await tx.saveIdempotentResponse(scope, "k1", { task_id: "t-1", status: "pending" });
        return r;
      });
      expect(first).toEqual({ kind: "reserved" });
      const replay = await store.transaction((tx) => tx.reserveIdempotency(scope, "k1", "hash-2", "2031-01-01T00:30:00.000Z", expires));
      expect(replay).toEqual({ kind: "replay", request_hash: "hash-1", response: { task_id: "t-1", status: "pending" } });
      const otherScope = await store.transaction((tx) => tx.reserveIdempotency(unique("scope"), "k1", "hash-1", now, expires));
      expect(otherScope).toEqual({ kind: "reserved" });
      const afterExpiry = await store.transaction((tx) => tx.reserveIdempotency(scope, "k1", "hash-3", "2031-01-01T02:00:00.000Z", "2031-01-01T03:00:00.000Z"));
      expect(afterExpiry).toEqual({ kind: "reserved" });
    });

    /** Starts a unit of work that takes `key` and holds it until `hold` opens; then it commits or fails. */
    function holdKey(scope: string, key: string, outcome: "commit" | "fail") {
      const hold = gate();
      const taken = gate();
      const done = store.transaction(async (tx: StoreTx) => {
        await tx.reserveIdempotency(scope, key, "hash-first", tick(), "2099-01-01T00:00:00.000Z");
        taken.open();
        await hold.opened;
        if (outcome === "fail") throw new Error("first holder failed");
        await tx.saveIdempotentResponse(scope, key, { answer: "first" });
      });
      return { hold, taken, done };
    }

    test("a second user of an idempotency key waits for the first and replays its answer", async () => {
      const scope = unique("scope");
      const first = holdKey(scope, "k", "commit");
      await first.taken.opened;
      const second = store.transaction((tx) => tx.reserveIdempotency(scope, "k", "hash-second", tick(), "2099-01-01T00:00:00.000Z"));
      const waited = await waitsBehindLock(db, second);
      first.hold.open();
      await first.done;
      expect(waited).toBe(true);
      expect(await second).toEqual({ kind: "replay", request_hash: "hash-first", response: { answer: "first" } });
    });

    test("a second user of an idempotency key takes it when the first rolls back", async () => {
      const scope = unique("scope");
      const first = holdKey(scope, "k", "fail");
      await first.taken.opened;
      const second = store.transaction((tx) => tx.reserveIdempotency(scope, "k", "hash-second", tick(), "2099-01-01T00:00:00.000Z"));
      const waited = await waitsBehindLock(db, second);
      first.hold.open();
      await expect(first.done).rejects.toThrow("first holder failed");
      expect(waited).toBe(true);
      expect(await second).toEqual({ kind: "reserved" });
    });

    test("positions follow commit order, so a reader going by seq misses nothing", async () => {
      const target = unique("inbox");
      const hold = gate();
      const inserted = gate();
      const first = store.transaction(async (tx) => {
        const task = newTask({ target });
        await tx.insertTask(task);
        await tx.appendAudit(entry(task, "task.created"), about(task));
        // Reading its own row makes sure the first holds its position while it stays open.
        expect(await tx.getTaskForUpdate(task.task_id)).toEqual(task);
        inserted.open();
        await hold.opened;
        return task;
      });
      await inserted.opened;
      const second = store.transaction(async (tx) => {
        const task = newTask({ target });
        await tx.insertTask(task);
        await tx.appendAudit(entry(task, "task.created"), about(task));
        return task;
      });
      // Writers on a shared engine do not queue behind one another: the second commits while the first is open.
      if (engine.shared) await second;
      const before = await store.listTasks({ targets: [target], order: "asc", limit: 10 });
      const changesBefore = await store.changesSince(0, 1_000_000);
      hold.open();
      const [a, b] = await Promise.all([first, second]);
      const after = await store.listTasks({ targets: [target], order: "asc", limit: 10, after: before.at(-1)?.seq });
      expect([...before, ...after].map((t) => t.task_id)).toEqual([a.task_id, b.task_id]);
      const lastSeen = changesBefore.at(-1)?.seq ?? 0;
      const changesAfter = await store.changesSince(lastSeen, 1_000_000);
      expect(changesAfter.map((c) => c.task_id)).toEqual([a.task_id, b.task_id]);
    });

    test("readers going by position miss nothing and see nothing out of order while writers on several controllers commit and roll back at once", async () => {
      const target = unique("busy");
      const stores = engine.shared ? [store, await db.open()] : [store];
      const tasksSeen: string[] = [];
      const changesSeen: string[] = [];
      let writing = true;
      let taskCursor: number | undefined;
      const changesFrom = (await store.changesSince(0, 1_000_000)).at(-1)?.seq ?? 0;
      let changeCursor = changesFrom;
      /** One pass of each reader from where it stopped; true when either found something. */
      const readOnce = async () => {
        const tasks = await store.listTasks({ targets: [target], order: "asc", after: taskCursor, limit: 7 });
        for (const t of tasks) tasksSeen.push(t.task_id);
        taskCursor = tasks.at(-1)?.seq ?? taskCursor;
        const changes = await store.changesSince(changeCursor, 7);
        for (const c of changes) if (c.target === target) changesSeen.push(c.task_id);
        changeCursor = changes.at(-1)?.seq ?? changeCursor;
        return tasks.length + changes.length > 0;
      };
      const reader = (async () => {
        // A pause between passes lets the writers' timers run (SQLite reads never wait on I/O).
        while (writing) if (!(await readOnce())) await Bun.sleep(1);
        while (await readOnce());
      })();
      const writer = async (w: number) => {
        for (let i = 0; i < 12; i++) {
          const s = stores[(w + i) % stores.length]!;
          await s
            .transaction(async (tx) => {
              const task = newTask({ target });
              await tx.insertTask(task);
              await tx.appendAudit(entry(task, "task.created"), about(task));
              // Writing its rows now, then staying open a while, makes the windows in which others commit past it.
              await tx.getTaskForUpdate(task.task_id);
              await Bun.sleep((w * 7 + i * 3) % 5);
              if ((w + i) % 4 === 0) throw new Error("rolled back on purpose");
            })
            .catch(() => undefined);
        }
      };
      await Promise.all(Array.from({ length: 6 }, (_, w) => writer(w)));
      writing = false;
      await reader;
      const committed = await store.listTasks({ targets: [target], order: "asc", limit: 1000 });
      expect(committed.length).toBeGreaterThan(0);
      expect(tasksSeen).toEqual(committed.map((t) => t.task_id));
      const trail = (await store.changesSince(changesFrom, 1_000_000)).filter((c) => c.target === target);
      expect(changesSeen).toEqual(trail.map((c) => c.task_id));
      expect(changesSeen.toSorted()).toEqual(tasksSeen.toSorted());
      await Promise.all(stores.slice(1).map((s) => s.close()));
    });

    test("a unit of work sees the rows it wrote itself", async () => {
      const task = newTask();
      const approval = newApproval(task);
      const seen = await store.transaction(async (tx) => {
        await tx.insertTask(task);
        await tx.updateTask(task.task_id, { ...task, status: "claimed", claimed_by: "bob", version: 2 });
        await tx.insertApproval(approval);
        return { task: await tx.getTaskForUpdate(task.task_id), approval: await tx.getApprovalForUpdate(approval.approval_id) };
      });
      expect(seen).toEqual({ task: { ...task, status: "claimed", claimed_by: "bob", version: 2 }, approval });
      expect(await store.getTask(task.task_id)).toEqual(seen.task);
    });

    test("lists tasks by target, source, status and type, in either order, by keyset", async () => {
      const target = unique("role");
      const source = unique("sender");
      const tasks = [
        await addTask(store, { target, source }),
        await addTask(store, { target, source, status: "claimed", task_type: "notification" }),
        await addTask(store, { target, source: unique("other") }),
        await addTask(store, { target, source }),
      ];
      const ids = (rows: Task[]) => rows.map((t) => t.task_id);
      const asc = await store.listTasks({ targets: [target], order: "asc", limit: 10 });
      expect(ids(asc)).toEqual(ids(tasks));
      expect(asc.every((t, i) => i === 0 || t.seq > asc[i - 1]!.seq)).toBe(true);
      expect(ids(await store.listTasks({ targets: [target], order: "desc", limit: 10 }))).toEqual(ids(tasks).reverse());
      expect(ids(await store.listTasks({ targets: [target], source, order: "asc", limit: 10 }))).toEqual(ids([tasks[0]!, tasks[1]!, tasks[3]!]));
      expect(ids(await store.listTasks({ targets: [target], status: "pending", order: "asc", limit: 10 }))).toEqual(ids([tasks[0]!, tasks[2]!, tasks[3]!]));
      expect(ids(await store.listTasks({ targets: [target], task_type: "notification", order: "asc", limit: 10 }))).toEqual([tasks[1]!.task_id]);
      const page1 = await store.listTasks({ targets: [target], order: "asc", limit: 2 });
      const page2 = await store.listTasks({ targets: [target], order: "asc", limit: 2, after: page1.at(-1)!.seq });
      expect(ids([...page1, ...page2])).toEqual(ids(tasks));
      const back = await store.listTasks({ targets: [target], order: "desc", limit: 10, after: asc[2]!.seq });
      expect(ids(back)).toEqual(ids([tasks[1]!, tasks[0]!]));
      expect(await store.listTasks({ targets: [target], order: "asc", limit: 10, after: asc.at(-1)!.seq })).toEqual([]);
      // several roles at once (an inbox across roles), and none at all
      const otherRole = unique("role");
      const elsewhere = await addTask(store, { target: otherRole });
      expect(ids(await store.listTasks({ targets: [target, otherRole], order: "asc", limit: 10 }))).toEqual([...ids(tasks), elsewhere.task_id]);
      expect(await store.listTasks({ targets: [], order: "asc", limit: 10 })).toEqual([]);
    });

    test("lists only the tasks a caller may see: as source, as target role, or as an asked approver", async () => {
      const [mine, forMyRole, toApprove, hidden] = [unique("me"), unique("role"), unique("approver"), unique("role")];
      const sent = await addTask(store, { source: mine, target: unique("role") });
      const assigned = await addTask(store, { source: unique("sender"), target: forMyRole });
      const asked = await addTask(store, { source: unique("sender"), target: unique("role") });
      await addApproval(store, asked, { approver_role: toApprove });
      await addTask(store, { source: unique("sender"), target: hidden });
      const visible = (subject: string, roles: string[]) =>
        store.listTasks({ visibleTo: { subject, roles }, order: "asc", limit: 50 }).then((rows) => rows.map((t) => t.task_id));
      expect(await visible(mine, [])).toEqual([sent.task_id]);
      expect(await visible(unique("nobody"), [forMyRole])).toEqual([assigned.task_id]);
      expect(await visible(unique("nobody"), [toApprove])).toEqual([asked.task_id]);
      expect(await visible(mine, [forMyRole, toApprove])).toEqual([sent.task_id, assigned.task_id, asked.task_id]);
      expect(await visible(unique("nobody"), [])).toEqual([]);
    });

    test("lists approvals by role, task and status, newest first, only where the caller may see them", async () => {
      const role = unique("approver");
      const requester = unique("requester");
      const task = await addTask(store, { source: requester, target: unique("role") });
      const other = await addTask(store, { target: unique("role") });
      const a1 = await addApproval(store, task, { approver_role: role, requested_by: requester });
      const a2 = await addApproval(store, other, { approver_role: role, status: "approved", decided_by: "x", decided_at: tick() });
      const a3 = await addApproval(store, task, { approver_role: unique("approver"), requested_by: requester });
      const ids = (rows: ApprovalRecord[]) => rows.map((a) => a.approval_id);
      expect(ids(await store.listApprovals({ approver_roles: [role], limit: 10 }))).toEqual([a2.approval_id, a1.approval_id]);
      expect(ids(await store.listApprovals({ approver_roles: [role], status: "pending", limit: 10 }))).toEqual([a1.approval_id]);
      expect(ids(await store.listApprovals({ task_id: task.task_id, limit: 10 }))).toEqual([a3.approval_id, a1.approval_id]);
      // Someone's decisions, whichever they were.
      const decider = unique("decider");
      const a4 = await addApproval(store, other, { approver_role: role, status: "rejected", decided_by: decider, decided_at: tick() });
      expect(ids(await store.listApprovals({ decided_by: decider, limit: 10 }))).toEqual([a4.approval_id]);
      expect(ids(await store.listApprovals({ decided_by: decider, status: "approved", limit: 10 }))).toEqual([]);
      const newest = await store.listApprovals({ task_id: task.task_id, limit: 1 });
      expect(ids(await store.listApprovals({ task_id: task.task_id, limit: 10, after: newest[0]!.seq }))).toEqual([a1.approval_id]);
      const visible = (subject: string, roles: string[]) => store.listApprovals({ visibleTo: { subject, roles }, approver_roles: [role], limit: 10 }).then(ids);
      expect(await visible(unique("nobody"), [role])).toEqual([a4.approval_id, a2.approval_id, a1.approval_id]);
      expect(await visible(requester, [])).toEqual([a1.approval_id]);
      expect(await visible(unique("nobody"), [other.target])).toEqual([a4.approval_id, a2.approval_id]);
      expect(await visible(unique("nobody"), [])).toEqual([]);
    });

    test("keeps the audit trail: a task's history, filtered listings and the changes after a seq", async () => {
      const actor = unique("actor");
      const task = await addTask(store, { source: actor });
      const claimedAt = tick();
      await store.transaction(async (tx) => {
        await tx.appendAudit(entry(task, "task.claimed", { actor, at: claimedAt, from_status: "pending", to_status: "claimed" }), about(task));
      });
      const completedAt = tick();
      await store.transaction(async (tx) => {
        await tx.appendAudit(entry(task, "task.completed", { actor, at: completedAt, from_status: "claimed", to_status: "completed" }), about(task));
      });
      const history = (await store.listAudit({ task_id: task.task_id, limit: 10 })).toReversed();
      expect(history.map((h) => h.action)).toEqual(["task.created", "task.claimed", "task.completed"]);
      expect(history[1]).toEqual({
        seq: history[1]!.seq,
        at: claimedAt,
        actor,
        action: "task.claimed",
        task_id: task.task_id,
        approval_id: null,
        from_status: "pending",
        to_status: "claimed",
        trace_id: task.trace_id,
      });
      const actions = (rows: { action: string }[]) => rows.map((r) => r.action);
      expect(actions(await store.listAudit({ actor, limit: 10 }))).toEqual(["task.completed", "task.claimed", "task.created"]);
      expect(actions(await store.listAudit({ actor, action: "task.claimed", limit: 10 }))).toEqual(["task.claimed"]);
      expect(actions(await store.listAudit({ task_id: task.task_id, since: claimedAt, limit: 10 }))).toEqual(["task.completed", "task.claimed"]);
      expect(actions(await store.listAudit({ task_id: task.task_id, until: claimedAt, limit: 10 }))).toEqual(["task.created"]);
      expect(actions(await store.listAudit({ actor, after: history[2]!.seq, limit: 1 }))).toEqual(["task.claimed"]);
      const changes = await store.changesSince(history[0]!.seq, 10);
      expect(changes.slice(0, 2)).toEqual(history.slice(1).map((h) => ({ ...h, ...about(task) })));
      expect(await store.changesSince(history[0]!.seq, 1)).toHaveLength(1);
    });

    test("the audit trail is append-only, even for someone with a database shell", async () => {
      const task = await addTask(store);
      await expect(db.query(`UPDATE audit SET actor = 'mallory' WHERE task_id = '${task.task_id}'`)).rejects.toThrow(/append-only/);
      await expect(db.query(`DELETE FROM audit WHERE task_id = '${task.task_id}'`)).rejects.toThrow(/append-only/);
      expect((await store.listAudit({ task_id: task.task_id, limit: 10 })).map((h) => h.actor)).toEqual([task.source]);
    });

    test("tells listeners of each committed change once, in order, with whom it concerns", async () => {
      const target = unique("role");
      const listener = hear(store, target);
      const task = await addTask(store, { target, source: unique("sender") });
      const approval = await addApproval(store, task, { approver_role: unique("approver") });
      await listener.until(2);
      listener.stop();
      expect(listener.heard).toHaveLength(2);
      const [created, asked] = listener.heard;
      expect(created).toMatchObject({ action: "task.created", task_id: task.task_id, target: task.target, source: task.source, approver_role: null });
      expect(asked).toMatchObject({ action: "approval.requested", approval_id: approval.approval_id, approver_role: approval.approver_role });
      expect(asked!.seq).toBeGreaterThan(created!.seq);
      expect(await store.changesSince(created!.seq - 1, 2)).toEqual(listener.heard);
    });

    test("keeps a task's thread in order, with its data, and counts it inside a unit of work", async () => {
      const task = await addTask(store);
      const [question, answer] = await store.transaction(async (tx) => [
        await tx.insertMessage(task.task_id, { kind: "question", author: "bob", at: tick(), text: "Which branch?", data: { choices: ["a", "b"] } }),
        await tx.insertMessage(task.task_id, { kind: "answer", author: task.source, at: tick(), text: "b", data: null }),
      ]);
      expect(answer!.seq).toBeGreaterThan(question!.seq);
      expect(await store.listThread(task.task_id)).toEqual([question!, answer!]);
      expect(question).toMatchObject({ kind: "question", author: "bob", text: "Which branch?", data: { choices: ["a", "b"] } });
      expect(await store.transaction((tx) => tx.countMessages(task.task_id))).toBe(2);
      expect(await store.listThread((await addTask(store)).task_id)).toEqual([]);
      // A rolled-back unit of work leaves no message behind.
      await expect(
        store.transaction(async (tx) => {
          await tx.insertMessage(task.task_id, { kind: "note", author: "bob", at: tick(), text: "gone", data: null });
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      expect(await store.listThread(task.task_id)).toHaveLength(2);
    });

    test("finds a task's subtasks by their parent, oldest first, and a change names its task's parent", async () => {
      const parent = await addTask(store);
      const target = unique("role");
      const listener = hear(store, target);
      const first = await addTask(store, { parent_task_id: parent.task_id, target });
      const second = await addTask(store, { parent_task_id: parent.task_id, target });
      await addTask(store, { parent_task_id: first.task_id });
      expect((await store.listSubtasks(parent.task_id)).map((t) => t.task_id)).toEqual([first.task_id, second.task_id]);
      expect(await store.listSubtasks(parent.task_id)).toEqual([first, second]);
      expect((await store.transaction((tx) => tx.lockSubtasks(parent.task_id))).map((t) => t.task_id)).toEqual([first.task_id, second.task_id]);
      expect(await store.listSubtasks(second.task_id)).toEqual([]);
      await listener.until(2);
      listener.stop();
      expect(listener.heard.map((c) => c.parent_task_id)).toEqual([parent.task_id, parent.task_id]);
      expect((await store.changesSince(listener.heard[0]!.seq - 1, 1))[0]!.parent_task_id).toBe(parent.task_id);
    });

    test("a task waiting for an answer keeps its deadline but not its lease", async () => {
      const at = (second: number) => new Date(Date.UTC(2002, 0, 1, 0, 0, second)).toISOString();
      const waiting = await addTask(store, { status: "input_required", claimed_by: "bob", attempt: 1, lease_expires_at: at(1), deadline: at(3) });
      expect(await store.transaction((tx) => tx.lockDueTask(at(2)))).not.toMatchObject({ task_id: waiting.task_id });
      expect((await store.transaction((tx) => tx.lockDueTask(at(4))))?.task_id).toBe(waiting.task_id);
    });

    test("a listener that throws does not stop the others hearing, now or later", async () => {
      const target = unique("role");
      const faulty = store.onChange(() => {
        throw new Error("a listener's own fault");
      });
      const listener = hear(store, target);
      try {
        const first = await addTask(store, { target });
        await listener.until(1);
        const second = await addTask(store, { target });
        await listener.until(2);
        expect(listener.heard.map((c) => c.task_id)).toEqual([first.task_id, second.task_id]);
      } finally {
        faulty();
        listener.stop();
      }
    });

    test("replays to a caller only the changes it may hear, however many it may not lie between", async () => {
      const [me, mine, approving, other] = [unique("me"), unique("role"), unique("approver"), unique("role")];
      const start = (await store.changesSince(0, 1_000_000)).at(-1)?.seq ?? 0;
      const sent = await addTask(store, { source: me, target: other });
      for (let i = 0; i < 5; i++) await addTask(store, { target: other });
      const forMe = await addTask(store, { target: mine });
      const elsewhere = await addTask(store, { target: other });
      const asked = await addApproval(store, elsewhere, { approver_role: approving });
      for (let i = 0; i < 5; i++) await addTask(store, { target: other });
      const caller = { subject: me, roles: [mine, approving] };
      const heard = (after: number, limit: number, hearer = caller) =>
        store.changesSince(after, limit, hearer).then((rows) => rows.map((c) => `${c.action} ${c.task_id}`));
      const expected = [`task.created ${sent.task_id}`, `task.created ${forMe.task_id}`, `approval.requested ${asked.task_id}`];
      expect(await heard(start, 100)).toEqual(expected);
      // A page ends where the caller's own changes do, not where the trail does.
      const first = await store.changesSince(start, 1, caller);
      expect(await heard(start, 1)).toEqual(expected.slice(0, 1));
      expect(await heard(first[0]!.seq, 2)).toEqual(expected.slice(1));
      expect(await heard(start, 100, { subject: unique("nobody"), roles: [unique("role")] })).toEqual([]);
      expect(await heard(start, 100, { subject: me, roles: [] })).toEqual(expected.slice(0, 1));
      // However many roles a token carries.
      const many = Array.from({ length: 300 }, () => unique("role"));
      expect(await heard(start, 100, { subject: unique("nobody"), roles: [...many, mine] })).toEqual(expected.slice(1, 2));
      // Without a hearer (an admin), every change.
      expect(await store.changesSince(start, 100)).toHaveLength(14);
    });

    test("forgets a caller's oldest idempotency keys past its budget, and no one else's, but never one taken within the retry window", async () => {
      const [scope, other] = [unique("scope"), unique("scope")];
      const at = (second: number) => `2031-01-01T00:00:0${second}.000Z`;
      const kept = await store.transaction(async (tx) => {
        for (const [i, key] of ["a", "b", "c", "d"].entries()) {
          await tx.reserveIdempotency(scope, key, "h", at(i), "2099-01-01T00:00:00.000Z");
          await tx.saveIdempotentResponse(scope, key, { key });
        }
        await tx.reserveIdempotency(other, "a", "h", "2030-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z");
        await tx.saveIdempotentResponse(other, "a", { key: "a" });
        // Keys b, c and d were taken within the window: three are over a budget of two, so none can go.
        const withinWindow = await tx.forgetOldestKeys(scope, 2, at(1));
        return [withinWindow, await tx.forgetOldestKeys(scope, 2, at(3)), await tx.forgetOldestKeys(other, 2, at(3))];
      });
      expect(kept).toEqual([false, true, true]);
      const kinds = await store
        .transaction(async (tx) => {
          const found: Record<string, string> = {};
          for (const key of ["d", "c", "b", "a"])
            found[key] = (await tx.reserveIdempotency(scope, key, "h", "2031-01-02T00:00:00.000Z", "2099-01-01T00:00:00.000Z")).kind;
          found.other = (await tx.reserveIdempotency(other, "a", "h", "2031-01-02T00:00:00.000Z", "2099-01-01T00:00:00.000Z")).kind;
          throw Object.assign(new Error("roll back"), { found });
        })
        .catch((error) => error.found);
      expect(kinds).toEqual({ d: "replay", c: "replay", b: "reserved", a: "reserved", other: "replay" });
    });

    test.if(engine.shared)("a controller hears the changes made through another, and its own, once each", async () => {
      const other = await db.open();
      try {
        const target = unique("role");
        const here = hear(store, target);
        const there = hear(other, target);
        const viaOther = await addTask(other, { target });
        const viaHere = await addTask(store, { target });
        await Promise.all([here.until(2), there.until(2)]);
        // One more change: anything heard twice would arrive before it.
        const last = await addTask(other, { target });
        await Promise.all([here.until(3), there.until(3)]);
        here.stop();
        there.stop();
        const expected = [viaOther.task_id, viaHere.task_id, last.task_id];
        expect(here.heard.map((c) => c.task_id)).toEqual(expected);
        expect(there.heard.map((c) => c.task_id)).toEqual(expected);
      } finally {
        await other.close();
      }
    });

    test("purges expired idempotency keys, sessions and used tickets, and keeps live ones", async () => {
      const scope = unique("scope");
      await store.transaction(async (tx) => {
        await tx.reserveIdempotency(scope, "old", "h", "2000-01-01T00:00:00.000Z", "2000-01-02T00:00:00.000Z");
        await tx.saveIdempotentResponse(scope, "old", { n: 1 });
        await tx.reserveIdempotency(scope, "live", "h", "2000-01-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z");
        await tx.saveIdempotentResponse(scope, "live", { n: 2 });
      });
      await store.saveSession(session(unique("old"), "2000-01-02T00:00:00.000Z"));
      const live = session(unique("live"), "2099-01-01T00:00:00.000Z");
      await store.saveSession(live);
      await store.useTicket(unique("old-ticket"), "2000-01-02T00:00:00.000Z");
      expect(await store.purgeExpired("2000-06-01T00:00:00.000Z")).toBe(3);
      const key = await store.transaction((tx) => tx.reserveIdempotency(scope, "live", "other", "2000-06-01T00:00:00.000Z", "2099-01-01T00:00:00.000Z"));
      expect(key).toEqual({ kind: "replay", request_hash: "h", response: { n: 2 } });
      expect(await store.findSession(live.id_hash, "2000-06-01T00:00:00.000Z")).toEqual(live);
      expect(await store.purgeExpired("2000-06-01T00:00:00.000Z")).toBe(0);
    });

    test("keeps a web session until it expires or is deleted", async () => {
      const s = session(unique("session"), "2099-01-01T00:00:00.000Z");
      await store.saveSession(s);
      expect(await store.findSession(s.id_hash, "2098-01-01T00:00:00.000Z")).toEqual(s);
      expect(await store.findSession(s.id_hash, "2099-01-01T00:00:00.000Z")).toBeNull();
      expect(await store.findSession(unique("nobody"), "2098-01-01T00:00:00.000Z")).toBeNull();
      await store.deleteSession(s.id_hash);
      expect(await store.findSession(s.id_hash, "2098-01-01T00:00:00.000Z")).toBeNull();
    });

    test("a sign-in ticket can be used once, even when two uses race", async () => {
      const ticket = unique("ticket");
      const uses = await Promise.all(Array.from({ length: 8 }, () => store.useTicket(ticket, "2099-01-01T00:00:00.000Z")));
      expect(uses.filter(Boolean)).toHaveLength(1);
      expect(await store.useTicket(ticket, "2099-01-01T00:00:00.000Z")).toBe(false);
    });

    test("remembers who serves each role: one row per role and worker or session, the newest report wins, forgotten once expired", async () => {
      const role = unique("role");
      const seen = (instance: string, kind: "worker" | "session", last_seen: string) => ({ role, kind, instance, subject: "bot", last_seen });
      await store.recordPresence(
        [seen("w1", "worker", "2040-01-01T00:00:00.000Z"), seen("s1", "session", "2040-01-01T00:00:01.000Z")],
        "2040-01-01T01:00:00.000Z",
        64,
      );
      await store.recordPresence([seen("w1", "worker", "2040-01-01T00:00:02.000Z")], "2040-01-01T01:00:02.000Z", 64);
      await store.recordPresence([{ ...seen("w1", "worker", "2040-01-01T00:00:02.000Z"), role: unique("other") }], "2040-01-01T01:00:02.000Z", 64);
      const mine = (await store.listPresence("2040-01-01T00:00:00.000Z")).filter((p) => p.role === role);
      expect(mine).toEqual([seen("w1", "worker", "2040-01-01T00:00:02.000Z"), seen("s1", "session", "2040-01-01T00:00:01.000Z")]);
      expect((await store.listPresence("2040-01-01T00:00:01.500Z")).filter((p) => p.role === role).map((p) => p.instance)).toEqual(["w1"]);
      expect(await store.purgeExpired("2040-01-01T01:00:01.000Z")).toBeGreaterThanOrEqual(1);
      expect((await store.listPresence("2000-01-01T00:00:00.000Z")).filter((p) => p.role === role).map((p) => p.instance)).toEqual(["w1"]);
    });

    test("keeps each caller's newest presence rows only, however many instances it names, and no one else's", async () => {
      const [role, subject, other] = [unique("role"), unique("bot"), unique("bot")];
      const at = (i: number) => new Date(Date.parse("2041-01-01T00:00:00.000Z") + i * 1000).toISOString();
      await store.recordPresence([{ role, kind: "worker", instance: "theirs", subject: other, last_seen: at(0) }], "2099-01-01T00:00:00.000Z", 3);
      for (let i = 1; i <= 6; i++) {
        await store.recordPresence([{ role, kind: "session", instance: `s${i}`, subject, last_seen: at(i) }], "2099-01-01T00:00:00.000Z", 3);
      }
      const rows = (await store.listPresence("2000-01-01T00:00:00.000Z")).filter((p) => p.role === role);
      expect(rows.map((p) => p.instance)).toEqual(["s6", "s5", "s4", "theirs"]);
    });

    test("counts tasks by status", async () => {
      const before = await store.countTasksByStatus();
      const claimed = await addTask(store);
      await addTask(store);
      await store.transaction((tx) => tx.updateTask(claimed.task_id, { ...claimed, status: "claimed", claimed_by: "bob", version: 2 }));
      const after = await store.countTasksByStatus();
      expect((after.pending ?? 0) - (before.pending ?? 0)).toBe(1);
      expect((after.claimed ?? 0) - (before.claimed ?? 0)).toBe(1);
      expect(Object.values(after).every((n) => Number.isInteger(n))).toBe(true);
    });

    test("answers a ping while the database is there", async () => {
      await store.ping();
      expect(store.engine).toBe(engine.name);
    });

    test("retention empties the payloads of old finished tasks only, while other units of work run", async () => {
      const fresh = await engine.create();
      const s = await fresh.open();
      try {
        const old = "2020-01-01T00:00:00.000Z";
        const payload = { description: "secret plan", data: { plan: "secret plan" }, context: { why: "secret plan" } };
        const finished = await Promise.all(
          (["completed", "failed", "cancelled"] as const).map((status) =>
            addTask(s, {
              ...payload,
              status,
              updated_at: old,
              result: status === "completed" ? { out: "secret plan" } : null,
              error: status === "failed" ? "secret plan" : null,
            }),
          ),
        );
        const approval = await addApproval(s, finished[0]!, { reason: "secret plan", comments: "secret plan" });
        const say = (taskId: string) =>
          s.transaction((tx) => tx.insertMessage(taskId, { kind: "note", author: "bob", at: tick(), text: "secret plan", data: { plan: "secret plan" } }));
        await say(finished[1]!.task_id);
        const kept = await Promise.all([
          addTask(s, { ...payload, status: "pending", updated_at: old }),
          addTask(s, { ...payload, status: "claimed", claimed_by: "bob", updated_at: old }),
          addTask(s, { ...payload, status: "completed", result: { out: "secret plan" }, updated_at: "2029-06-01T00:00:00.000Z" }),
        ]);
        const auditBefore = (await s.listAudit({ limit: 1000 })).length;
        const before = "2029-01-01T00:00:00.000Z";
        // Retention in batches of one, racing a burst of new tasks.
        const [emptied, burst] = await Promise.all([
          (async () => {
            let total = 0;
            for (;;) {
              const n = await s.removeOldPayloads(["completed", "failed", "cancelled"], before, 1);
              if (n === 0) return total;
              total += n;
            }
          })(),
          Promise.all(Array.from({ length: 50 }, () => addTask(s, { ...payload, status: "completed", updated_at: old }))),
        ]);
        expect(emptied).toBeGreaterThanOrEqual(3);
        // Whatever the burst left for the next run, the next run empties; nothing else is touched.
        await s.removeOldPayloads(["completed", "failed", "cancelled"], before, 1000);
        for (const t of [...finished, ...burst]) {
          const now = (await s.getTask(t.task_id))!;
          expect(now).toEqual({ ...t, description: null, data: {}, context: {}, result: t.result && {}, error: t.error && "" });
        }
        expect(await s.getApproval(approval.approval_id)).toEqual({ ...approval, reason: "", comments: "" });
        expect(await s.listThread(finished[1]!.task_id)).toMatchObject([{ text: "", data: null }]);
        for (const t of kept) expect(await s.getTask(t.task_id)).toEqual(t);
        expect((await s.listAudit({ limit: 1000 })).length).toBe(auditBefore + burst.length);
        expect(await s.removeOldPayloads(["completed", "failed", "cancelled"], before, 1000)).toBe(0);
      } finally {
        await s.close();
        await fresh.drop();
      }
    });

    test("an erasure leaves no payload of the subject anywhere, records itself, and keeps the audit's rows", async () => {
      const fresh = await engine.create();
      const s = await fresh.open();
      const mark = `erin-${crypto.randomUUID()}`;
      const other = `other-${crypto.randomUUID()}`;
      try {
        const sent = await addTask(s, { source: "erin", description: mark, data: { note: mark }, context: { why: mark } });
        const claimed = await addTask(s, {
          source: "alice",
          data: { note: other },
          status: "completed",
          claimed_by: "erin",
          result: { out: mark },
          progress: { message: `found ${mark}` },
        });
        const asked = await addApproval(s, await addTask(s, { source: "alice", data: { note: other } }), { requested_by: "erin", reason: mark });
        const onSent = await addApproval(s, sent, { requested_by: "carol", reason: `about ${mark}` });
        const untouched = await addTask(s, { source: "alice", description: other, data: { note: other } });
        const decided = await addApproval(s, untouched, { requested_by: "alice", reason: other, status: "approved", decided_by: "erin", comments: mark });
        // Thread messages: erin's on someone else's task, someone's on erin's task, and one that is no one's business of hers.
        await s.transaction(async (tx) => {
          await tx.insertMessage(untouched.task_id, { kind: "note", author: "erin", at: tick(), text: mark, data: { note: mark } });
          await tx.insertMessage(sent.task_id, { kind: "note", author: "carol", at: tick(), text: `re ${mark}`, data: null });
          await tx.insertMessage(untouched.task_id, { kind: "note", author: "alice", at: tick(), text: other, data: null });
        });
        // Answers kept for retries: erin's own, and carol's decision that quotes erin's approval.
        await s.transaction(async (tx) => {
          await tx.reserveIdempotency("erin", "k1", "h", tick(), "2099-01-01T00:00:00.000Z");
          await tx.saveIdempotentResponse("erin", "k1", { ...decided });
          await tx.reserveIdempotency("carol", "k2", "h", tick(), "2099-01-01T00:00:00.000Z");
          await tx.saveIdempotentResponse("carol", "k2", { ...asked });
        });
        const auditBefore = await s.listAudit({ limit: 1000 });

        const records = await s.eraseSubject("erin", "root", tick());

        expect(records).toBe(2 + 3 + 2 + 2);
        expect((await s.getTask(sent.task_id))!.data).toEqual({});
        expect((await s.getTask(claimed.task_id))!.result).toEqual({});
        expect((await s.getApproval(asked.approval_id))!.reason).toBe("");
        expect((await s.getApproval(onSent.approval_id))!.reason).toBe("");
        expect((await s.getApproval(decided.approval_id))!.comments).toBe("");
        expect(await s.getTask(untouched.task_id)).toEqual(untouched);
        expect(await s.listAudit({ limit: 1000 })).toEqual(auditBefore);
        expect(await fresh.query("SELECT subject, erased_by, records FROM erasures")).toEqual([{ subject: "erin", erased_by: "root", records: 9 }]);
        // Every byte the database keeps: the files on SQLite, every row of every table on PostgreSQL.
        const kept = await everythingStored(fresh);
        expect(kept).toContain(other);
        expect(kept).not.toContain(mark);
      } finally {
        await s.close();
        await fresh.drop();
      }
    });
  });
}
