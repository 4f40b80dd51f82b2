/**
 * One claimed task from start to finish: its folder, its process, its lease kept
 * alive with the progress the command reports, and its outcome told to the controller
 * (complete with the result, or fail, for a retry when another attempt may do better).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ControllerClient } from "../client/controller-client.ts";
import { type JsonObject, LIMITS, type Progress, type Task } from "../contract/schemas.ts";
import type { Logger } from "../lib/log.ts";
import { lastJsonObject } from "./output.ts";
import { renderPrompt } from "./prompt.ts";
import { makeTaskFolder } from "./task-folder.ts";
import { type Ending, type Finished, TaskProcess } from "./task-process.ts";

/** What runs for each task: a command line with `{prompt}` in it, files it reads from its working folder, and where its result is in its stdout. */
export type TaskCommand = { argv: string[]; files: Record<string, string>; result?: (stdout: string) => JsonObject | undefined };

export type TaskRunContext = {
  client: ControllerClient;
  log: Logger;
  role: string;
  command: TaskCommand;
  promptTemplate: string;
  dataDir: string;
  workdir: string | undefined;
  timeoutSeconds: number;
  /** The environment every task's process gets: the worker's own, with the mesh's address and credential. */
  env: Record<string, string>;
};

/** The field of a completed task's result that names the folder its run's output is kept in. */
const OUTPUT_FIELD = "worker_output";

export class TaskRun {
  readonly task: Task;
  readonly done: Promise<void>;
  readonly #c: TaskRunContext;
  #process: TaskProcess | undefined;
  #leaseLost = false;
  #stopReason: string | undefined;
  #keeper: LeaseKeeping | undefined;

  /** Starts the task's command at once; `claimedAt` (performance.now()) is when the claim was answered. */
  constructor(task: Task, c: TaskRunContext, claimedAt: number) {
    this.task = task;
    this.#c = c;
    this.done = this.#run(claimedAt);
  }

  /** Stops the command (the worker is shutting down); the task is given back for a retry. */
  stop(reason: string) {
    this.#stopReason ??= reason;
    this.#process?.stop();
  }

  async #run(claimedAt: number) {
    const { task } = this;
    const c = this.#c;
    const folder = makeTaskFolder(c.dataDir, task, c.workdir);
    for (const [path, content] of Object.entries(c.command.files)) {
      const file = join(folder.workdir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    const prompt = renderPrompt(c.promptTemplate, task, c.role);
    const proc = new TaskProcess({
      argv: c.command.argv.map((a) => a.replaceAll("{prompt}", prompt)),
      cwd: folder.workdir,
      env: { ...c.env, MESH_TASK_ID: task.task_id, MESH_TASK_FILE: folder.taskFile, MESH_ATTEMPT: String(task.attempt) },
      stdin: JSON.stringify(task),
      outputDir: folder.dir,
      timeoutSeconds: c.timeoutSeconds,
      onProgress: (p) => this.#keeper?.report(p),
    });
    this.#process = proc;
    const startMs = performance.now() - claimedAt;
    c.log.info("task started", { task_id: task.task_id, attempt: task.attempt, pid: proc.pid, folder: folder.dir, claim_to_start_ms: round(startMs) });
    const keeper = new LeaseKeeping(c.client, c.log, task, () => {
      this.#leaseLost = true;
      proc.stop();
    });
    this.#keeper = keeper;
    const finished = await proc.finished;
    keeper.stop();
    const exitedAt = performance.now();
    if (this.#leaseLost) {
      c.log.warn("task ended without a report: the lease was lost, so its work no longer counts", { task_id: task.task_id, attempt: task.attempt });
      return;
    }
    const report = this.#outcome(finished, folder.dir);
    const r =
      report.kind === "complete"
        ? await c.client.call("completeTask", { params: { id: task.task_id }, body: { attempt: task.attempt, result: report.result } })
        : await c.client.call("failTask", { params: { id: task.task_id }, body: { attempt: task.attempt, error: report.error, retry: report.retry } });
    const fields = {
      task_id: task.task_id,
      attempt: task.attempt,
      ending: describe(finished.ending),
      output: folder.dir,
      exit_to_report_ms: round(performance.now() - exitedAt),
    };
    if (r.ok) c.log.info(report.kind === "complete" ? "task completed" : "task failed", { ...fields, status: r.value.status });
    else
      c.log.warn(`task ended but the controller did not take its ${report.kind === "complete" ? "result" : "failure"}`, {
        ...fields,
        detail: r.failure.detail,
      });
  }

  #outcome(f: Finished, dir: string): { kind: "complete"; result: JsonObject } | { kind: "fail"; error: string; retry: boolean } {
    const e = f.ending;
    if (e.kind === "exited" && e.code === 0) {
      const stdout = f.stdout.tail();
      const result = this.#c.command.result?.(stdout) ?? lastJsonObject(stdout) ?? { output: stdout };
      // Where the run's whole output is kept, for a person who wants to see what the agent did (the agent's own field of that name wins).
      return { kind: "complete", result: { [OUTPUT_FIELD]: dir, ...result } };
    }
    if (e.kind === "stopped")
      return { kind: "fail", error: `The worker stopped (${this.#stopReason ?? "stopped"}) before the command finished; output in ${dir}`, retry: true };
    const stderr = f.stderr.tail().trim();
    const error = `${describe(e)}${stderr ? `; stderr ends: ${stderr}` : ""}; output in ${dir}`;
    // A command that cannot start will not start on a retry either.
    return { kind: "fail", error: error.slice(0, LIMITS.textLength), retry: e.kind !== "unstartable" };
  }
}

