/**
 * Tool call overhead: send_task and fetch_status through the binary over stdio to a
 * controller on loopback (SQLite), next to the floor (a stdio JSON-RPC round trip to
 * the hello program plus a loopback HTTP round trip to it) and to the reference
 * server's echo tool. The same calls straight to the controller's API say how much
 * of each figure is the controller's, and the same tools through the controller's own
 * /mcp (remote MCP, the tools in-process) say what the agent's own process costs.
 * Every kind takes one turn per round, so noise falls on all alike.
 */
import { BINARY, REFERENCE, startHelloHttp } from "./lib/binaries.ts";
import { meshApi } from "./lib/api.ts";
import { subdir, type BenchContext } from "./lib/context.ts";
import { createBenchDatabase } from "./lib/databases.ts";
import { FrameClient } from "./lib/frames.ts";
import { mcpHttpClient } from "./lib/mcp-http.ts";
import { startController } from "./lib/processes.ts";
import { ms, type SectionResult } from "./lib/report.ts";
import { summarize, timed, type Summary } from "./lib/stats.ts";

/** p50 at most this far above the floor. */
const TARGET_MS = 1;

export async function toolCalls(ctx: BenchContext): Promise<SectionResult> {
  const dir = subdir(ctx, "calls-");
  const db = await createBenchDatabase("sqlite", dir, ctx.config.postgresUrl);
  const controller = await startController(db, dir);
  const helloHttp = await startHelloHttp(ctx.hello);
  const clients: FrameClient[] = [];
  const client = (command: string[], env?: Record<string, string>) => {
    const c = new FrameClient(command, env);
    clients.push(c);
    return c;
  };
  try {
    const token = await controller.token("bench-agent", ["bench-worker"]);
    const api = meshApi(controller.url, token);
    const mesh = client([BINARY, "mcp"], { CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: token });
    const hello = client([ctx.hello]);
    const chained = client([ctx.hello], { HELLO_FETCH: helloHttp.url });
    const reference = client(REFERENCE);
    await Promise.all([mesh, hello, chained, reference].map((c) => c.initialize()));
    const taskId = await api.route("bench-worker");
    const remote = await mcpHttpClient(new URL("/mcp", controller.url).href, token);

    const kinds = {
      stdio: () => hello.callTool("hello", {}),
      http: async () => (await fetch(helloHttp.url)).json(),
      chained: () => chained.callTool("hello", {}),
      sendTask: () => mesh.callTool("send_task", { target: "bench-worker", task: { task_type: "review", description: "bench task", data: { pr: 7 } } }),
      fetchStatus: () => mesh.callTool("fetch_status", { task_id: taskId }),
      remoteSendTask: () => remote.callTool("send_task", { target: "bench-worker", task: { task_type: "review", description: "bench task", data: { pr: 7 } } }),
      remoteFetchStatus: () => remote.callTool("fetch_status", { task_id: taskId }),
      echo: () => reference.callTool("echo", { message: "hello" }),
      routeDirect: () => api.route("bench-worker"),
      getDirect: () => api.get(`/tasks/${taskId}`),
    };
    const names = Object.keys(kinds) as (keyof typeof kinds)[];
    const samples = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<keyof typeof kinds, number[]>;
    const warmup = Math.ceil(ctx.config.calls / 10);
    for (let round = 0; round < warmup + ctx.config.calls; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(round + k) % names.length]!;
        const elapsed = await timed(kinds[name]);
        if (round >= warmup) samples[name].push(elapsed);
      }
    }

    const s = Object.fromEntries(names.map((k) => [k, summarize(samples[k])])) as Record<keyof typeof kinds, Summary>;
    const floor = { p50: s.stdio.p50 + s.http.p50, p99: s.stdio.p99 + s.http.p99 };
    const over = (x: Summary) => x.p50 - floor.p50;
    const row = (name: string, x: { p50: number; p99: number }, vsFloor: string) => [name, ms(x.p50), ms(x.p99), vsFloor];
    const plus = (x: number) => `${x >= 0 ? "+" : "−"}${ms(Math.abs(x))}`;
    return {
      tables: [
        {
          title: `Tool call latency over stdio (${ctx.config.calls} calls each, raw JSON-RPC frames; controller on loopback, SQLite)`,
          head: ["call", "p50", "p99", "p50 vs floor"],
          rows: [
            row("floor: stdio round trip (hello)", s.stdio, ""),
            row("floor: loopback HTTP round trip (hello http)", s.http, ""),
            row("**floor** (the two added)", floor, ""),
            row("chained: hello's tools/call fetches hello http first", s.chained, plus(over(s.chained))),
            row("agent-mesh `send_task`", s.sendTask, plus(over(s.sendTask))),
            row("agent-mesh `fetch_status`", s.fetchStatus, plus(over(s.fetchStatus))),
            row("agent-mesh `send_task` through the controller's /mcp (in-process)", s.remoteSendTask, plus(over(s.remoteSendTask))),
            row("agent-mesh `fetch_status` through the controller's /mcp (in-process)", s.remoteFetchStatus, plus(over(s.remoteFetchStatus))),
            row("server-everything `echo` (reference, no HTTP)", s.echo, plus(over(s.echo))),
            row("controller alone: POST /tasks/route", s.routeDirect, plus(s.routeDirect.p50 - s.http.p50)),
            row("controller alone: GET /tasks/{id}", s.getDirect, plus(s.getDirect.p50 - s.http.p50)),
          ],
          notes: [
            "The client writes raw frames and matches answers by id, the same for every server, so no client-side schema validation is in the figures.",
            "`chained` is the floor's shape end to end (client → stdio server → HTTP server and back): what the extra process hop costs on this machine.",
            "`controller alone` rows are the same requests sent straight to the controller; their last column is against the HTTP floor only.",
            "`through the controller's /mcp` rows are one loopback HTTP request each (Streamable HTTP, answered as SSE), the tool running inside the controller: no agent process, no second HTTP hop.",
            `agent-mesh's own share (tool call − controller alone − stdio floor): send_task ${plus(s.sendTask.p50 - s.routeDirect.p50 - s.stdio.p50)}, fetch_status ${plus(s.fetchStatus.p50 - s.getDirect.p50 - s.stdio.p50)} at p50.`,
          ],
        },
      ],
      data: { calls: ctx.config.calls, ...s, floor },
      targets: [
        {
          what: `send_task p50 within ${TARGET_MS} ms of the floor`,
          met: over(s.sendTask) <= TARGET_MS,
          detail: `${ms(s.sendTask.p50)} vs ${ms(floor.p50)} (${plus(over(s.sendTask))}); controller alone ${ms(s.routeDirect.p50)}`,
        },
        {
          what: `fetch_status p50 within ${TARGET_MS} ms of the floor`,
          met: over(s.fetchStatus) <= TARGET_MS,
          detail: `${ms(s.fetchStatus.p50)} vs ${ms(floor.p50)} (${plus(over(s.fetchStatus))}); controller alone ${ms(s.getDirect.p50)}`,
        },
      ],
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await helloHttp.stop();
    await controller.stop();
    await db.close();
  }
}
