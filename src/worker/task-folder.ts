/**
 * Where a task's run is kept: a folder per attempt under the data folder, holding the
 * task as JSON, its stdout and stderr, and (by default) the command's working folder.
 * Only the newest folders stay, so a worker that runs for months does not fill the disk.
 */
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Task } from "../contract/schemas.ts";

/** Task folders kept; older ones are removed as new ones are made. */
export const KEPT_TASK_FOLDERS = 200;

export type TaskFolder = { dir: string; taskFile: string; workdir: string };

export function makeTaskFolder(dataDir: string, task: Task, workdirBase: string | undefined): TaskFolder {
  const runs = resolve(dataDir, "tasks");
  const name = `${task.task_id}.${task.attempt}`.replace(/[^\w.-]/g, "_");
  const dir = join(runs, name);
  mkdirSync(dir, { recursive: true });
  prune(runs, name);
  const taskFile = join(dir, "task.json");
  writeFileSync(taskFile, `${JSON.stringify(task, null, 2)}\n`);
  const workdir = workdirBase ? join(resolve(workdirBase), name) : join(dir, "work");
  mkdirSync(workdir, { recursive: true });
  return { dir, taskFile, workdir };
}

function prune(runs: string, keep: string) {
  const entries = readdirSync(runs).filter((n) => n !== keep);
  if (entries.length < KEPT_TASK_FOLDERS) return;
  const byAge = entries.map((n) => ({ n, t: statSync(join(runs, n)).mtimeMs })).sort((a, b) => a.t - b.t);
  for (const { n } of byAge.slice(0, entries.length - KEPT_TASK_FOLDERS + 1)) rmSync(join(runs, n), { recursive: true, force: true });
}
