/** W3C trace context: read a caller's trace id or make one, so every change can be followed. */
const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
const TRACE_ID = /^[A-Za-z0-9._-]{1,64}$/;

const hex = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");

export const newTraceId = () => hex(16);

/** The trace id a request carries in `traceparent` or `X-Trace-Id`, or a new one. */
export function traceIdOf(headers: Headers): string {
  const parent = TRACEPARENT.exec(headers.get("traceparent")?.trim().toLowerCase() ?? "");
  if (parent && !/^0+$/.test(parent[1]!)) return parent[1]!;
  const given = headers.get("x-trace-id")?.trim();
  return given && TRACE_ID.test(given) ? given : newTraceId();
}

/** A `traceparent` for a new span of `traceId`, when it is a W3C id. */
export const traceparentFor = (traceId: string): string | null => (/^[0-9a-f]{32}$/.test(traceId) ? `00-${traceId}-${hex(8)}-01` : null);
