/**
 * A person's open GET /events stream as the bench reads it: when each approval's
 * events arrived (the monotonic clock as the chunk holding them was read), looked up
 * by action and approval id. An event may arrive before anyone asks for it, so
 * arrivals are kept until asked for.
 */
type Waiter = { resolve: (at: number) => void; reject: (error: Error) => void };

/** Longer than any delivery the bench expects: a missing event fails the section instead of hanging it. */
const EVENT_TIMEOUT_MS = 15_000;

export class EventWatch {
  readonly #abort = new AbortController();
  readonly #arrived = new Map<string, number>();
  readonly #waiting = new Map<string, Waiter>();
  #failure: Error | null = null;

  private constructor(readonly who: string) {}

  /** Opens the stream with the person's session cookie; resolves once its first bytes came. */
  static async open(baseUrl: string, cookie: string, who: string): Promise<EventWatch> {
    const watch = new EventWatch(who);
    const response = await fetch(new URL("/events", baseUrl), { headers: { cookie, accept: "text/event-stream" }, signal: watch.#abort.signal });
    if (response.status !== 200 || !response.body) throw new Error(`GET /events as ${who}: HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`);
    const reader = response.body.getReader();
    const first = await reader.read();
    if (first.done) throw new Error(`GET /events as ${who}: the stream ended before it began`);
    void watch.#read(reader, new TextDecoder().decode(first.value, { stream: true }));
    return watch;
  }

  /** When the event `action` (e.g. approval.requested) of `approvalId` arrived: performance.now() then. */
  arrival(action: string, approvalId: string): Promise<number> {
    const key = `${action} ${approvalId}`;
    const at = this.#arrived.get(key);
    if (at !== undefined) {
      this.#arrived.delete(key);
      return Promise.resolve(at);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(key);
        reject(new Error(`${this.who} heard no ${action} for ${approvalId} within ${EVENT_TIMEOUT_MS} ms`));
      }, EVENT_TIMEOUT_MS);
      this.#waiting.set(key, {
        resolve: (time) => (clearTimeout(timer), resolve(time)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
    });
  }

  close() {
    this.#abort.abort();
  }

  async #read(reader: ReadableStreamDefaultReader<Uint8Array>, start: string) {
    const decoder = new TextDecoder();
    let buffer = start;
    let at = performance.now();
    try {
      for (;;) {
        for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
          this.#event(buffer.slice(0, end), at);
          buffer = buffer.slice(end + 2);
        }
        const chunk = await reader.read();
        at = performance.now();
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
      }
      this.#fail(new Error(`the event stream of ${this.who} ended`));
    } catch (error) {
      this.#fail(this.#abort.signal.aborted ? new Error(`the event stream of ${this.who} was closed`) : (error as Error));
    }
  }

  /** One event block (`id:`, `event:`, `data:` lines); comments and the `retry:` line carry no approval. */
  #event(block: string, at: number) {
    let action: string | undefined;
    let data: string | undefined;
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) action = line.slice(7);
      else if (line.startsWith("data: ")) data = line.slice(6);
    }
    if (action === undefined || data === undefined) return;
    const approvalId: unknown = JSON.parse(data).approval_id;
    if (typeof approvalId !== "string") return;
    const key = `${action} ${approvalId}`;
    const waiter = this.#waiting.get(key);
    if (waiter) {
      this.#waiting.delete(key);
      waiter.resolve(at);
    } else this.#arrived.set(key, at);
  }

  #fail(error: Error) {
    this.#failure = error;
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}
