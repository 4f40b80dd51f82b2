/**
 * HTTP servers that fail on purpose, for the controller client's retry rules: each
 * answers the n-th request as a script says, and records what every request carried.
 */
export type Seen = { method: string; path: string; headers: Headers; at: number; aborted: Promise<void> };

/** How to answer one request: a Response, "hang" (never answer) or a delay before a Response. */
export type Step = Response | "hang" | { afterMs: number; response: Response };

export type Misbehaving = {
  url: string;
  seen: Seen[];
  /** Resolves once `n` requests have arrived. */
  received: (n: number) => Promise<void>;
  stop: () => Promise<void>;
};

export const accepted = () => Response.json({ task_id: "t-1", status: "pending", trace_id: "from-server" }, { status: 202 });
export const problem = (status: number, type: string, detail: string, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify({ type: `urn:agent-mesh:problem:${type}`, title: type, status, detail, trace_id: "x" }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });

/** Answers request n with steps[n], and every later one with the last step. */
export function misbehave(steps: Step[]): Misbehaving {
  const seen: Seen[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      const aborted = new Promise<void>((resolve) => req.signal.addEventListener("abort", () => resolve(), { once: true }));
      seen.push({ method: req.method, path: new URL(req.url).pathname + new URL(req.url).search, headers: req.headers, at: performance.now(), aborted });
      for (const w of waiters) if (seen.length >= w.n) w.resolve();
      const step = steps[Math.min(seen.length, steps.length) - 1]!;
      if (step === "hang") {
        await aborted;
        return new Response(null, { status: 499 });
      }
      if (step instanceof Response) return step.clone();
      await Promise.race([aborted, Bun.sleep(step.afterMs)]);
      return step.response.clone();
    },
  });
  return {
    url: server.url.href,
    seen,
    received: (n) => (seen.length >= n ? Promise.resolve() : new Promise((resolve) => void waiters.push({ n, resolve }))),
    stop: () => server.stop(true),
  };
}

/** A TCP server that closes the first `drops` connections without a word, then answers 202. */
export function dropping(drops: number): { url: string; connections: () => number; stop: () => void } {
  let connections = 0;
  const body = JSON.stringify({ task_id: "t-1", status: "pending", trace_id: "x" });
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        connections++;
        if (connections <= drops) socket.end();
      },
      data(socket) {
        if (connections <= drops) return;
        socket.end(`HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
      },
    },
  });
  return { url: `http://127.0.0.1:${listener.port}`, connections: () => connections, stop: () => listener.stop(true) };
}

/** A port nothing listens on. */
export function closedPort(): string {
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
  const url = server.url.href;
  server.stop(true);
  return url;
}
