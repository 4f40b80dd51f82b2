/**
 * How a holder keeps a claimed task's lease alive, the same for an MCP session's lease
 * keeper and a worker's task run: renew at a third of the lease the controller granted,
 * and stop when the controller says the lease is gone.
 */
import type { FailureKind } from "./controller-client.ts";

/** The lease as the controller granted it, in whole seconds (at least 1): from the task's change at `grantedAt` to `expiresAt`. */
export const grantedLeaseSeconds = (expiresAt: string, grantedAt: string) => Math.max(1, Math.round((Date.parse(expiresAt) - Date.parse(grantedAt)) / 1000));

/** How often to renew a lease of `leaseSeconds`: two renewals may fail before it lapses. */
export const renewEveryMs = (leaseSeconds: number) => (leaseSeconds * 1000) / 3;

/** A renewal refused this way means the lease is gone (the task moved on, or is no longer the holder's): retrying cannot help. */
export const leaseLost = (kind: FailureKind) => kind === "conflict" || kind === "forbidden" || kind === "not_found";
