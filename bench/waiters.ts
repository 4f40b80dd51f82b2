/**
 * Many waiting agents: half long-poll GET /tasks?wait, half hold GET /events open,
 * spread over many callers and over client processes apart from the controller. One
 * task is sent to their role: how long until every waiter has it (from the POST's
 * start), the sender's own POST beside the same POST with nobody waiting, and what
 * the controller holds meanwhile (memory, open files). The floor beside them: the
 * controller's HTTP server alone holding the same waiters and answering them all at
 * once (lib/fan-out-floor.ts).
 */
import { readdirSync } from "node:fs";
import { meshApi } from "./lib/api.ts";
import { subdir, type BenchContext } from "./lib/context.ts";
import { createBenchDatabase } from "./lib/databases.ts";
import { rssBytes, startController, type BenchController } from "./lib/processes.ts";
import { mib, ms, type SectionResult, type Target } from "./lib/report.ts";
import { summarize } from "./lib/stats.ts";

/** Every waiter has the task within this, p99. */
const TARGET_FAN_OUT_MS = 100;
/** The sender's POST with everyone waiting, at most this many times its time with nobody waiting. */
const TARGET_POST_FACTOR = 1.5;
/** The controller's default: long-polls and streams one caller may hold. */
const WAITS_PER_CALLER = 16;
const CLIENT_PROCESSES = 4;
const ROLE = "bench-waiter";
const POSTS_ALONE = 30;

const now = () => performance.timeOrigin + performance.now();

/** The client's stdout, one parsed JSON line at a time. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buffered = "";
  for await (const chunk of stream) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
}

/** Resolves once the controller holds at least `n` long-polls and streams (its /metrics says). */
async function holding(baseUrl: string, n: number) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const text = await (await fetch(new URL("/metrics", baseUrl))).text();
    const open = Number(/^mesh_long_polls_open (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
    if (open >= n) return;
    if (Date.now() > deadline) throw new Error(`the controller holds ${open} long-polls and streams, not ${n}`);
    await Bun.sleep(50);
  }
}

/**
 * Opens `tokens.length × WAITS_PER_CALLER` waiters on the server at `url`, runs
 * `meanwhile` while they all wait, sends the task with `send`, and times who heard it when.
 */
async function fanOut(url: string, pid: number, tokens: string[], send: () => Promise<unknown>, meanwhile = async () => {}) {
  const clients: Bun.Subprocess<"pipe", "pipe", "inherit">[] = [];
  try {
    const { hostname, port } = new URL(url);
    const outputs = [];
    for (let p = 0; p < CLIENT_PROCESSES; p++) {
      const mine = tokens.filter((_, i) => i % CLIENT_PROCESSES === p);
      const input = {
        host: hostname,
        port: Number(port),
        tokens: mine,
        longPolls: WAITS_PER_CALLER / 2,
        streams: WAITS_PER_CALLER / 2,
        role: ROLE,
        waitSeconds: 60,
        timeoutMs: 10_000,
      };
      const proc = Bun.spawn([process.execPath, new URL("./lib/waiter-client.ts", import.meta.url).pathname, JSON.stringify(input)], {
        stdin: "pipe",
        stdout: "pipe",
        stderr: "inherit",
      });
      clients.push(proc);
      outputs.push(lines(proc.stdout));
    }
    let waiting = 0;
    for (const out of outputs) waiting += Number((await out.next()).value?.open ?? 0);
    await holding(url, waiting);
    const rss = rssBytes(pid);
    const files = readdirSync(`/proc/${pid}/fd`).length;
    await meanwhile();
    for (const c of clients) c.stdin.write("go\n");
    for (const c of clients) c.stdin.flush();
    await Bun.sleep(100); // the clients are listening
    const t0 = now();
    const p0 = performance.now();
    await send();
    const post = performance.now() - p0;
    const heard: number[] = [];
    for (const out of outputs) heard.push(...(((await out.next()).value?.heard ?? []) as number[]));
    return { waiting, heard: heard.length, fanOut: summarize(heard.map((at) => at - t0)), post, rss, files };
  } finally {
    for (const c of clients) c.kill();
    await Promise.all(clients.map((c) => c.exited));
  }
}

async function oneEngine(ctx: BenchContext, engine: "sqlite" | "postgres", total: number) {
  const dir = subdir(ctx, `waiters-${engine}-`);
  const db = await createBenchDatabase(engine, dir, ctx.config.postgresUrl);
  const controller: BenchController = await startController(db, dir);
  try {
    const sender = meshApi(controller.url, await controller.token("bench-sender", []));
    // The same POST with nobody waiting, to a role nobody waits for (so no waiter's inbox holds it later).
    for (let i = 0; i < POSTS_ALONE / 5; i++) await sender.route("bench-nobody");
    const timedPosts = async () => {
      const times: number[] = [];
      for (let i = 0; i < POSTS_ALONE; i++) {
        const t0 = performance.now();
        await sender.route("bench-nobody");
        times.push(performance.now() - t0);
      }
      return summarize(times);
    };
    const alone = await timedPosts();
    let whileWaiting = alone;
    const callers = Math.ceil(total / WAITS_PER_CALLER);
    const tokens = await Promise.all(Array.from({ length: callers }, (_, i) => controller.token(`bench-waiter-${i}`, [ROLE])));
    // The same POSTs again while everyone waits: what the waiters cost other writes.
    const heard = await fanOut(
      controller.url,
      controller.pid,
      tokens,
      () => sender.route(ROLE),
      async () => void (whileWaiting = await timedPosts()),
    );
    return { ...heard, alone, whileWaiting };
  } finally {
    await controller.stop();
    await db.close();
  }
}

