/**
 * Serves a fetch-style handler (web Request in, Response out) over HTTP/1.1 with a
 * connection budget. Bun.serve cannot do that: it sees a connection only when a
 * request arrives, so silent or idle sockets pile up until the open-file limit, where
 * it stops accepting anyone and spins. Here node:net accepts every connection (and so
 * counts it), node:http parses, and the budget decides at accept time:
 *
 * - a connection that is not in a request is idle; idle ones that never showed a
 *   valid credential are closed after `anonymousIdleSeconds`, others after
 *   `idleSeconds`;
 * - a connection that has shown no credential gets `anonymousIdleSeconds` for each
 *   request too (a slow upload to a page anyone may post to cannot hold it);
 * - at `maxConnections` the longest-idle connection (anonymous ones first), else the
 *   longest-busy anonymous one, is closed to make room, so health checks and callers
 *   with a credential still get in; when every connection is a credentialed one in a
 *   request, the newcomer gets a 503 and is closed.
 */
import { readFileSync } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import { Readable } from "node:stream";

/** What the handler may say about the connection its request came on. */
export type Connection = {
  /** Set once a request on it showed a valid credential: it may then stay idle, and in a request, longer. */
  trusted: boolean;
};

export type ServeOptions = {
  hostname: string;
  port: number;
  maxConnections: number;
  anonymousIdleSeconds: number;
  idleSeconds: number;
  /** A connection with no traffic either way for this long is closed, even in a request (a stalled upload). */
  stallSeconds: number;
  /** A declared body larger than this is refused with 413 before the handler runs. */
  maxBodyBytes: number;
  fetch: (req: Request, connection: Connection) => Promise<Response>;
  /** Called with an error that escaped the handler (it answers 500). */
  onError: (error: unknown) => void;
};

export type WebServer = {
  url: URL;
  /** Connections held now. */
  connections: () => number;
  /** Stops accepting, closes idle connections, and resolves once the rest have finished (or at once with `force`). */
  stop: (force?: boolean) => Promise<void>;
};

/**
 * Stands in for the host when a request names none that parses: HTTP/1.0 health
 * checkers send no Host. `.invalid` never resolves (RFC 2606).
 */
const NO_HOST = "no-host.invalid";

/** Whether the request named a usable host (its URL's host is then that one). */
export const namesHost = (url: URL) => url.hostname !== NO_HOST;

/** File descriptors kept out of the connection budget: database, logs, keys, outgoing calls. */
const reserveFor = (limit: number) => Math.max(256, Math.ceil(limit / 10));

/** This process's open-file limit (Linux), or undefined where it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The default connection budget: the open-file limit less a reserve (1024 assumed where unknown). */
export const defaultMaxConnections = (limit = openFileLimit() ?? 1024) => Math.max(16, limit - reserveFor(limit));

const BUSY_REPLY =
  "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: text/plain\r\nContent-Length: 62\r\n\r\nEvery connection this server may hold is busy; retry shortly.\n";

type State = Connection & { socket: net.Socket; requests: number; busySince: number };

/** Idle connections in the order they became idle: the first is the longest idle. */
class IdleQueue {
  private readonly since = new Map<State, number>();
  add(state: State, now: number) {
    this.since.delete(state);
    this.since.set(state, now);
  }
  delete(state: State) {
    this.since.delete(state);
  }
  oldest(): State | undefined {
    return this.since.keys().next().value;
  }
  /** Connections idle since before `cutoff`, longest idle first. */
  *idleBefore(cutoff: number): Generator<State> {
    for (const [state, since] of this.since) {
      if (since >= cutoff) return;
      yield state;
    }
  }
}

/** The path and query of a request target; an absolute-form one ("GET http://x/y") keeps only those. */
function pathOf(target: string): string {
  if (target.startsWith("/")) return target;
  const url = URL.parse(target);
  return url ? url.pathname + url.search : `/${target}`;
}

/** The request's URL, with NO_HOST for a Host header that is missing or not a host name. */
function requestUrl(req: IncomingMessage): string {
  const host = req.headers.host === undefined ? null : URL.parse(`http://${req.headers.host}/`);
  const usable = host && host.pathname === "/" && !host.username && !host.password && !host.search && !host.hash;
  // Appended to the origin, "//x" stays a path rather than naming a host.
  return `http://${usable ? host.host : NO_HOST}${pathOf(req.url ?? "/")}`;
}

function webRequest(req: IncomingMessage, signal: AbortSignal): Request {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(requestUrl(req), {
    method: req.method,
    headers,
    body: hasBody ? (Readable.toWeb(req) as unknown as ReadableStream<Uint8Array>) : undefined,
    signal,
    // @ts-expect-error: needed for a streamed request body, missing from the DOM types
    duplex: "half",
  });
}

/**
 * Writes `response` to `res`. Event streams are streamed with backpressure and stop
 * when the client leaves; every other body is whole already (JSON, a page), so it goes
 * out in one write with its length.
 */
