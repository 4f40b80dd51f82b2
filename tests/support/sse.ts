/** Reads a Server-Sent Events stream over real HTTP, event by event. */
export type SseEvent = { id?: string; event?: string; data: any };

export type SseStream = { next: (timeoutMs?: number) => Promise<SseEvent | null>; close: () => void; status: number };

/** `token` null: the caller is someone else, e.g. a person's session cookie in `headers`. */
export async function openSse(url: string, token: string | null, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, {
    headers: { ...(token !== null && { authorization: `Bearer ${token}` }), accept: "text/event-stream", ...headers },
    signal: abort.signal,
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const queue: SseEvent[] = [];
  // A read that outlived a timeout is kept for the next call, so no chunk is lost.
  let pending: ReturnType<typeof reader.read> | null = null;

  async function fill(deadline: number): Promise<boolean> {
    const left = deadline - Date.now();
    if (left <= 0) return false;
    const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), left));
    pending ??= reader.read();
    const chunk = await Promise.race([pending, timeout]);
    if (!chunk) return false;
    pending = null;
    if (chunk.done) return false;
    buffer += decoder.decode(chunk.value, { stream: true });
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { data: undefined };
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const [field, ...rest] = line.split(": ");
        const value = rest.join(": ");
        if (field === "id") event.id = value;
        else if (field === "event") event.event = value;
        else if (field === "data") event.data = JSON.parse(value);
      }
      if (event.data !== undefined) queue.push(event);
    }
    return true;
  }

  return {
    status: res.status,
    async next(timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (queue.length === 0) if (!(await fill(deadline))) return null;
      return queue.shift()!;
    },
    close: () => abort.abort(),
  };
}
