/**
 * The worker's loop: wait for pending tasks of its role (a long-poll, no busy polling),
 * claim as many as it has room for, run each, and on a stop claim no more, let the
 * running ones finish within the grace period, then stop them and give them back.
 */
import type { ControllerClient } from "../client/controller-client.ts";
import { LIMITS, type Task } from "../contract/schemas.ts";
import type { Logger } from "../lib/log.ts";
import { TaskRun, type TaskRunContext } from "./task-run.ts";

export type LoopOptions = {
  concurrency: number;
  once: boolean;
  graceSeconds: number;
  /** The lease to ask for; undefined leaves it to the controller. */
  leaseSeconds: number | undefined;
};

/** While only retried tasks wait, how often the loop looks for new ones (a long-poll would return the waiting ones at once). */
const RETRY_CHECK_MS = 10_000;

/** How often a worker says it serves its role: well inside LIMITS.servingSeconds. */
const PRESENCE_EVERY_MS = (LIMITS.servingSeconds * 1000) / 3;

/** Whether a pending task may be claimed now (a retried one waits for its retry time). */
const claimableNow = (t: Task, now: number) => t.retry_at === null || Date.parse(t.retry_at) <= now;

export class WorkerLoop {
  readonly #c: TaskRunContext;
  readonly #client: ControllerClient;
  readonly #log: Logger;
  readonly #o: LoopOptions;
  readonly #running = new Map<string, TaskRun>();
  readonly #stopping = new AbortController();
  /** Wakes the loop when a task ends (a slot is free). */
  #slotFreed: () => void = () => {};
  /** This worker, as GET /roles counts it. */
  readonly #instance = crypto.randomUUID();
  #reportedAt = 0;

  constructor(c: TaskRunContext, o: LoopOptions) {
    this.#c = c;
    this.#client = c.client;
    this.#log = c.log;
    this.#o = o;
  }

  /** Stops claiming; running tasks get `graceSeconds` to finish, then are stopped and given back. */
  stop(reason: string) {
    if (this.#stopping.signal.aborted) return;
    this.#stopping.abort();
    const running = [...this.#running.values()];
    this.#log.info("stopping: no more claims", { reason, running: running.length, grace_s: this.#o.graceSeconds });
    if (running.length === 0) return;
    setTimeout(() => {
      for (const run of this.#running.values()) run.stop(reason);
    }, this.#o.graceSeconds * 1000).unref();
  }

  /** Runs until stopped (or, with `once`, after one task or none); resolves when every task it took has ended. */
  async run(): Promise<void> {
    const signal = this.#stopping.signal;
    while (!signal.aborted) {
      const room = this.#o.concurrency - this.#running.size;
      if (room <= 0) {
        await this.#untilSlotFree();
        continue;
      }
      const tasks = await this.#pending(room);
      if (tasks === null) continue;
      const now = Date.now();
      const ready = tasks.filter((t) => claimableNow(t, now));
      if (ready.length === 0) {
        if (this.#o.once) break;
        // Only tasks waiting for their retry time: sleep until the first is due (new tasks are seen at the latest RETRY_CHECK_MS later).
        if (tasks.length > 0) await sleep(Math.min(RETRY_CHECK_MS, Math.min(...tasks.map((t) => Date.parse(t.retry_at!))) - now + 50), signal);
        continue;
      }
      let claimed = 0;
      for (const task of ready) {
        if (claimed >= room || signal.aborted) break;
        if (await this.#claim(task)) claimed++;
        if (this.#o.once && claimed) break;
      }
      if (this.#o.once && (claimed || ready.length === 0)) break;
    }
    await Promise.all([...this.#running.values()].map((r) => r.done));
  }

  /** Pending tasks of the role, waiting up to a minute for some when there are none; null if the call failed (after a pause). */
  async #pending(room: number): Promise<Task[] | null> {
    const wait = this.#o.once ? undefined : LIMITS.waitSeconds;
    await this.#reportPresence();
    const r = await this.#client.call(
      "listTasks",
      { query: { for: "me", target: this.#c.role, status: "pending", limit: Math.min(LIMITS.pageSize, room * 2), wait } },
      { signal: this.#stopping.signal },
    );
    if (r.ok) return r.value.items;
    if (r.failure.kind === "cancelled") return null;
    this.#log.warn("could not list pending tasks; trying again shortly", { detail: r.failure.detail });
    if (this.#o.once) this.stop("could not reach the controller");
    await sleep(2000, this.#stopping.signal);
    return null;
  }

  async #claim(task: Task): Promise<boolean> {
    const r = await this.#client.call("claimTask", {
      params: { id: task.task_id },
      body: { lease_seconds: this.#o.leaseSeconds },
    });
    if (!r.ok) {
      // Another worker was quicker, or the task moved on: not this worker's.
      if (r.failure.kind !== "conflict" && r.failure.kind !== "not_found")
        this.#log.warn("could not claim a task", { task_id: task.task_id, detail: r.failure.detail });
      return false;
    }
    const claimedAt = performance.now();
    const run = new TaskRun(r.value, this.#c, claimedAt);
    this.#running.set(task.task_id, run);
    void run.done.finally(() => {
      this.#running.delete(task.task_id);
      this.#slotFreed();
    });
    return true;
  }

  /** Tells the controller this worker serves its role, as often as GET /roles needs to count it. */
  async #reportPresence() {
    if (Date.now() - this.#reportedAt < PRESENCE_EVERY_MS) return;
    const r = await this.#client.call(
      "reportPresence",
      { body: { kind: "worker", instance: this.#instance, roles: [this.#c.role] } },
      { signal: this.#stopping.signal },
    );
    if (r.ok) this.#reportedAt = Date.now();
    else if (r.failure.kind !== "cancelled") this.#log.warn("could not tell the controller this worker serves its role", { detail: r.failure.detail });
  }

  #untilSlotFree(): Promise<void> {
    return new Promise((resolve) => {
      this.#slotFreed = resolve;
    });
  }
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(resolve, Math.max(0, ms));
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });
}
