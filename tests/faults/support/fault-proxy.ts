/**
 * A fault-injecting HTTP/1.1 proxy, made of plain TCP sockets so it can do what a
 * broken network does: close a connection before the request reaches the upstream,
 * close it after the upstream answered (the work is done, the caller never hears),
 * hold a request or an answer past the caller's timeout, or answer 502/503 itself.
 *
 * It understands just enough HTTP/1.1 to see where one message ends (Content-Length or
 * chunked), so keep-alive connections carry many requests and each gets its own fault.
 * Every decision is counted, and `idle()` resolves once nothing is in flight, so a
 * test can check the upstream's state only after a delayed request has landed.
 */
import net from "node:net";

export const FAULTS = ["pass", "drop-request", "drop-response", "delay-request", "delay-response", "503", "502-after-commit"] as const;
export type Fault = (typeof FAULTS)[number];

export type ProxiedRequest = { method: string; path: string; headers: Map<string, string> };

export type FaultProxyOptions = {
  upstreamPort: number;
  upstreamHost?: string;
  /** Picks the fault for each request; the default passes everything. */
  choose?: (req: ProxiedRequest) => Fault;
  /** How long `delay-request` and `delay-response` hold a message. */
  delayMs?: number;
  /**
   * Replace every Idempotency-Key with a fresh one on its way through: a client that
   * makes a new key per attempt, for showing that the exactly-once checks catch it.
   */
  rekey?: boolean;
};

export type FaultProxy = {
  url: string;
  port: number;
  /** Requests per fault taken. */
  counts: Record<Fault, number>;
  /** Requests the upstream received (every fault but drop-request and 503). */
  forwarded: () => number;
  setChoose: (choose: (req: ProxiedRequest) => Fault) => void;
  /** Resolves when no exchange is in flight (delayed ones included). */
  idle: () => Promise<void>;
  close: () => Promise<void>;
};

const CRLF2 = Buffer.from("\r\n\r\n");

type Head = { startLine: string; headers: [string, string][]; raw: Buffer };

/** A byte buffer fed by a socket, from which whole HTTP messages are taken. */
class MessageReader {
  #buf: Buffer = Buffer.alloc(0);
  #waiter: (() => void) | null = null;
  #ended = false;

