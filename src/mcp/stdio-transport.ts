/**
 * MCP over stdio: one JSON-RPC message a line. Unlike the SDK's own stdio transport,
 * which drops a line it cannot parse and closes on an oversize one, this answers
 * each bad line with a JSON-RPC error and keeps serving: a client with a bug learns
 * what it did instead of losing its server.
 *
 * It reads from `listen()` on, before the server is connected: until then it answers what
 * the build precomputed (early-answers.ts) and keeps every other line, in order, for the
 * server. Loading blocks the event loop, so `paused` and `needed` say when: the settings
 * once the client pauses, the server (SDK, zod schemas, tools) once a message needs it.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { takeEarly, type EarlyAnswerSet } from "./early-answers.ts";

/** Larger lines are dropped unread (and answered with an error) so memory stays bounded. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;

/** A pause this long in the client's messages is when the settings load, if nothing needed them sooner. */
const QUIET_MS = 25;

type Readable = NodeJS.ReadableStream;
type Writable = NodeJS.WritableStream;

export class LineTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  #pieces: Buffer[] = [];
  #size = 0;
  /** Inside a line that grew past MAX_FRAME_BYTES: skip to its end. */
  #skipping = false;
  #closed = false;
  #listening = false;
  /** Set once the server is connected; until then lines wait in #waiting. */
  #sdk?: typeof import("@modelcontextprotocol/sdk/types.js");
  #waiting: (() => void)[] = [];
  /** Requests answered early that the server still sees: its own answer to them is not sent again. */
  #answeredEarly = new Set<string | number>();
  #quiet?: ReturnType<typeof setTimeout>;
  #paused = Promise.withResolvers<void>();
  #needed = Promise.withResolvers<void>();
  /** Resolves once the client pauses (or needs the server): a good moment to check the settings. */
  readonly paused = this.#paused.promise;
  /** Resolves when a message needs the server; at once without precomputed answers. */
  readonly needed = this.#needed.promise;

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
    private readonly early?: EarlyAnswerSet,
  ) {
    if (!early) this.#neededNow();
  }

  #neededNow = () => {
    clearTimeout(this.#quiet);
    this.#paused.resolve();
    this.#needed.resolve();
  };

  #restartQuiet() {
    clearTimeout(this.#quiet);
    this.#quiet = setTimeout(this.#paused.resolve, QUIET_MS);
  }

  /** Starts reading input; the server may connect later. */
  listen() {
    if (this.#listening) return;
    this.#listening = true;
    if (this.early) this.#restartQuiet();
    this.input.on("data", this.#onData);
    this.input.once("end", this.#onEnd);
    this.input.on("error", this.#onError);
    this.output.on("error", this.#onError);
  }

  async start() {
    this.#sdk = await import("@modelcontextprotocol/sdk/types.js");
    this.listen();
    for (const handle of this.#waiting.splice(0)) handle();
  }

  send(message: JSONRPCMessage): Promise<void> {
    const isAnswer = "id" in message && !("method" in message);
    if (isAnswer && this.#answeredEarly.delete(message.id as string | number)) return Promise.resolve();
    return this.#write(message);
  }

  #write(message: JSONRPCMessage): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      if (this.output.write(`${JSON.stringify(message)}\n`)) resolve();
      else this.output.once("drain", resolve);
    });
  }

  async close() {
    if (this.#closed) return;
    this.#closed = true;
    this.input.off("data", this.#onData);
    this.input.off("end", this.#onEnd);
    this.input.pause();
    this.#pieces = [];
    this.onclose?.();
  }

  /** Lines still waiting for the server are served before the close. */
  #onEnd = () => {
    this.#neededNow();
    this.#whenConnected(() => void this.close());
  };

  #onError = (error: Error) => {
    this.onerror?.(error);
    // A broken pipe means the client is gone.
    if ((error as NodeJS.ErrnoException).code === "EPIPE") void this.close();
  };

  #onData = (chunk: Buffer | string) => {
    if (!this.#sdk && this.early) this.#restartQuiet();
    let data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE)) {
      this.#take(data.subarray(0, end));
      const line = this.#skipping ? null : Buffer.concat(this.#pieces, this.#size);
      if (this.#skipping) this.#oversize();
      this.#pieces = [];
      this.#size = 0;
      this.#skipping = false;
      if (line) this.#line(line.toString("utf8"));
      data = data.subarray(end + 1);
    }
    this.#take(data);
  };

  #take(piece: Buffer) {
    if (this.#skipping || piece.length === 0) return;
    this.#size += piece.length;
    if (this.#size > MAX_FRAME_BYTES) {
      this.#skipping = true;
      this.#pieces = [];
      return;
    }
    // Copy: the stream may reuse its buffer.
    this.#pieces.push(Buffer.from(piece));
  }

  #oversize() {
    this.#neededNow();
    this.#whenConnected(() => this.#reply(this.#sdk!.ErrorCode.InvalidRequest, `Message larger than ${MAX_FRAME_BYTES} bytes; it was dropped.`, null));
  }

  #whenConnected(handle: () => void) {
    if (this.#sdk) handle();
    else this.#waiting.push(handle);
  }

  #line(line: string) {
    const early = !this.#sdk && this.early ? takeEarly(this.early, line) : undefined;
    if (!early) this.#neededNow();
    if (early?.answer) {
      void this.#write({ jsonrpc: "2.0", ...early.answer });
      if (early.replay) this.#answeredEarly.add(early.answer.id);
    }
    if (!early || early.replay) this.#whenConnected(() => this.#handle(line));
  }

  #handle(line: string) {
    const { ErrorCode, JSONRPCMessageSchema } = this.#sdk!;
    if (line.trim() === "") return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      return this.#reply(ErrorCode.ParseError, `Parse error: ${(error as Error).message}`, null);
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (parsed.success) return this.onmessage?.(parsed.data);
    const id = (value as { id?: unknown } | null)?.id;
    this.#reply(
      ErrorCode.InvalidRequest,
      "Invalid Request: not a JSON-RPC 2.0 request, notification or response.",
      typeof id === "string" || typeof id === "number" ? id : null,
    );
  }

  #reply(code: number, message: string, id: string | number | null) {
    // JSON-RPC 2.0 answers a message whose id cannot be read with id null, which the SDK's types do not model.
    void this.send({ jsonrpc: "2.0", id, error: { code, message } } as unknown as JSONRPCMessage);
  }
}
