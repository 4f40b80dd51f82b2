/**
 * What a task's process says: each stream kept whole in the task's folder (up to a
 * bound, so a chatty agent cannot fill the disk) and its tail in memory, for the
 * result or the error. Lines on stderr that start with MESH_PROGRESS are progress.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { type Progress as ProgressT, Progress } from "../contract/schemas.ts";

/** Of each stream, this much is kept in the task's folder; past it, a line says what was left out. */
export const KEPT_BYTES = 10 * 1024 * 1024;
/** The tail of stdout a result carries when the command printed no JSON object. */
export const STDOUT_TAIL_BYTES = 64 * 1024;
/** The tail of stderr a failure carries (a task's error is at most 16 KiB of text). */
export const STDERR_TAIL_BYTES = 4 * 1024;

const PROGRESS_PREFIX = "MESH_PROGRESS ";

/** One stream of a task's process: written to `path` up to KEPT_BYTES, its last `tailBytes` held. */
export class StreamCapture {
  readonly path: string;
  readonly #tailBytes: number;
  readonly #fd: number;
  #written = 0;
  #tail = Buffer.alloc(0);
  #line = "";
  readonly #onLine: ((line: string) => void) | undefined;

  constructor(path: string, tailBytes: number, onLine?: (line: string) => void) {
    this.path = path;
    this.#tailBytes = tailBytes;
    this.#fd = openSync(path, "w");
    this.#onLine = onLine;
  }

  write(chunk: Buffer) {
    if (this.#written < KEPT_BYTES) {
      const room = KEPT_BYTES - this.#written;
      writeSync(this.#fd, chunk.subarray(0, room));
      if (chunk.length > room) writeSync(this.#fd, `\n[agent-mesh worker: output past ${KEPT_BYTES} bytes not kept]\n`);
    }
    this.#written += chunk.length;
    const joined = Buffer.concat([this.#tail, chunk]);
    this.#tail = joined.subarray(Math.max(0, joined.length - this.#tailBytes));
    if (this.#onLine) {
      const lines = (this.#line + chunk.toString("utf8")).split("\n");
      this.#line = lines.pop()!.slice(-STDERR_TAIL_BYTES);
      for (const line of lines) this.#onLine(line);
    }
  }

  /** The last bytes written, as text (a cut multi-byte character at the start is dropped). */
  tail(): string {
    return this.#tail.toString("utf8").replace(/^\uFFFD+/, "");
  }

  close() {
    if (this.#onLine && this.#line) this.#onLine(this.#line);
    closeSync(this.#fd);
  }
}

/** The progress a `MESH_PROGRESS {json}` line reports, or undefined for any other line. */
export function progressOf(line: string): ProgressT | undefined {
  if (!line.startsWith(PROGRESS_PREFIX)) return undefined;
  try {
    const parsed = Progress.safeParse(JSON.parse(line.slice(PROGRESS_PREFIX.length)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The last line of `text` that is a JSON object, parsed. */
export function lastJsonObject(text: string): Record<string, unknown> | undefined {
  const lines = text.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith("{") || !line.endsWith("}")) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
    } catch {}
  }
  return undefined;
}
