/**
 * A raw MCP client: JSON-RPC frames, one a line, to a spawned server's stdin and from
 * its stdout. The bench uses it for every server alike, so the client costs the same
 * for each and nothing of the SDK's own validation lands in the figures.
 */
type Frame = { id?: number; result?: unknown; error?: { code: number; message: string } };
type Waiter = { resolve: (result: any) => void; reject: (error: Error) => void };

const TAIL_BYTES = 16 * 1024;

const PROTOCOL_VERSION = "2025-06-18";

export class FrameClient {
  readonly proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  readonly #waiting = new Map<number, Waiter>();
  #nextId = 1;
  #stderr = "";

  constructor(command: string[], env: Record<string, string> = {}) {
    this.proc = Bun.spawn(command, {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    });
    void this.#readFrames();
    void this.#keepStderrTail();
  }

  get pid() {
    return this.proc.pid;
  }

  /** Sends a request and resolves with its result; an error frame or an exit rejects. */
  request<T = any>(method: string, params: unknown = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#write({ jsonrpc: "2.0", id, method, params });
    });
  }

  notify(method: string, params: unknown = {}) {
    this.#write({ jsonrpc: "2.0", method, params });
  }

  /** The MCP handshake: initialize, then notifications/initialized. */
  async initialize() {
    const result = await this.request("initialize", {
      protocolVersion: PROTOCOL_VERSION,
      capabilities: {},
      clientInfo: { name: "agent-mesh-bench", version: "0" },
    });
    this.notify("notifications/initialized");
    return result;
  }

  /** Calls a tool; a result with isError counts as a failure, since the bench measures calls that work. */
  async callTool(name: string, args: Record<string, unknown>) {
    const result = await this.request<{ isError?: boolean; content?: { text?: string }[]; structuredContent?: any }>("tools/call", { name, arguments: args });
    if (result.isError) throw new Error(`${name} failed: ${result.content?.map((c) => c.text).join(" ")}`);
    return result;
  }

  async close() {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }

  #write(frame: object) {
    this.proc.stdin.write(`${JSON.stringify(frame)}\n`);
    this.proc.stdin.flush();
  }

  async #readFrames() {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of this.proc.stdout) {
      buffered += decoder.decode(chunk, { stream: true });
      for (let end = buffered.indexOf("\n"); end !== -1; end = buffered.indexOf("\n")) {
        const frame: Frame = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        const waiter = frame.id === undefined ? undefined : this.#waiting.get(frame.id);
        if (!waiter) continue;
        this.#waiting.delete(frame.id!);
        if (frame.error) waiter.reject(new Error(`${frame.error.code} ${frame.error.message}`));
        else waiter.resolve(frame.result);
      }
    }
    const gone = new Error(`server exited (${await this.proc.exited}); its stderr ended with:\n${this.#stderr}`);
    for (const waiter of this.#waiting.values()) waiter.reject(gone);
    this.#waiting.clear();
  }

  async #keepStderrTail() {
    const decoder = new TextDecoder();
    for await (const chunk of this.proc.stderr) this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true })).slice(-TAIL_BYTES);
  }
}
