/** The controller binary as the bench runs it, and what the kernel says a process holds. */
import { readFileSync } from "node:fs";
import { spawnController, tokenFor } from "../../tests/support/controller.ts";
import type { BenchDatabase } from "./databases.ts";

/** Resident memory of a live process, in bytes. */
export function rssBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!kib) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kib[1]) * 1024;
}

export type BenchController = {
  url: string;
  pid: number;
  /** A dev token signed by this controller's key. */
  token: (sub: string, roles: string[]) => Promise<string>;
  stop: () => Promise<void>;
};

/** Spawns `agent-mesh controller` on `db`, with its defaults otherwise (info logs to stderr included). */
export async function startController(db: BenchDatabase, dataDir: string): Promise<BenchController> {
  const spawned = await spawnController(["--data-dir", dataDir, "--db", db.url]);
  return {
    url: spawned.url,
    pid: spawned.proc.pid,
    token: (sub, roles) => tokenFor(dataDir, sub, roles),
    stop: spawned.stop,
  };
}