async function send(response: Response, res: ServerResponse, head: boolean): Promise<void> {
  const headers: string[] = [];
  for (const [name, value] of response.headers) if (name !== "set-cookie") headers.push(name, value);
  for (const cookie of response.headers.getSetCookie()) headers.push("set-cookie", cookie);
  if (!response.body || head || response.status === 204 || response.status === 304) {
    await response.body?.cancel();
    res.writeHead(response.status, headers).end();
    return;
  }
  if (!response.headers.get("content-type")?.startsWith("text/event-stream")) {
    const body = new Uint8Array(await response.arrayBuffer());
    res.writeHead(response.status, [...headers, "content-length", String(body.byteLength)]).end(body);
    return;
  }
  res.writeHead(response.status, headers).flushHeaders();
  const reader = response.body.getReader();
  const gone = new Promise<void>((resolve) => res.once("close", resolve));
  void gone.then(() => reader.cancel().catch(() => {}));
  for (let chunk = await reader.read(); !chunk.done && !res.destroyed; chunk = await reader.read()) {
    if (!res.write(chunk.value)) await Promise.race([new Promise((resolve) => res.once("drain", resolve)), gone]);
  }
  res.end();
}

export async function serve(o: ServeOptions): Promise<WebServer> {
  const states = new Map<net.Socket, State>();
  const anonymousIdle = new IdleQueue();
  const trustedIdle = new IdleQueue();
  let stopping = false;
  let drained: (() => void) | undefined;

  const idle = (state: State) => {
    if (stopping) return void state.socket.destroy();
    (state.trusted ? trustedIdle : anonymousIdle).add(state, Date.now());
  };
  const busy = (state: State) => {
    if (state.requests === 1) state.busySince = Date.now();
    anonymousIdle.delete(state);
    trustedIdle.delete(state);
  };
  /** Anonymous connections in a request, longest busy first: a scan, done only at the limit and once a second. */
  const anonymousBusy = () => [...states.values()].filter((state) => !state.trusted && state.requests > 0).sort((a, b) => a.busySince - b.busySince);
  const forget = (state: State) => {
    busy(state);
    states.delete(state.socket);
    if (stopping && states.size === 0) drained?.();
  };

  const httpServer = http.createServer({ keepAliveTimeout: o.idleSeconds * 1000 }, (req, res) => {
    const state = states.get(req.socket);
    if (!state) return void res.destroy();
    state.requests++;
    busy(state);
    const abort = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) abort.abort();
      if (--state.requests === 0 && !state.socket.destroyed) idle(state);
    });
    if (Number(req.headers["content-length"] ?? 0) > o.maxBodyBytes) {
      res.writeHead(413, { connection: "close", "content-type": "text/plain" }).end(`The body may be at most ${o.maxBodyBytes} bytes.\n`);
      return;
    }
    void (async () => {
      try {
        await send(await o.fetch(webRequest(req, abort.signal), state), res, req.method === "HEAD");
      } catch (error) {
        o.onError(error);
        if (res.headersSent) res.destroy();
        else res.writeHead(500, { "content-type": "text/plain" }).end("Internal error.\n");
      }
    })();
  });

  /** Closes the longest-idle connection (anonymous ones first), else the longest-busy anonymous one; false when none may go. */
  const makeRoom = () => {
    const victim = anonymousIdle.oldest() ?? trustedIdle.oldest() ?? anonymousBusy()[0];
    if (!victim) return false;
    victim.socket.destroy();
    forget(victim);
    return true;
  };

  const tcp = net.createServer((socket) => {
    socket.on("error", () => {});
    socket.setTimeout(o.stallSeconds * 1000, () => socket.destroy());
    if (states.size >= o.maxConnections && !makeRoom()) return void socket.end(BUSY_REPLY);
    const state: State = { socket, trusted: false, requests: 0, busySince: 0 };
    states.set(socket, state);
    idle(state);
    socket.once("close", () => forget(state));
    httpServer.emit("connection", socket);
  });

  // One timer for all connections; each tick only visits the ones it closes.
  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [queue, seconds] of [
      [anonymousIdle, o.anonymousIdleSeconds],
      [trustedIdle, o.idleSeconds],
    ] as const) {
      for (const state of [...queue.idleBefore(now - seconds * 1000)]) {
        state.socket.destroy();
        forget(state);
      }
    }
    for (const state of anonymousBusy()) {
      if (state.busySince >= now - o.anonymousIdleSeconds * 1000) break;
      state.socket.destroy();
      forget(state);
    }
  }, 1000);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(o.port, o.hostname, () => {
      tcp.off("error", reject);
      resolve();
    });
  });
  const { port } = tcp.address() as net.AddressInfo;
  const host = o.hostname.includes(":") ? `[${o.hostname}]` : o.hostname;

  return {
    url: new URL(`http://${host}:${port}/`),
    connections: () => states.size,
    async stop(force = false) {
      stopping = true;
      clearInterval(sweep);
      // Not waiting for close's callback: Bun's net.Server calls it late, if at all, once sockets went to node:http.
      tcp.close();
      const finished = new Promise<void>((resolve) => (drained = resolve));
      for (const state of [...states.values()]) if (force || state.requests === 0) state.socket.destroy();
      if (states.size === 0) drained?.();
      await finished;
    },
  };
}
