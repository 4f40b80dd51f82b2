/**
 * Controller throughput: routed tasks per second from 1, 8, 64 concurrent HTTP
 * clients (this process; the controller is the binary in its own), each figure next
 * to the raw durable insert rate of the same engine, to the controller's own unit
 * of work run in this process, and to the two floors a routed task stands on: the
 * same rows written straight to the database, and the controller's HTTP round trip
 * for a request that does nothing (GET /healthz), all measured in turns.
 */
import { meshApi, type MeshApi } from "./lib/api.ts";
import { subdir, type BenchContext } from "./lib/context.ts";
import { createBenchDatabase, type BenchDatabase, type RawInserter } from "./lib/databases.ts";
import { openInProcessService, type InProcessService } from "./lib/in-process.ts";
import { closedLoop } from "./lib/load.ts";
import { rssBytes, startController } from "./lib/processes.ts";
import { ms, rate, type SectionResult, type Target } from "./lib/report.ts";
import { summarize } from "./lib/stats.ts";

/** Routed tasks per second must reach at least this share of the raw rate. */
const TARGET_SHARE = 0.5;
/** Raw, in-process and routed take turns this many times per figure, so a noisy moment hits all three. */
const ROUNDS = 4;
/** Distinct callers the clients take turns being. */
const CALLERS = 8;

/** Operations per second over `seconds`, in ROUNDS slices: raw inserts, the unit's rows, the in-process service, routed over HTTP, /healthz. */
async function measure(db: BenchDatabase, service: InProcessService, apis: MeshApi[], clients: number, seconds: number) {
  const slice = seconds / ROUNDS;
  const latencies = { raw: [] as number[], unit: [] as number[], service: [] as number[], routed: [] as number[], healthz: [] as number[] };
  // Raw connections are open only for their own slice: the server's connection limit is shared.
  const direct = async (open: (clients: number) => Promise<RawInserter>, into: number[]) => {
    const writer = await open(clients);
    try {
      into.push(...(await closedLoop(clients, slice, writer.insert)));
    } finally {
      await writer.close();
    }
  };
  for (let round = 0; round < ROUNDS; round++) {
    await direct((n) => db.rawInserter(n), latencies.raw);
    await direct((n) => db.unitInserter(n), latencies.unit);
    latencies.service.push(...(await closedLoop(clients, slice, service.route)));
    latencies.routed.push(...(await closedLoop(clients, slice, (i) => apis[i % apis.length]!.route("bench-worker"))));
    latencies.healthz.push(...(await closedLoop(clients, slice, (i) => apis[i % apis.length]!.health())));
  }
  const perSecond = (l: number[]) => l.length / seconds;
  const [unit, healthz] = [perSecond(latencies.unit), perSecond(latencies.healthz)];
  return {
    raw: perSecond(latencies.raw),
    unit,
    service: perSecond(latencies.service),
    routed: perSecond(latencies.routed),
    healthz,
    // A routed task pays both, one after the other.
    floor: 1 / (1 / unit + 1 / healthz),
    latency: summarize(latencies.routed),
  };
}

export async function throughput(ctx: BenchContext): Promise<SectionResult> {
  const { clients, seconds, engines, postgresUrl } = ctx.config;
  const rows: string[][] = [];
  const notes: string[] = [];
  const data: Record<string, unknown> = {};
  const targets: Target[] = [];
  for (const engine of engines) {
    const dir = subdir(ctx, `load-${engine}-`);
    const db = await createBenchDatabase(engine, dir, postgresUrl);
    const controller = await startController(db, dir);
    let service: InProcessService | undefined;
    try {
      ctx.controllerMemory.push({ when: `${engine}, idle after start`, bytes: rssBytes(controller.pid) });
      const apis = await Promise.all(Array.from({ length: CALLERS }, async (_, i) => meshApi(controller.url, await controller.token(`bench-${i}`, []))));
      service = await openInProcessService(db, dir);
      const results = [];
      for (const n of clients) {
        ctx.progress(`throughput: ${engine}, ${n} client(s)`);
        const { raw, unit, service: inProcess, routed, healthz, floor, latency } = await measure(db, service, apis, n, seconds);
        const share = routed / raw;
        results.push({
          clients: n,
          routedPerSecond: routed,
          latency,
          inProcessPerSecond: inProcess,
          rawPerSecond: raw,
          unitRowsPerSecond: unit,
          healthzPerSecond: healthz,
          floorPerSecond: floor,
          share,
          shareOfFloor: routed / floor,
        });
        rows.push([
          engine,
          String(n),
          rate(routed),
          ms(latency.p50),
          ms(latency.p99),
          rate(inProcess),
          rate(unit),
          rate(healthz),
          (routed / floor).toFixed(2),
          rate(raw),
          share.toFixed(2),
        ]);
        targets.push({
          what: `${engine}, ${n} client(s): routed ≥ ${TARGET_SHARE} × raw insert rate`,
          met: share >= TARGET_SHARE,
          detail: `${rate(routed)} vs ${rate(raw)} (${share.toFixed(2)})`,
        });
      }
      ctx.controllerMemory.push({ when: `${engine}, after the throughput runs`, bytes: rssBytes(controller.pid) });
      notes.push(`${engine} raw baseline: ${db.rawMethod}.`);
      data[engine] = results;
    } finally {
      await service?.close();
      await controller.stop();
      await db.close();
    }
  }
  return {
    tables: [
      {
        title: `Controller throughput: POST /tasks/route, ${seconds} s per figure in ${ROUNDS} slices taking turns with the baselines`,
        head: [
          "engine",
          "clients",
          "routed tasks",
          "p50",
          "p99",
          "same unit of work in-process",
          "its rows alone",
          "GET /healthz",
          "routed ÷ floor",
          "raw durable inserts",
          "routed ÷ raw",
        ],
        rows,
        notes: [
          ...notes,
          "Each routed task is one transaction holding the task, its audit row and its idempotency record, behind JWT verification, validation and a JSON log line.",
          "In-process: the controller's own MeshService.routeTask and store, called from the bench process with the same settings: the routed figure without HTTP, tokens, validation or logs.",
          "Its rows alone: what the unit of work writes (idempotency record and answer, task, audit row), one transaction each, on the bench's own connections with no controller code. GET /healthz: the controller's HTTP round trip for a request that does nothing. Floor: the two one after the other, 1 ÷ (1/rows + 1/healthz); SQLite's group commit can pass it at many clients.",
          "The load comes from this process over keep-alive connections; the controller is the compiled binary in its own process, on the same 2 cores.",
        ],
      },
    ],
    data,
    targets,
  };
}
