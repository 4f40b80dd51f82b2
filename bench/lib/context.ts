/** What every section is given. */
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import type { BenchConfig } from "./config.ts";

export type BenchContext = {
  config: BenchConfig;
  /** A folder of this run's own, removed at the end. */
  tmp: string;
  /** The compiled floor program (lib/hello-server.ts). */
  hello: string;
  /** Controller RSS readings the throughput and scale sections take, for the memory table. */
  controllerMemory: { when: string; bytes: number }[];
  /** One line of progress on stderr. */
  progress: (message: string) => void;
};

/** A fresh folder inside the run's own. */
export const subdir = (ctx: BenchContext, prefix: string) => mkdtempSync(join(ctx.tmp, prefix));
