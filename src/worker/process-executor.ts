/** The executor that runs a command (an agent CLI headless, or any program) in its own process group and folder for each task. */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { type JsonObject, LIMITS, type Task } from "../contract/schemas.ts";
import type { Execution, Outcome, TaskExecutor, TaskHooks } from "./executor.ts";
import { lastJsonObject } from "./output.ts";
import { renderPrompt } from "./prompt.ts";
import { makeTaskFolder } from "./task-folder.ts";
import { type Ending, type Finished, TaskProcess } from "./task-process.ts";

/** What runs for each task: a command line with `{prompt}` in it, files it reads from its working folder, and where its result is in its stdout. */
export type TaskCommand = { argv: string[]; files: Record<string, string>; result?: (stdout: string) => JsonObject | undefined };

export type ProcessExecutorOptions = {
  /** The preset's name, or undefined for a command of the user's. */
  name: string | undefined;
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

export class ProcessExecutor implements TaskExecutor {
  readonly name: string;
  constructor(private readonly o: ProcessExecutorOptions) {
    this.name = o.name ?? o.command.argv[0] ?? "command";
  }

  start(task: Task, hooks: TaskHooks): Execution {
    const o = this.o;
    const folder = makeTaskFolder(o.dataDir, task, o.workdir);
    for (const [path, content] of Object.entries(o.command.files)) {
      const file = join(folder.workdir, path);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, content);
    }
    const prompt = renderPrompt(o.promptTemplate, task, o.role);
    const proc = new TaskProcess({
      argv: o.command.argv.map((a) => a.replaceAll("{prompt}", prompt)),
      cwd: folder.workdir,
      env: { ...o.env, MESH_TASK_ID: task.task_id, MESH_TASK_FILE: folder.taskFile, MESH_ATTEMPT: String(task.attempt) },
      stdin: JSON.stringify(task),
      outputDir: folder.dir,
      timeoutSeconds: o.timeoutSeconds,
      onProgress: (p) => hooks.progress(p),
    });
    let stopReason: string | undefined;
    let ending: Ending | undefined;
    return {
      outcome: proc.finished.then((f) => {
        ending = f.ending;
        return this.#outcome(f, folder.dir, stopReason);
      }),
      fields: () => ({ pid: proc.pid, output: folder.dir, ...(ending && { ending: describe(ending) }) }),
      stop: (reason) => {
        stopReason ??= reason;
        proc.stop();
      },
    };
  }

  #outcome(f: Finished, dir: string, stopReason: string | undefined): Outcome {
    const e = f.ending;
    if (e.kind === "exited" && e.code === 0) {
      const stdout = f.stdout.tail();
      const result = this.o.command.result?.(stdout) ?? lastJsonObject(stdout) ?? { output: stdout };
      // Where the run's whole output is kept, for a person who wants to see what the agent did (the agent's own field of that name wins).
      return { kind: "complete", result: { [OUTPUT_FIELD]: dir, ...result } };
    }
    if (e.kind === "stopped")
      return { kind: "fail", error: `The worker stopped (${stopReason ?? "stopped"}) before the command finished; output in ${dir}`, retry: true };
    const stderr = f.stderr.tail().trim();
    const error = `${describe(e)}${stderr ? `; stderr ends: ${stderr}` : ""}; output in ${dir}`;
    // A command that cannot start will not start on a retry either.
    return { kind: "fail", error: error.slice(0, LIMITS.textLength), retry: e.kind !== "unstartable" };
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
