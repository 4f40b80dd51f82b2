/**
 * MCP over stdio: one JSON-RPC message a line. Unlike the SDK's own stdio transport,
 * which drops a line it cannot parse and closes on an oversize one, this answers
 * each bad line with a JSON-RPC error and keeps serving: a client with a bug learns
 * what it did instead of losing its server.
 */
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, JSONRPCMessageSchema, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** Larger lines are dropped unread (and answered with an error) so memory stays bounded. */
export const MAX_FRAME_BYTES = 4 * 1024 * 1024;

const NEWLINE = 0x0a;

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

  constructor(
    private readonly input: Readable,
    private readonly output: Writable,
  ) {}

  async start() {
    this.input.on("data", this.#onData);
    this.input.once("end", this.#onEnd);
    this.input.on("error", this.#onError);
    this.output.on("error", this.#onError);
  }

  send(message: JSONRPCMessage): Promise<void> {
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

  #onEnd = () => void this.close();

  #onError = (error: Error) => {
    this.onerror?.(error);
    // A broken pipe means the client is gone.
    if ((error as NodeJS.ErrnoException).code === "EPIPE") void this.close();
  };

  #onData = (chunk: Buffer | string) => {
    let data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    for (let end = data.indexOf(NEWLINE); end !== -1; end = data.indexOf(NEWLINE)) {
      this.#take(data.subarray(0, end));
      const line = this.#skipping ? null : Buffer.concat(this.#pieces, this.#size);
      if (this.#skipping) this.#reply(ErrorCode.InvalidRequest, `Message larger than ${MAX_FRAME_BYTES} bytes; it was dropped.`, null);
      this.#pieces = [];
      this.#size = 0;
      this.#skipping = false;
      if (line) this.#handle(line.toString("utf8"));
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

  #handle(line: string) {
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
