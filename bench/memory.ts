/**
 * Memory: resident set of an idle MCP server (after initialize) next to the hello
 * floor and the reference server, and the controller's readings the throughput and
 * scale sections took, next to the hello HTTP server.
 */
import { MESH_MCP_ALONE, REFERENCE, startHelloHttp } from "./lib/binaries.ts";
import type { BenchContext } from "./lib/context.ts";
import { FrameClient } from "./lib/frames.ts";
import { rssBytes } from "./lib/processes.ts";
import { mib, type SectionResult } from "./lib/report.ts";

/** Idle time before reading, so start-up garbage has had a chance to go. */
const SETTLE_MS = 1000;
/** An idle `agent-mesh mcp` holds at most this much. */
const TARGET_MCP_BYTES = 45 * 2 ** 20;

async function idleRss(command: string[], env?: Record<string, string>): Promise<number> {
  const client = new FrameClient(command, env);
  try {
    await client.initialize();
    await Bun.sleep(SETTLE_MS);
    return rssBytes(client.pid);
  } finally {
    await client.close();
  }
}

async function idleHttpRss(hello: string): Promise<number> {
  const server = await startHelloHttp(hello);
  try {
    await Bun.sleep(SETTLE_MS);
    return rssBytes(server.pid);
  } finally {
    await server.stop();
  }
}

export async function memory(ctx: BenchContext): Promise<SectionResult> {
  const floor = await idleRss([ctx.hello]);
  const mesh = await idleRss(MESH_MCP_ALONE.command, MESH_MCP_ALONE.env);
  const reference = await idleRss(REFERENCE);
  const httpFloor = await idleHttpRss(ctx.hello);
  const vs = (bytes: number, base: number) => `${(bytes / base).toFixed(1)}×`;
  return {
    tables: [
      {
        title: "Memory: resident set (RSS)",
        head: ["process", "RSS", "× its floor"],
        rows: [
          ["hello (floor), idle after initialize", mib(floor), ""],
          ["agent-mesh mcp, idle after initialize", mib(mesh), vs(mesh, floor)],
          ["server-everything (reference, node), idle after initialize", mib(reference), vs(reference, floor)],
          ["hello http (floor for a server), idle", mib(httpFloor), ""],
          ...ctx.controllerMemory.map(({ when, bytes }) => [`agent-mesh controller: ${when}`, mib(bytes), vs(bytes, httpFloor)]),
        ],
      },
    ],
    data: { floor, agentMeshMcp: mesh, reference, httpFloor, controller: ctx.controllerMemory },
    targets: [{ what: `agent-mesh mcp idle RSS ≤ ${mib(TARGET_MCP_BYTES)}`, met: mesh <= TARGET_MCP_BYTES, detail: `${mib(mesh)} (floor ${mib(floor)})` }],
  };
}
