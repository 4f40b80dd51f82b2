/**
 * Timers: with BENCH_TIMERS deadlines pending (10,000 by default), how late the
 * controller's clocks act on one that falls due (the audit row's time less the
 * deadline, both by the controller's clock), and the CPU the controller uses while it
 * waits with them, next to the same controller idle with none: it sleeps until the
 * next one is due, so the timers should add nothing.
 */
import { readFileSync } from "node:fs";
import { meshApi } from "./lib/api.ts";
import { subdir, type BenchContext } from "./lib/context.ts";
import { createBenchDatabase } from "./lib/databases.ts";
import { startController } from "./lib/processes.ts";
import { count, ms, type SectionResult, type Target } from "./lib/report.ts";
import { summarize, type Summary } from "./lib/stats.ts";

const ROLE = "timer-worker";
/** Deadlines measured for lateness, spread over a few seconds among the pending ones. */
const MEASURED = 50;
const SPREAD_MS = 5000;
/** How long the idle controller's CPU is read over. */
const IDLE_SECONDS = 10;
/** Concurrent senders while seeding. */
const SEEDERS = 16;
/** The kernel's clock ticks per second (USER_HZ), in which /proc reports CPU time. */
const TICKS_PER_SECOND = 100;
const P99_TARGET_MS = 1000;
/** What the pending timers may add to the idle controller's CPU, as a share of a core (the /proc clock counts in 1 % steps over 10 s). */
const IDLE_CPU_SLACK = 0.005;

/** CPU seconds (user and system) a process has used. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

type Figures = { pending: number; lateness: Summary; idleCpu: number; idleCpuWithout: number };

/** The share of a core `pid` uses over IDLE_SECONDS while nobody calls it. */
async function idleShare(pid: number): Promise<number> {
  await Bun.sleep(1000);
  const before = cpuSeconds(pid);
  await Bun.sleep(IDLE_SECONDS * 1000);
  return (cpuSeconds(pid) - before) / IDLE_SECONDS;
}

const percent = (share: number) => `${(share * 100).toFixed(2)} %`;

export async function timers(ctx: BenchContext): Promise<SectionResult> {
  const { engines, postgresUrl, pendingTimers } = ctx.config;
  const rows: string[][] = [];
  const data: Record<string, Figures> = {};
  const targets: Target[] = [];
  for (const engine of engines) {
    const dir = subdir(ctx, `timers-${engine}-`);
    const db = await createBenchDatabase(engine, dir, postgresUrl);
    const controller = await startController(db, dir);
    try {
      const api = meshApi(controller.url, await controller.token("bench-sender", []));
      const idleCpuWithout = await idleShare(controller.pid);
      ctx.progress(`timers: ${engine}, ${count(pendingTimers)} deadlines pending`);
      let next = 0;
      const seed = async () => {
        while (next < pendingTimers - MEASURED) {
          next++;
          await api.route(ROLE, { deadline_seconds: 86_400 });
        }
      };
      await Promise.all(Array.from({ length: SEEDERS }, seed));

      // Idle: nothing due for a day, nobody calling.
      const idleCpu = await idleShare(controller.pid);

      const start = Date.now() + 1000;
      const deadlines = Array.from({ length: MEASURED }, (_, i) => new Date(start + Math.round((i * SPREAD_MS) / MEASURED)).toISOString());
      const ids = await Promise.all(deadlines.map((deadline) => api.route(ROLE, { deadline })));
      await Bun.sleep(start + SPREAD_MS - Date.now() + 2000);
      const lateness: number[] = [];
      for (const [i, id] of ids.entries()) {
        const task = await api.get(`/tasks/${id}`);
        const expired = task.history.find((h: { action: string }) => h.action === "task.expired");
        if (!expired) throw new Error(`task ${id} did not expire by 2 s after its deadline`);
        lateness.push(Date.parse(expired.at) - Date.parse(deadlines[i]!));
      }
      const figures: Figures = { pending: pendingTimers, lateness: summarize(lateness), idleCpu, idleCpuWithout };
      data[engine] = figures;
      rows.push([
        engine,
        count(pendingTimers),
        ms(figures.lateness.p50),
        ms(figures.lateness.p99),
        ms(figures.lateness.max),
        percent(idleCpuWithout),
        percent(idleCpu),
      ]);
      targets.push(
        {
          what: `${engine}: a deadline is acted on within ${P99_TARGET_MS} ms (p99)`,
          met: figures.lateness.p99 <= P99_TARGET_MS,
          detail: ms(figures.lateness.p99),
        },
        {
          what: `${engine}: ${count(pendingTimers)} pending timers add at most ${IDLE_CPU_SLACK * 100} % of a core to an idle controller`,
          met: idleCpu - idleCpuWithout <= IDLE_CPU_SLACK,
          detail: `${percent(idleCpuWithout)} without, ${percent(idleCpu)} with`,
        },
      );
    } finally {
      await controller.stop();
      await db.close();
    }
  }
  return {
    tables: [
      {
        title: "Timers: how late an expiry fires, and an idle controller's CPU, with deadlines pending",
        head: ["engine", "pending", "late p50", "late p99", "late max", "idle CPU, no timers", "idle CPU, timers pending"],
        rows,
        notes: [
          `Lateness: the expiry's audit time less its deadline, over ${MEASURED} deadlines spread over ${SPREAD_MS / 1000} s among the pending ones.`,
          `Idle CPU: user and system time of the controller process over ${IDLE_SECONDS} s with nothing due and no requests, as a share of one core; first on the empty store, then with the timers pending. /proc counts in 10 ms ticks, so 1 % is one tick a second.`,
        ],
      },
    ],
    data: { timers: data },
    targets,
  };
}
