/**
 * Keeps the leases this MCP session holds alive. An LLM agent that claims a task will
 * not send heartbeats by itself, so the session renews each lease it took (at a third
 * of the lease) for as long as it is alive, and stops when the task is finished or the
 * session ends: a crashed or closed agent frees its work after one lease, a live one
 * keeps it however long the work takes. It also remembers each claim's attempt, so the
 * agent need not carry it to complete_task or fail_task.
 */
import { grantedLeaseSeconds, leaseLost, renewEveryMs } from "../client/lease.ts";
import type { MeshClient } from "../client/mesh-client.ts";
import type { Task } from "../contract/schemas.ts";
import type { Logger } from "../lib/log.ts";

/** A lease being renewed, by the client (so as the caller) that claimed it. */
type Held = { attempt: number; leaseSeconds: number; client: MeshClient; timer: ReturnType<typeof setInterval>; renewing: boolean };

/** Claims a session remembers the attempts of, renewed or not; enough for any agent's work, bounded for a session that lives for weeks. */
const REMEMBERED_CLAIMS = 1000;

export class LeaseKeeper {
  readonly #log: Logger;
  readonly #held = new Map<string, Held>();
  /** The attempt of each task this session claimed, kept after renewing stops, so a repeated finish reaches the controller and hears its answer. */
  readonly #attempts = new Map<string, number>();
  #stopped = false;

  /** The lease this session asks for when it claims; undefined leaves it to the controller (MESH_LEASE_SECONDS there). */
  readonly leaseSeconds: number | undefined;

  constructor(log: Logger, leaseSeconds: number | undefined) {
    this.#log = log;
    this.leaseSeconds = leaseSeconds;
  }

  /** Starts renewing, through `client`, the lease a claim answered with (a claim of a task already held keeps the one renewal). */
  hold(task: Task, client: MeshClient) {
    if (this.#stopped || task.lease_expires_at === null) return;
    this.#attempts.delete(task.task_id);
    this.#attempts.set(task.task_id, task.attempt);
    if (this.#attempts.size > REMEMBERED_CLAIMS) this.#attempts.delete(this.#attempts.keys().next().value!);
    const current = this.#held.get(task.task_id);
    if (current?.attempt === task.attempt) return;
    this.release(task.task_id);
    const leaseSeconds = grantedLeaseSeconds(task.lease_expires_at, task.updated_at);
    const timer = setInterval(() => void this.#renew(task.task_id), renewEveryMs(leaseSeconds));
    this.#held.set(task.task_id, { attempt: task.attempt, leaseSeconds, client, timer, renewing: false });
  }

  /** The attempt this session last claimed `taskId` in, if it did. */
  attemptOf(taskId: string): number | undefined {
    return this.#attempts.get(taskId);
  }

  /** Stops renewing: the task is finished, cancelled, or no longer this session's. */
  release(taskId: string) {
    const held = this.#held.get(taskId);
    if (!held) return;
    clearInterval(held.timer);
    this.#held.delete(taskId);
  }

  /** The session ended: its leases lapse on their own, one lease from now. */
  stop() {
    this.#stopped = true;
    for (const id of [...this.#held.keys()]) this.release(id);
  }

  async #renew(taskId: string) {
    const held = this.#held.get(taskId);
    // A renewal still retrying (the controller away) is not joined by another.
    if (!held || held.renewing) return;
    held.renewing = true;
    const r = await held.client.call("heartbeatTask", { params: { id: taskId }, body: { attempt: held.attempt, lease_seconds: held.leaseSeconds } });
    held.renewing = false;
    if (r.ok || this.#held.get(taskId) !== held) return;
    if (leaseLost(r.failure.kind)) {
      this.release(taskId);
      this.#log.warn("lost the lease on a claimed task; its work no longer counts", { task_id: taskId, attempt: held.attempt, detail: r.failure.detail });
    } else {
      this.#log.warn("could not renew the lease on a claimed task; trying again", { task_id: taskId, attempt: held.attempt, detail: r.failure.detail });
    }
  }
}
