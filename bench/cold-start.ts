/**
 * Cold start: spawn a server, send `initialize`, stop the clock at its answer; then
 * `tools/list`, the answer a host waits for before it can offer the tools. The
 * servers take turns, so the machine's noise falls on each alike; one untimed run
 * each first puts the executables in the page cache.
 */
import { MESH_MCP_ALONE, REFERENCE } from "./lib/binaries.ts";
import type { BenchContext } from "./lib/context.ts";
import { FrameClient } from "./lib/frames.ts";
import { ms, type SectionResult } from "./lib/report.ts";
import { summarize, type Summary } from "./lib/stats.ts";

type Server = { name: string; command: string[]; env?: Record<string, string> };

/** Within this factor of the floor. */
const TARGET = 1.5;
/** tools/list answered within this many times the floor's initialize answer. */
const TOOLS_LIST_TARGET = 2;

type Start = { initialize: number; toolsList: number };

/** Milliseconds from spawn to the initialize answer and to the tools/list answer. */
async function timeToAnswers(server: Server): Promise<Start> {
  const started = performance.now();
  const client = new FrameClient(server.command, server.env);
  try {
    await client.initialize();
    const initialize = performance.now() - started;
    await client.request("tools/list");
    return { initialize, toolsList: performance.now() - started };
  } finally {
    await client.close();
  }
}

export async function coldStart(ctx: BenchContext): Promise<SectionResult> {
  const servers: Server[] = [
    { name: "hello (floor): compiled Bun, answers by hand", command: [ctx.hello] },
    { name: "agent-mesh mcp", ...MESH_MCP_ALONE },
    { name: "server-everything (reference, node)", command: REFERENCE },
  ];
  const [floor, mesh, reference] = servers as [Server, Server, Server];
  const samples = new Map<Server, Start[]>(servers.map((s) => [s, []]));
  for (const server of servers) await timeToAnswers(server);
  for (let run = 0; run < ctx.config.coldStartRuns; run++) {
    for (let k = 0; k < servers.length; k++) {
      const server = servers[(run + k) % servers.length]!;
      samples.get(server)!.push(await timeToAnswers(server));
    }
  }
  const summary = new Map<Server, { initialize: Summary; toolsList: Summary }>(
    [...samples].map(([s, xs]) => [s, { initialize: summarize(xs.map((x) => x.initialize)), toolsList: summarize(xs.map((x) => x.toolsList)) }]),
  );
  const floorMedian = summary.get(floor)!.initialize.p50;
  const meshMedian = summary.get(mesh)!.initialize.p50;
  const ratio = meshMedian / floorMedian;
  return {
    tables: [
      {
        title: `Cold start over stdio: spawn → answer (median of ${ctx.config.coldStartRuns} runs)`,
        head: ["server", "initialize answered", "p99", "× floor", "tools/list answered"],
        rows: servers.map((s) => {
          const x = summary.get(s)!;
          return [s.name, ms(x.initialize.p50), ms(x.initialize.p99), `${(x.initialize.p50 / floorMedian).toFixed(2)}×`, ms(x.toolsList.p50)];
        }),
      },
    ],
    data: Object.fromEntries(servers.map((s) => [s === floor ? "floor" : s === mesh ? "agentMesh" : "reference", { name: s.name, ...summary.get(s) }])),
    targets: [
      {
        what: `cold start within ${TARGET}× the floor`,
        met: ratio <= TARGET,
        detail: `${ms(meshMedian)} vs ${ms(floorMedian)}: ${ratio.toFixed(2)}× (reference: ${ms(summary.get(reference)!.initialize.p50)})`,
      },
      {
        what: `tools/list answered within ${TOOLS_LIST_TARGET}× the floor's initialize`,
        met: summary.get(mesh)!.toolsList.p50 <= TOOLS_LIST_TARGET * floorMedian,
        detail: `${ms(summary.get(mesh)!.toolsList.p50)} vs ${ms(floorMedian)}: ${(summary.get(mesh)!.toolsList.p50 / floorMedian).toFixed(2)}×`,
      },
    ],
  };
}
