/**
 * One claimed task from start to finish: its work started by the executor, its lease
 * kept alive with the progress the work reports, and its outcome told to the controller
 * (complete with the result, or fail, for a retry when another attempt may do better).
 */
import type { ControllerClient } from "../client/controller-client.ts";
import { grantedLeaseSeconds, leaseLost, renewEveryMs } from "../client/lease.ts";
import { LIMITS, type Progress, type Task } from "../contract/schemas.ts";
import type { Logger } from "../lib/log.ts";
import type { Execution, TaskExecutor } from "./executor.ts";

export type TaskRunContext = { client: ControllerClient; log: Logger; role: string; executor: TaskExecutor };

export class TaskRun {
  readonly task: Task;
  readonly done: Promise<void>;
  readonly #c: TaskRunContext;
  #execution: Execution | undefined;
  #leaseLost = false;

  /** Starts the task's work at once; `claimedAt` (performance.now()) is when the claim was answered. */
  constructor(task: Task, c: TaskRunContext, claimedAt: number) {
    this.task = task;
    this.#c = c;
    this.done = this.#run(claimedAt);
  }

  /** Stops the work (the worker is shutting down); the task is given back for a retry. */
  stop(reason: string) {
    this.#execution?.stop(reason);
  }

  async #run(claimedAt: number) {
    const { task } = this;
    const c = this.#c;
    let keeper: LeaseKeeping | undefined;
    const execution = c.executor.start(task, { progress: (p) => keeper?.report(p), ask: (q, signal) => this.#ask(q, signal) });
    this.#execution = execution;
    const startMs = performance.now() - claimedAt;
    c.log.info("task started", { task_id: task.task_id, attempt: task.attempt, ...execution.fields(), claim_to_start_ms: round(startMs) });
    keeper = new LeaseKeeping(c.client, c.log, task, () => {
      this.#leaseLost = true;
      execution.stop("the lease was lost");
    });
    const report = await execution.outcome;
    keeper.stop();
    const endedAt = performance.now();
    if (this.#leaseLost) {
      c.log.warn("task ended without a report: the lease was lost, so its work no longer counts", { task_id: task.task_id, attempt: task.attempt });
      return;
    }
    const r =
      report.kind === "complete"
        ? await c.client.call("completeTask", { params: { id: task.task_id }, body: { attempt: task.attempt, result: report.result } })
        : await c.client.call("failTask", { params: { id: task.task_id }, body: { attempt: task.attempt, error: report.error, retry: report.retry } });
    const fields = { task_id: task.task_id, attempt: task.attempt, ...execution.fields(), exit_to_report_ms: round(performance.now() - endedAt) };
    if (r.ok) c.log.info(report.kind === "complete" ? "task completed" : "task failed", { ...fields, status: r.value.status });
    else
      c.log.warn(`task ended but the controller did not take its ${report.kind === "complete" ? "result" : "failure"}`, {
        ...fields,
        detail: r.failure.detail,
      });
  }

  /** Asks the sender (the task waits in input_required, its lease kept) and waits, a long-poll at a time, for the answer. */
  async #ask(question: string, signal: AbortSignal): Promise<string | null> {
    const { client, log } = this.#c;
    const { task_id: id, attempt } = this.task;
    const asked = await client.call("askSender", { params: { id }, body: { attempt, question: question.slice(0, LIMITS.textLength) } }, { signal });
    if (!asked.ok) {
      if (asked.failure.kind !== "cancelled") log.warn("could not ask the task's sender", { task_id: id, detail: asked.failure.detail });
      return null;
    }
    log.info("task waits for its sender's answer", { task_id: id, attempt });
    let version = asked.value.version;
    while (!signal.aborted) {
      const r = await client.call("getTask", { params: { id }, query: { wait: LIMITS.waitSeconds, after_version: version } }, { signal });
      if (!r.ok) {
        if (r.failure.kind === "cancelled" || r.failure.kind === "not_found" || r.failure.kind === "forbidden") return null;
        await Bun.sleep(2000);
        continue;
      }
      const t = r.value;
      if (t.status !== "claimed" && t.status !== "input_required") return null;
      if (t.status === "claimed") return t.thread.findLast((m) => m.kind === "answer")?.text ?? null;
      version = t.version;
    }
    return null;
  }
}

/**
 * Progress goes to the controller at most this often (each is a change the sender
 * hears, and an audit row): an agent printing progress in a loop sends its latest.
 */
const PROGRESS_EVERY_MS = 2000;

/** Renews a task's lease at a third of it while the work runs, carrying its latest progress. */
class LeaseKeeping {
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #leaseSeconds: number;
  #progress: Progress | undefined;
  /** When progress last went out (performance.now()), and the send waiting for its turn. */
  #progressSentAt = Number.NEGATIVE_INFINITY;
  #progressLater: ReturnType<typeof setTimeout> | undefined;
  #sending = false;
  #stopped = false;

  constructor(
    private readonly client: ControllerClient,
    private readonly log: Logger,
    private readonly task: Task,
    private readonly onLost: () => void,
  ) {
    this.#leaseSeconds = grantedLeaseSeconds(task.lease_expires_at ?? task.updated_at, task.updated_at);
    this.#timer = setInterval(() => void this.#renew(), renewEveryMs(this.#leaseSeconds));
  }

  /** The latest progress goes out at once, or once PROGRESS_EVERY_MS has passed since the last. */
  report(progress: Progress) {
    this.#progress = progress;
    this.#sendProgress();
  }

  #sendProgress() {
    if (this.#progressLater || !this.#progress) return;
    const wait = this.#progressSentAt + PROGRESS_EVERY_MS - performance.now();
    if (wait <= 0) return void this.#renew();
    this.#progressLater = setTimeout(() => {
      this.#progressLater = undefined;
      void this.#renew();
    }, wait);
  }

  stop() {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#progressLater);
  }

  async #renew() {
    if (this.#sending || this.#stopped) return;
    this.#sending = true;
    const progress = this.#progress;
    this.#progress = undefined;
    if (progress) this.#progressSentAt = performance.now();
    const { task } = this;
    const r = await this.client.call("heartbeatTask", {
      params: { id: task.task_id },
      body: { attempt: task.attempt, lease_seconds: this.#leaseSeconds, progress },
    });
    this.#sending = false;
    if (this.#stopped) return;
    if (r.ok) {
      this.#sendProgress();
      return;
    }
    if (leaseLost(r.failure.kind)) {
      this.log.warn("lost the lease on a running task; stopping its work", { task_id: task.task_id, attempt: task.attempt, detail: r.failure.detail });
      this.stop();
      this.onLost();
    } else {
      this.#progress ??= progress;
      this.log.warn("could not renew a running task's lease; trying again", { task_id: task.task_id, detail: r.failure.detail });
    }
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
