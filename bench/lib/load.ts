/** A closed-loop load: each client starts its next operation when its last one answers. */

/** Load before the clock starts, so connections are open and code is warm. */
const WARMUP_MS = 300;

/**
 * Runs `clients` loops of `op` for a warm-up and then `seconds`; resolves with the
 * latencies (ms) of the operations that finished inside the window: their count over
 * `seconds` is the throughput, however long each one took.
 */
export async function closedLoop(clients: number, seconds: number, op: (client: number) => Promise<unknown>): Promise<number[]> {
  const start = performance.now() + WARMUP_MS;
  const end = start + seconds * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let sent = performance.now(); sent < end; sent = performance.now()) {
        await op(client);
        const answered = performance.now();
        if (answered >= start && answered < end) latencies.push(answered - sent);
      }
    }),
  );
  return latencies;
}
