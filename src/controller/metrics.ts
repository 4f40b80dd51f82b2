/** /metrics in Prometheus' text format, with prom-client. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

const COUNT_FOR_MS = 15_000;

export type MetricSources = {
  /** Long-polls and event streams open now. */
  openWaits: () => number;
  /** Requests answered from an Idempotency-Key record instead of doing the work again. */
  replays: () => number;
  /** What the privacy guard masked or refused since start, by kind. */
  privacyFindings: () => ReadonlyMap<string, number>;
  /** Tasks in each state, counted in the database when scraped. */
  tasksByStatus: () => Promise<Record<string, number>>;
  /** What this controller's clocks did since it started: leases lapsed, retries, dead letters, deadlines missed, approvals expired and escalated. */
  timers: () => Record<string, number>;
};

export type Metrics = {
  observe: (method: string, route: string, status: number, seconds: number) => void;
  render: () => Promise<Response>;
};

export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  // Counting is a query over every task: scrapes share one count for a while, and a
  // database that is away leaves the last figures in place rather than failing the scrape.
  let counted: { at: number; counts: Record<string, number> } = { at: 0, counts: {} };
  const taskCounts = async () => {
    if (Date.now() - counted.at < COUNT_FOR_MS) return counted.counts;
    try {
      counted = { at: Date.now(), counts: await sources.tasksByStatus() };
    } catch {
      // keep the previous figures
    }
    return counted.counts;
  };
  collectDefaultMetrics({ register: registry });
  const labelNames = ["method", "route", "status"] as const;
  const requests = new Counter({ name: "mesh_http_requests_total", help: "HTTP requests by route and status", labelNames, registers: [registry] });
  const latency = new Histogram({
    name: "mesh_http_request_duration_seconds",
    help: "HTTP request latency by route and status (long-polls included)",
    labelNames,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  new Gauge({
    name: "mesh_long_polls_open",
    help: "Long-polls and event streams open now",
    registers: [registry],
    collect() {
      this.set(sources.openWaits());
    },
  });
  new Gauge({
    name: "mesh_tasks",
    help: "Tasks stored, by status",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      for (const [status, n] of Object.entries(await taskCounts())) this.set({ status }, n);
    },
  });
  new Counter({
    name: "mesh_idempotent_replays_total",
    help: "Retried requests answered from their Idempotency-Key record",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.replays());
    },
  });
  new Counter({
    name: "mesh_privacy_findings_total",
    help: "Secrets and personal data the privacy guard masked or refused, by kind (never the values)",
    labelNames: ["kind"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [kind, n] of sources.privacyFindings()) this.inc({ kind }, n);
    },
  });
  new Counter({
    name: "mesh_timer_events_total",
    help: "Leases lapsed, retries scheduled, tasks dead-lettered, deadlines missed, approvals expired and escalated, by this controller",
    labelNames: ["event"],
    registers: [registry],
    collect() {
      this.reset();
      for (const [event, n] of Object.entries(sources.timers())) this.inc({ event }, n);
    },
  });
  return {
    observe(method, route, status, seconds) {
      const labels = { method, route, status: String(status) };
      requests.inc(labels);
      latency.observe(labels, seconds);
    },
    async render() {
      return new Response(await registry.metrics(), { headers: { "content-type": registry.contentType } });
    },
  };
}