/** The same waiters on the controller's HTTP server alone, or on Bun.serve (lib/fan-out-floor.ts). */
async function floor(total: number, server: "ours" | "bun") {
  const script = new URL("./lib/fan-out-floor.ts", import.meta.url).pathname;
  const proc = Bun.spawn([process.execPath, script, server], { stdout: "pipe", stderr: "inherit" });
  try {
    const reader = proc.stdout.getReader();
    const { value } = await reader.read();
    const url = new TextDecoder().decode(value).trim();
    const tokens = Array.from({ length: Math.ceil(total / WAITS_PER_CALLER) }, (_, i) => `floor-${i}`);
    return await fanOut(url, proc.pid, tokens, async () => (await fetch(new URL("/go", url), { method: "POST" })).arrayBuffer());
  } finally {
    proc.kill();
    await proc.exited;
  }
}

export async function waiters(ctx: BenchContext): Promise<SectionResult> {
  const total = ctx.config.waiters;
  const rows: string[][] = [];
  const targets: Target[] = [];
  const data: Record<string, unknown> = {};
  ctx.progress(`waiters: the HTTP servers alone, ${total} waiting`);
  const least = await floor(total, "ours");
  const bare = await floor(total, "bun");
  data.floor = least;
  data.bunServe = bare;
  for (const [name, r] of [
    ["floor: the controller's HTTP server alone", least],
    ["Bun.serve alone (no connection budget)", bare],
  ] as const) {
    rows.push([name, `${r.heard} of ${r.waiting}`, ms(r.fanOut.p50), ms(r.fanOut.p99), ms(r.post), "", "", mib(r.rss), String(r.files)]);
  }
  for (const engine of ctx.config.engines) {
    ctx.progress(`waiters: ${engine}, ${total} waiting`);
    const r = await oneEngine(ctx, engine, total);
    data[engine] = r;
    rows.push([
      engine,
      `${r.heard} of ${r.waiting}`,
      ms(r.fanOut.p50),
      ms(r.fanOut.p99),
      ms(r.post),
      ms(r.whileWaiting.p50),
      ms(r.alone.p50),
      mib(r.rss),
      String(r.files),
    ]);
    targets.push(
      {
        what: `${engine}, ${total} waiting: every waiter has the new task, p99 ≤ ${TARGET_FAN_OUT_MS} ms`,
        met: r.heard === r.waiting && r.fanOut.p99 <= TARGET_FAN_OUT_MS,
        detail: `${r.heard} of ${r.waiting}, p99 ${ms(r.fanOut.p99)} (the HTTP server alone: ${ms(least.fanOut.p99)})`,
      },
      {
        what: `${engine}, ${total} waiting: the sender's POST that wakes them ≤ ${TARGET_POST_FACTOR} × the same POST with nobody waiting`,
        met: r.post <= TARGET_POST_FACTOR * r.alone.p50,
        detail: `${ms(r.post)} vs ${ms(r.alone.p50)} (${(r.post / r.alone.p50).toFixed(2)}×; one request)`,
      },
      {
        what: `${engine}, ${total} waiting: other senders' POSTs while they wait ≤ ${TARGET_POST_FACTOR} × the same POST with nobody waiting (p50)`,
        met: r.whileWaiting.p50 <= TARGET_POST_FACTOR * r.alone.p50,
        detail: `${ms(r.whileWaiting.p50)} vs ${ms(r.alone.p50)} (${(r.whileWaiting.p50 / r.alone.p50).toFixed(2)}×)`,
      },
    );
  }
  return {
    tables: [
      {
        title: `${total.toLocaleString("en-US")} waiting agents (half GET /tasks?wait, half GET /events), one new task`,
        head: [
          "server",
          "heard it",
          "fan-out p50",
          "fan-out p99",
          "the POST that woke them",
          `sender's POST while they wait (p50 of ${POSTS_ALONE})`,
          "same POST, nobody waiting (p50)",
          "RSS",
          "open files",
        ],
        rows,
        notes: [
          `${Math.ceil(total / WAITS_PER_CALLER)} callers holding ${WAITS_PER_CALLER} each (the default budget), from ${CLIENT_PROCESSES} client processes over raw keep-alive sockets on loopback; fan-out is from the POST's start to each waiter's first byte of the task.`,
          "RSS and open files are the controller's while everyone waits.",
          `The sender's POSTs while they wait go to a role nobody waits for, one after another: what the 10,000 waiters cost everyone else's writes. The POST that woke them is one request, so it varies as any single request does.`,
          "Floor: the controller's own HTTP server (src/lib/http-server.ts, the same settings) holding the same waiters from the same clients and answering each with one task at once: no tokens, reads, rules or database (bench/lib/fan-out-floor.ts). Bun.serve alone: the same on Bun's native server, which cannot keep a connection budget (ADR 0007).",
        ],
      },
    ],
    data,
    targets,
  };
}
