/**
 * `npm run bench`: builds the binary (package.json does), then measures cold start,
 * tool call latency, live events, controller throughput, scale and memory, each
 * figure next to its baseline measured in this same run. Prints markdown tables and
 * writes JSON to bench/results/latest.json (BENCH_OUT). Sizes come from the
 * environment: see lib/config.ts; BENCH_QUICK=1 is a smoke run of about two minutes.
 */
import { SQL } from "bun";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { coldStart } from "./cold-start.ts";
import { checkBinaries, compileHello } from "./lib/binaries.ts";
import { loadConfig, type BenchConfig, type SectionName } from "./lib/config.ts";
import type { BenchContext } from "./lib/context.ts";
import { markdown, verdict, type SectionResult, type Target } from "./lib/report.ts";
import { liveEvents } from "./live-events.ts";
import { memory } from "./memory.ts";
import { privacy } from "./privacy.ts";
import { scale } from "./scale.ts";
import { throughput } from "./throughput.ts";
import { timers } from "./timers.ts";
import { toolCalls } from "./tool-calls.ts";
import { waiters } from "./waiters.ts";

const RUNNERS: Record<SectionName, (ctx: BenchContext) => Promise<SectionResult>> = {
  "cold-start": coldStart,
  "tool-calls": toolCalls,
  "live-events": liveEvents,
  waiters,
  throughput,
  scale,
  memory,
  privacy,
  timers,
};

const progress = (message: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** The PostgreSQL server's version, or null when it cannot be reached. */
async function postgresVersion(url: string): Promise<string | null> {
  const sql = new SQL(url, { max: 1, connectionTimeout: 3 });
  try {
    const [row] = await sql`SHOW server_version`;
    return String(row.server_version);
  } catch {
    return null;
  } finally {
    await sql.close();
  }
}

async function machine(config: BenchConfig) {
  const node = Bun.spawnSync(["node", "--version"]).stdout.toString().trim();
  return {
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    bun: Bun.version,
    node,
    postgres: config.engines.includes("postgres") ? await postgresVersion(config.postgresUrl) : null,
    loadAverageAtStart: loadavg(),
  };
}

async function main(): Promise<number> {
  const config = loadConfig();
  checkBinaries();
  const started = new Date();
  const host = await machine(config);
  if (config.engines.includes("postgres") && !host.postgres) {
    progress(`PostgreSQL at ${config.postgresUrl} does not answer: measuring SQLite only`);
    config.engines = config.engines.filter((e) => e !== "postgres");
  }
  const tmp = mkdtempSync(join(tmpdir(), "agent-mesh-bench-"));
  const sections: Record<string, unknown> = {};
  const targets: Target[] = [];
  const failed: string[] = [];
  try {
    const ctx: BenchContext = { config, tmp, hello: await compileHello(tmp), controllerMemory: [], progress };
    for (const name of config.sections) {
      progress(name);
      const t0 = performance.now();
      try {
        const result = await RUNNERS[name](ctx);
        sections[name] = { seconds: (performance.now() - t0) / 1000, ...result.data, tables: result.tables };
        targets.push(...result.targets);
        for (const table of result.tables) console.log(`${markdown(table)}\n`);
      } catch (error) {
        failed.push(name);
        sections[name] = { error: (error as Error).stack ?? String(error) };
        progress(`${name} failed: ${(error as Error).stack ?? error}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  const seconds = (Date.now() - started.getTime()) / 1000;
  if (targets.length) {
    console.log("**Targets**\n");
    for (const t of targets) console.log(`- ${verdict(t.met)} ${t.what}: ${t.detail}`);
  }
  console.log(
    `\n${host.cores} × ${host.cpu}, Bun ${host.bun}, Node ${host.node}${host.postgres ? `, PostgreSQL ${host.postgres}` : ""}; ran ${Math.round(seconds)} s.`,
  );
  mkdirSync(dirname(config.out), { recursive: true });
  writeFileSync(
    config.out,
    `${JSON.stringify({ started: started.toISOString(), seconds, machine: { ...host, loadAverageAtEnd: loadavg() }, config, targets, sections, failed }, null, 2)}\n`,
  );
  progress(`wrote ${config.out}`);
  return failed.length ? 1 : 0;
}

process.exitCode = await main();
