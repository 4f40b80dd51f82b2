/**
 * The floor of the many-waiters figure: the controller's own HTTP server
 * (src/lib/http-server.ts, with the controller's settings) holding the same waiters
 * and answering them all at once, with nothing else: no tokens, reads, rules or
 * database. GET /tasks is held until POST /go and then answered with one task;
 * GET /events opens a stream at once and gets one task.created event on POST /go;
 * GET /metrics says how many are held, as the controller's does. Prints its URL.
 * With "bun" as its argument it serves the same with Bun.serve, which has no
 * connection budget: what the budget's node:net sockets cost.
 */
import { defaultMaxConnections, serve } from "../../src/lib/http-server.ts";

const TASK = {
  task_id: "00000000-0000-4000-8000-000000000000",
  target: "bench-waiter",
  source: "bench-sender",
  task_type: "review",
  description: "bench task",
  data: { pr: 7 },
  context: {},
  priority: "normal",
  status: "pending",
  claimed_by: null,
  result: null,
  error: null,
  created_at: "2026-01-01T00:00:00.000Z",
  updated_at: "2026-01-01T00:00:00.000Z",
  version: 1,
  trace_id: "0".repeat(32),
};
const PAGE = JSON.stringify({ items: [TASK], next_cursor: null, resume_cursor: "c" });
const EVENT = new TextEncoder().encode(`id: 1\nevent: task.created\ndata: ${JSON.stringify({ seq: 1, action: "task.created", ...TASK })}\n\n`);

let held = 0;
let release: () => void;
const released = new Promise<void>((resolve) => (release = resolve));

async function handle(req: Request): Promise<Response> {
  const { pathname } = new URL(req.url);
  if (pathname === "/metrics") return new Response(`mesh_long_polls_open ${held}\n`);
  if (req.method === "POST" && pathname === "/go") {
    // As the controller does: the sender's answer first, the waiters a moment later.
    setTimeout(release, 1);
    return new Response(null, { status: 202 });
  }
  held++;
  if (pathname === "/events") {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(": open\n\n"));
        void released.then(() => controller.enqueue(EVENT));
      },
    });
    return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
  }
  await released;
  return new Response(PAGE, { headers: { "content-type": "application/json" } });
}

const url =
  process.argv[2] === "bun"
    ? Bun.serve({ hostname: "127.0.0.1", port: 0, idleTimeout: 0, fetch: handle }).url
    : (
        await serve({
          hostname: "127.0.0.1",
          port: 0,
          maxConnections: defaultMaxConnections(),
          anonymousIdleSeconds: 600,
          idleSeconds: 600,
          stallSeconds: 600,
          maxBodyBytes: 4 * 1024 * 1024,
          onError: () => {},
          fetch: handle,
        })
      ).url;
process.stdout.write(`${url.href}\n`);
