/**
 * What turns one claimed task into an outcome: a process per task, or a remote A2A
 * agent. The task's run (task-run.ts) keeps its lease, passes progress on and tells
 * the controller the outcome; an executor only does the work.
 */
import type { JsonObject, Progress, Task } from "../contract/schemas.ts";

/** How a task's work ended: its result, or why it failed and whether another attempt may do better. */
export type Outcome = { kind: "complete"; result: JsonObject } | { kind: "fail"; error: string; retry: boolean };

/** One task's work under way. */
export type Execution = {
  readonly outcome: Promise<Outcome>;
  /** What the worker's log says about this work (its process, its remote task). */
  readonly fields: () => Record<string, unknown>;
  /**
   * Ends the work early: the worker is shutting down (the outcome is a retryable failure),
   * or the task is no longer this worker's (its lease was lost, it was cancelled; the outcome is not reported).
   */
  stop(reason: string): void;
};

/** What the work may do through the mesh while it runs. */
export type TaskHooks = {
  /** Passes progress on to the sender (with the next lease renewal). */
  progress(p: Progress): void;
  /** Asks the task's sender a question and waits for the answer; null when none will come (the task ended, or the call was refused). */
  ask(question: string, signal: AbortSignal): Promise<string | null>;
};

export type TaskExecutor = {
  /** A word for the log: the preset, the command or the remote agent. */
  readonly name: string;
  start(task: Task, hooks: TaskHooks): Execution;
};
