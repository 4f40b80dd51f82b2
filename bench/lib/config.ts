/**
 * What the bench measures and for how long, from the environment. Every size has
 * bounds and a value outside them stops the run at once, so a typo cannot start a
 * run that never ends. BENCH_QUICK=1 is a smoke run of about two minutes; the
 * defaults take about six.
 */
export const SECTIONS = ["cold-start", "tool-calls", "live-events", "waiters", "throughput", "scale", "memory", "privacy", "timers"] as const;
export type SectionName = (typeof SECTIONS)[number];

export const ENGINES = ["sqlite", "postgres"] as const;
export type EngineName = (typeof ENGINES)[number];

export type BenchConfig = {
  quick: boolean;
  sections: SectionName[];
  engines: EngineName[];
  /** Spawns per server for the cold start median. */
  coldStartRuns: number;
  /** Measured calls per kind (after a tenth as many warm-up calls). */
  calls: number;
  /** Measured approval requests per live-events figure (after a tenth as many warm-up ones). */
  liveSamples: number;
  /** Agents waiting at once in the many-waiters figure, half long-polls and half event streams. */
  waiters: number;
  /** Concurrent HTTP clients, one throughput figure each. */
  clients: number[];
  /** Seconds each throughput figure (and its raw baseline) runs. */
  seconds: number;
  /** Tasks stored at each scale step, ascending. */
  scaleTiers: number[];
  /** Requests per latency figure in the scale table. */
  scaleSamples: number;
  /** Deadlines pending while the timers section measures how late expiries fire and the idle controller's CPU. */
  pendingTimers: number;
  /** A database on the PostgreSQL server where the bench may create and drop its own. */
  postgresUrl: string;
  /** Where the JSON report goes. */
  out: string;
};

type Env = Record<string, string | undefined>;

function list<T extends string>(value: string | undefined, allowed: readonly T[], name: string): T[] {
  if (!value) return [...allowed];
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = items.filter((s) => !allowed.includes(s as T));
  if (unknown.length) throw new Error(`${name}: unknown ${unknown.join(", ")}; choose from ${allowed.join(", ")}`);
  return allowed.filter((a) => items.includes(a));
}

function int(value: string | undefined, fallback: number, min: number, max: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, not ${value}`);
  return n;
}

function ints(value: string | undefined, fallback: number[], min: number, max: number, name: string): number[] {
  if (!value) return fallback;
  const items = value.split(",").map((s) => int(s.trim(), 0, min, max, name));
  return [...new Set(items)].sort((a, b) => a - b);
}

/** The bench sends traffic to this machine only. */
function loopback(url: string, name: string): string {
  const host = new URL(url).hostname;
  if (!/^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/.test(host)) throw new Error(`${name} must point at a loopback address, not ${host}`);
  return url;
}

export function loadConfig(env: Env = process.env): BenchConfig {
  const quick = env.BENCH_QUICK === "1";
  return {
    quick,
    sections: list(env.BENCH_SECTIONS, SECTIONS, "BENCH_SECTIONS"),
    engines: list(env.BENCH_ENGINES, ENGINES, "BENCH_ENGINES"),
    coldStartRuns: int(env.BENCH_COLD_RUNS, quick ? 8 : 40, 3, 500, "BENCH_COLD_RUNS"),
    calls: int(env.BENCH_CALLS, quick ? 200 : 2000, 20, 100_000, "BENCH_CALLS"),
    liveSamples: int(env.BENCH_LIVE_SAMPLES, quick ? 200 : 1000, 20, 100_000, "BENCH_LIVE_SAMPLES"),
    waiters: int(env.BENCH_WAITERS, quick ? 2000 : 10_000, 32, 16_000, "BENCH_WAITERS"),
    clients: ints(env.BENCH_CLIENTS, [1, 8, 64], 1, 256, "BENCH_CLIENTS"),
    seconds: int(env.BENCH_SECONDS, quick ? 2 : 8, 1, 120, "BENCH_SECONDS"),
    scaleTiers: ints(env.BENCH_SCALE, quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000], 10_000, 5_000_000, "BENCH_SCALE"),
    scaleSamples: int(env.BENCH_SCALE_SAMPLES, quick ? 100 : 400, 10, 10_000, "BENCH_SCALE_SAMPLES"),
    pendingTimers: int(env.BENCH_TIMERS, quick ? 2000 : 10_000, 100, 1_000_000, "BENCH_TIMERS"),
    postgresUrl: loopback(env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test", "BENCH_POSTGRES_URL"),
    out: env.BENCH_OUT ?? "bench/results/latest.json",
  };
}
