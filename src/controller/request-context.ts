import type { Caller } from "./policy.ts";

/** What the service needs to know about one request besides its body. */
export type RequestContext = {
  readonly caller: Caller;
  readonly traceId: string;
  readonly idempotencyKey?: string;
  /** Aborted when the client goes away; long-polls stop waiting. */
  readonly signal?: AbortSignal;
  /** When the token or session this request came with runs out (epoch ms): long-polls and event streams end then. */
  readonly expiresAt?: number;
  /** For a person's browser session: whether it still holds, so a long event stream ends when it does not. */
  readonly stillSignedIn?: () => Promise<boolean>;
};