  constructor(socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
      this.#wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#wake();
    });
  }

  #wake() {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  get ended() {
    return this.#ended;
  }

  /** Resolves when more bytes (or the end) arrive. */
  #more(): Promise<void> {
    if (this.#ended) return Promise.reject(new Error("connection closed"));
    return new Promise((resolve) => (this.#waiter = resolve));
  }

  /** The next message's head, or null if the connection ended cleanly between messages. */
  async head(): Promise<Head | null> {
    for (;;) {
      const end = this.#buf.indexOf(CRLF2);
      if (end !== -1) {
        const raw = this.#buf.subarray(0, end + 4);
        this.#buf = this.#buf.subarray(end + 4);
        const [startLine, ...lines] = raw.subarray(0, end).toString("latin1").split("\r\n");
        const headers = lines.map((line): [string, string] => {
          const colon = line.indexOf(":");
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
        });
        return { startLine: startLine!, headers, raw: Buffer.from(raw) };
      }
      if (this.#ended && this.#buf.length === 0) return null;
      await this.#more();
    }
  }

  async #take(n: number): Promise<Buffer> {
    while (this.#buf.length < n) await this.#more();
    const out = Buffer.from(this.#buf.subarray(0, n));
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async #line(): Promise<Buffer> {
    for (;;) {
      const end = this.#buf.indexOf("\r\n");
      if (end !== -1) return this.#take(end + 2);
      await this.#more();
    }
  }

  /** The body that follows `head`, as raw bytes (chunked framing kept). */
  async body(head: Head, { response, requestMethod }: { response: boolean; requestMethod?: string }): Promise<Buffer> {
    const get = (name: string) => head.headers.find(([k]) => k === name)?.[1];
    if (response) {
      const status = Number(head.startLine.split(" ")[1]);
      if (requestMethod === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200)) return Buffer.alloc(0);
    }
    if (get("transfer-encoding")?.toLowerCase().includes("chunked")) {
      const parts: Buffer[] = [];
      for (;;) {
        const sizeLine = await this.#line();
        parts.push(sizeLine);
        const size = parseInt(sizeLine.toString("latin1"), 16);
        if (size === 0) {
          // trailers, then the empty line
          for (;;) {
            const trailer = await this.#line();
            parts.push(trailer);
            if (trailer.length === 2) return Buffer.concat(parts);
          }
        }
        parts.push(await this.#take(size + 2));
      }
    }
    const length = get("content-length");
    if (length !== undefined) return this.#take(Number(length));
    if (!response) return Buffer.alloc(0);
    // A response without a length runs to the end of the connection.
    while (!this.#ended) await this.#more().catch(() => {});
    const rest = this.#buf;
    this.#buf = Buffer.alloc(0);
    return rest;
  }
}

const rebuild = (head: Head, headers: [string, string][]) =>
  Buffer.from(`${head.startLine}\r\n${headers.map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\n\r\n`, "latin1");

function plain(status: number, reason: string, extra: Record<string, string> = {}): Buffer {
  const body = `${status} ${reason} (from the fault proxy)`;
  const lines = [
    `HTTP/1.1 ${status} ${reason}`,
    "content-type: text/plain",
    `content-length: ${Buffer.byteLength(body)}`,
    ...Object.entries(extra).map(([k, v]) => `${k}: ${v}`),
  ];
  return Buffer.from(`${lines.join("\r\n")}\r\n\r\n${body}`);
}

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const upstreamHost = o.upstreamHost ?? "127.0.0.1";
  const delayMs = o.delayMs ?? 1500;
  let choose = o.choose ?? (() => "pass" as Fault);
  const counts = Object.fromEntries(FAULTS.map((f) => [f, 0])) as Record<Fault, number>;
  let forwarded = 0;
  let inFlight = 0;
  let idleWaiters: (() => void)[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    return s;
  };
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });
  const settle = () => {
    if (--inFlight === 0) {
      const w = idleWaiters;
      idleWaiters = [];
      for (const resolve of w) resolve();
    }
  };

  /** One upstream connection per client connection, opened when first needed and again after it closes. */
  function upstreamFor() {
    let socket: net.Socket | null = null;
    let reader: MessageReader | null = null;
    return {
      async exchange(request: Buffer, method: string): Promise<{ head: Head; raw: Buffer }> {
        if (!socket || socket.destroyed || reader!.ended) {
          socket = track(net.connect(o.upstreamPort, upstreamHost));
          reader = new MessageReader(socket);
        }
        const s = socket;
        const r = reader!;
        s.write(request);
        const head = await r.head();
        if (!head) throw new Error("upstream closed without answering");
        const body = await r.body(head, { response: true, requestMethod: method });
        if (head.headers.some(([k, v]) => k === "connection" && v.toLowerCase() === "close")) s.end();
        return { head, raw: Buffer.concat([head.raw, body]) };
      },
      destroy: () => socket?.destroy(),
    };
  }

  const server = net.createServer((client) => {
    track(client);
    const reader = new MessageReader(client);
    const upstream = upstreamFor();
    const write = (bytes: Buffer) => {
      if (!client.destroyed) client.write(bytes);
    };
    // Requests on one connection are handled one after another; when the client is gone, so is its upstream.
    void serve().finally(() => upstream.destroy());
    async function serve() {
      for (;;) {
        let head: Head | null;
        let body: Buffer;
        try {
          head = await reader.head();
          if (!head) return;
          body = await reader.body(head, { response: false });
        } catch {
          return; // the client went away mid-request
        }
        const [method = "", path = ""] = head.startLine.split(" ");
        const headers = new Map(head.headers);
        const fault = choose({ method, path, headers });
        counts[fault]++;
        let outHeaders = head.headers;
        if (o.rekey && headers.has("idempotency-key")) outHeaders = head.headers.map(([k, v]) => (k === "idempotency-key" ? [k, crypto.randomUUID()] : [k, v]));
        const request = Buffer.concat([rebuild(head, outHeaders), body]);
        inFlight++;
        try {
          switch (fault) {
            case "drop-request":
              client.destroy();
              return;
            case "503":
              write(plain(503, "Service Unavailable", Math.random() < 0.5 ? { "retry-after": "0" } : {}));
              continue;
            case "delay-request":
              await pause(delayMs);
              break;
          }
          forwarded++;
          let answer: { head: Head; raw: Buffer };
          try {
            answer = await upstream.exchange(request, method);
          } catch {
            client.destroy(); // the upstream went away: so does this connection, as with a real proxy
            return;
          }
          switch (fault) {
            case "drop-response":
              client.destroy();
              return;
            case "502-after-commit":
              write(plain(502, "Bad Gateway"));
              continue;
            case "delay-response":
              await pause(delayMs);
              break;
          }
          if (client.destroyed) return;
          write(answer.raw);
        } finally {
          settle();
        }
      }
    }
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    counts,
    forwarded: () => forwarded,
    setChoose: (c) => void (choose = c),
    idle: () => (inFlight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        for (const t of timers) clearTimeout(t);
        timers.clear();
      });
    },
  };
}

/** A seeded pseudo-random source (mulberry32), so a failing run can be repeated with its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Picks a fault by weight: `{ pass: 5, "drop-response": 1 }`. */
export function weighted(weights: Partial<Record<Fault, number>>, random: () => number): () => Fault {
  const entries = Object.entries(weights) as [Fault, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  return () => {
    let x = random() * total;
    for (const [fault, w] of entries) if ((x -= w) < 0) return fault;
    return entries.at(-1)![0];
  };
}