/** Renews a task's lease at a third of it while the command runs, carrying its latest progress. */
class LeaseKeeping {
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #leaseSeconds: number;
  #progress: Progress | undefined;
  #sending = false;
  #stopped = false;

  constructor(
    private readonly client: ControllerClient,
    private readonly log: Logger,
    private readonly task: Task,
    private readonly onLost: () => void,
  ) {
    // The lease as the controller granted it: from the claim to its expiry.
    this.#leaseSeconds = Math.max(1, Math.round((Date.parse(task.lease_expires_at ?? task.updated_at) - Date.parse(task.updated_at)) / 1000));
    this.#timer = setInterval(() => void this.#renew(), (this.#leaseSeconds * 1000) / 3);
  }

  /** Progress goes out at once, or with the renewal under way's successor. */
  report(progress: Progress) {
    this.#progress = progress;
    void this.#renew();
  }

  stop() {
    this.#stopped = true;
    clearInterval(this.#timer);
  }

  async #renew() {
    if (this.#sending || this.#stopped) return;
    this.#sending = true;
    const progress = this.#progress;
    this.#progress = undefined;
    const { task } = this;
    const r = await this.client.call("heartbeatTask", {
      params: { id: task.task_id },
      body: { attempt: task.attempt, lease_seconds: this.#leaseSeconds, progress },
    });
    this.#sending = false;
    if (this.#stopped) return;
    if (r.ok) {
      if (this.#progress) void this.#renew();
      return;
    }
    if (r.failure.kind === "conflict" || r.failure.kind === "forbidden" || r.failure.kind === "not_found") {
      this.log.warn("lost the lease on a running task; stopping its command", { task_id: task.task_id, attempt: task.attempt, detail: r.failure.detail });
      this.stop();
      this.onLost();
    } else {
      this.#progress ??= progress;
      this.log.warn("could not renew a running task's lease; trying again", { task_id: task.task_id, detail: r.failure.detail });
    }
  }
}

export function describe(e: Ending): string {
  switch (e.kind) {
    case "exited":
      return `exit code ${e.code}`;
    case "signalled":
      return `killed by ${e.signal}`;
    case "timed_out":
      return `timed out after ${e.seconds} s (the process group was killed)`;
    case "stopped":
      return "stopped";
    case "unstartable":
      return `could not start the command: ${e.reason}`;
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
