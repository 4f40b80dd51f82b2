/** Latency samples, summarised the same way everywhere. */
export type Summary = { n: number; p50: number; p95: number; p99: number; max: number; mean: number; min: number };

/** The q-quantile of sorted values (nearest rank). */
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

export function summarize(samples: number[]): Summary {
  if (!samples.length) throw new Error("no samples to summarize");
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1)!,
    mean: sorted.reduce((sum, x) => sum + x, 0) / sorted.length,
    min: sorted[0]!,
  };
}

/** Milliseconds `work` took, measured with the monotonic clock. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}
