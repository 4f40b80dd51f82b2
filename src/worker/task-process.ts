/**
 * One task's command as a process: in its own process group (so a timeout or a stop
 * reaches everything the agent started), in its own working folder, with the task on
 * stdin and in its environment, its output captured.
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import type { Progress } from "../contract/schemas.ts";
import { progressOf, STDERR_TAIL_BYTES, STDOUT_TAIL_BYTES, StreamCapture } from "./output.ts";

/** How a task's process ended. */
export type Ending =
  | { kind: "exited"; code: number }
  | { kind: "signalled"; signal: string }
  | { kind: "timed_out"; seconds: number }
  | { kind: "stopped" }
  | { kind: "unstartable"; reason: string };

export type Finished = { ending: Ending; stdout: StreamCapture; stderr: StreamCapture };

export type TaskProcessOptions = {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdin: string;
  /** Where stdout.log and stderr.log go. */
  outputDir: string;
  timeoutSeconds: number;
  onProgress: (p: Progress) => void;
};

/** After SIGTERM, how long a process group has to end before SIGKILL. */
const KILL_AFTER_MS = 5000;

export class TaskProcess {
  readonly finished: Promise<Finished>;
  #pid: number | undefined;
  #stopping: Ending | undefined;

  constructor(o: TaskProcessOptions) {
    const stdout = new StreamCapture(join(o.outputDir, "stdout.log"), STDOUT_TAIL_BYTES);
    const stderr = new StreamCapture(join(o.outputDir, "stderr.log"), STDERR_TAIL_BYTES, (line) => {
      const progress = progressOf(line);
      if (progress) o.onProgress(progress);
    });
    this.finished = new Promise((resolve) => {
      const done = (ending: Ending) => {
        stdout.close();
        stderr.close();
        resolve({ ending, stdout, stderr });
      };
      const [file, ...args] = o.argv;
      // detached: the child leads a new process group (setsid), which kill(-pid) reaches as a whole.
      const child = spawn(file!, args, { cwd: o.cwd, env: o.env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
      // Set at once when the process was made; undefined when it could not be (the error says why).
      this.#pid = child.pid;
      child.on("error", (error) => {
        if (this.#pid === undefined) done({ kind: "unstartable", reason: error.message });
      });
      child.on("spawn", () => {
        const timer = setTimeout(() => this.#end({ kind: "timed_out", seconds: o.timeoutSeconds }, "SIGKILL"), o.timeoutSeconds * 1000);
        let exit: Ending = { kind: "signalled", signal: "unknown" };
        child.on("exit", (code, signal) => {
          clearTimeout(timer);
          exit = code !== null ? { kind: "exited", code } : { kind: "signalled", signal: signal ?? "unknown" };
          // What the agent left running in its group goes with it (and lets its pipes close).
          this.#signal("SIGKILL");
        });
        child.on("close", () => done(this.#stopping ?? exit));
      });
      child.stdout.on("data", (chunk: Buffer) => stdout.write(chunk));
      child.stderr.on("data", (chunk: Buffer) => stderr.write(chunk));
      // A command that does not read its stdin closes it early; that is no failure.
      child.stdin.on("error", () => {});
      child.stdin.end(o.stdin);
    });
  }

  /** The process group leader's pid, once started. */
  get pid(): number | undefined {
    return this.#pid;
  }

  /** Stops the whole group: SIGTERM, then SIGKILL if it lingers. */
  stop() {
    this.#end({ kind: "stopped" }, "SIGTERM");
  }

  #end(ending: Ending, signal: NodeJS.Signals) {
    if (this.#stopping) return;
    this.#stopping = ending;
    this.#signal(signal);
    if (signal !== "SIGKILL") setTimeout(() => this.#signal("SIGKILL"), KILL_AFTER_MS).unref();
  }

  #signal(signal: NodeJS.Signals) {
    if (this.#pid === undefined) return;
    try {
      process.kill(-this.#pid, signal);
    } catch {
      // The group is gone already.
    }
  }
}
