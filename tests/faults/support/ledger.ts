/**
 * The bookkeeping of a send_task load: every call carries a unique marker in its task
 * data; afterwards the tasks the controller holds are matched to the calls by marker.
 * A success must be stored exactly once, under the task id the call was given; a
 * failure must say clearly what happened and may be stored at most once (its last
 * attempt can have reached the controller); nothing may be stored that no call asked for.
 */
import type { McpAgent } from "./processes.ts";

export type Sent = {
  marker: string;
  agent: number;
  ok: boolean;
  taskId?: string;
  /** The tool's text (or the exception, if the call threw). */
  text: string;
  thrown: boolean;
  startedAt: number;
  endedAt: number;
};

export type Stored = { task_id: string; marker: unknown };

export type Verdict = {
  calls: number;
  succeeded: number;
  failed: number;
  stored: number;
  /** Markers stored more than once. */
  duplicates: string[];
  /** Successful calls whose task is not there. */
  lost: string[];
  /** Successful calls whose stored task has another id than the one they were given. */
  mismatched: string[];
  /** Stored tasks no call asked for. */
  ghosts: string[];
  /** Failed calls whose task was stored anyway (allowed, at most once). */
  failedButStored: number;
  /** Failed calls without a clear isError text (or that threw). */
  unclear: string[];
};

/** What a failed tool call's text must hold: what happened, what to do, and the trace id. */
export const isClearFailure = (s: Sent) => !s.thrown && /What to do: /.test(s.text) && /\nTrace id: \S+/.test(s.text);

export function reconcile(calls: Sent[], stored: Stored[]): Verdict {
  const byMarker = new Map<string, string[]>();
  const known = new Set(calls.map((c) => c.marker));
  const ghosts: string[] = [];
  for (const t of stored) {
    if (typeof t.marker !== "string" || !known.has(t.marker)) {
      ghosts.push(`${t.task_id} (marker ${JSON.stringify(t.marker)})`);
      continue;
    }
    byMarker.set(t.marker, [...(byMarker.get(t.marker) ?? []), t.task_id]);
  }
  const succeeded = calls.filter((c) => c.ok);
  const failed = calls.filter((c) => !c.ok);
  return {
    calls: calls.length,
    succeeded: succeeded.length,
    failed: failed.length,
    stored: stored.length,
    duplicates: [...byMarker].filter(([, ids]) => ids.length > 1).map(([m, ids]) => `${m}: ${ids.join(", ")}`),
    lost: succeeded.filter((c) => !byMarker.has(c.marker)).map((c) => `${c.marker} (${c.taskId})`),
    mismatched: succeeded
      .filter((c) => byMarker.has(c.marker) && !byMarker.get(c.marker)!.includes(c.taskId!))
      .map((c) => `${c.marker}: told ${c.taskId}, stored ${byMarker.get(c.marker)}`),
    ghosts,
    failedButStored: failed.filter((c) => byMarker.has(c.marker)).length,
    unclear: failed.filter((c) => !isClearFailure(c)).map((c) => `${c.marker}: ${c.text.slice(0, 300)}`),
  };
}

/** The verdict with only the counts, for a one-line summary. */
export const figures = (v: Verdict) => ({
  calls: v.calls,
  succeeded: v.succeeded,
  failed: v.failed,
  stored: v.stored,
  duplicates: v.duplicates.length,
  lost: v.lost.length,
  mismatched: v.mismatched.length,
  ghosts: v.ghosts.length,
  failedButStored: v.failedButStored,
  unclear: v.unclear.length,
});

export const probeTask = (marker: string) => ({ task_type: "fault_probe", description: `probe ${marker}`, data: { marker } });

export type LoadOptions = {
  agents: McpAgent[];
  /** Calls each agent has in flight at once. */
  concurrency: number;
  target: string;
  /** Unique per load, so markers never collide across tests. */
  run: string;
  /** Keep going while this says so; called before each call with the number started so far. */
  more: (started: number) => boolean;
  /** Starts no call after this many seconds, whatever `more` says (default 240): a runaway load ends. */
  maxSeconds?: number;
  /** Told of every finished call, e.g. to trigger a fault after some successes. */
  onDone?: (s: Sent, all: Sent[]) => void;
};

/** Runs send_task calls through the agents until `more` says stop; resolves with every call's outcome. */
export async function sendLoad(o: LoadOptions): Promise<Sent[]> {
  const all: Sent[] = [];
  let started = 0;
  const deadline = performance.now() + (o.maxSeconds ?? 240) * 1000;
  await Promise.all(
    o.agents.flatMap((agent, a) =>
      Array.from({ length: o.concurrency }, async () => {
        // A closed or lost MCP server ends its loops (a test then fails on it) instead of spinning.
        while (o.more(started) && !agent.closed() && performance.now() < deadline) {
          const marker = `${o.run}-${started++}`;
          const startedAt = performance.now();
          const r = await agent.call("send_task", { target: o.target, task: probeTask(marker) });
          const s: Sent =
            "thrown" in r
              ? { marker, agent: a, ok: false, text: String(r.thrown), thrown: true, startedAt, endedAt: performance.now() }
              : {
                  marker,
                  agent: a,
                  ok: !r.isError,
                  taskId: r.isError ? undefined : (r.structuredContent as { task_id: string }).task_id,
                  text: r.text,
                  thrown: false,
                  startedAt,
                  endedAt: performance.now(),
                };
          all.push(s);
          o.onDone?.(s, all);
        }
      }),
    ),
  );
  return all;
}

/** Every task for `target`, as an admin reads them through the API, oldest first. */
export async function storedTasks(controllerUrl: string, adminToken: string, target: string): Promise<Stored[]> {
  const out: Stored[] = [];
  let cursor = "";
  for (;;) {
    const res = await fetch(`${controllerUrl}/tasks?target=${encodeURIComponent(target)}&limit=200${cursor ? `&cursor=${cursor}` : ""}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    if (res.status !== 200) throw new Error(`listing tasks: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { items: { task_id: string; data: { marker?: unknown } }[]; next_cursor: string | null };
    out.push(...page.items.map((t) => ({ task_id: t.task_id, marker: t.data.marker })));
    if (page.items.length < 200 || !page.next_cursor) return out;
    cursor = page.next_cursor;
  }
}

/** The number of `task.created` audit rows by `actor`, read through the API. */
export async function createdAuditRows(controllerUrl: string, adminToken: string, actor: string): Promise<number> {
  let n = 0;
  let cursor = "";
  for (;;) {
    const res = await fetch(`${controllerUrl}/audit?action=task.created&actor=${encodeURIComponent(actor)}&limit=200${cursor ? `&cursor=${cursor}` : ""}`, {
      headers: { authorization: `Bearer ${adminToken}` },
    });
    if (res.status !== 200) throw new Error(`reading the audit: ${res.status} ${await res.text()}`);
    const page = (await res.json()) as { items: unknown[]; next_cursor: string | null };
    n += page.items.length;
    if (!page.next_cursor) return n;
    cursor = page.next_cursor;
  }
}

/** A counter from the controller's /metrics, summed over the series whose labels include `labels`. */
export async function metric(controllerUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${controllerUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^(\w+)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (m[2] ?? "").includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}

/** The env var `name` as a positive integer, or `fallback`. */
export function envCount(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, not ${raw}`);
  return n;
}
