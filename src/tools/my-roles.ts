/**
 * "For my roles": the controller filters by one role at a time, and an agent may hold
 * several. This asks once per role, at the same time, and merges the answers. A wait
 * across several roles ends when the first role finds something; then every role is
 * asked once more, so the answer is complete.
 */
import type { CallOptions, Outcome } from "../lib/controller-client.ts";
import { refuse, type ToolContext, type ToolFailure } from "./tool.ts";

export type RolesAnswer<T> = { ok: true; items: T[]; roles: string[] };

type Ask<T> = (role: string, wait: number | undefined, call: CallOptions) => Promise<Outcome<{ items: T[] }>>;

export async function acrossMyRoles<T>(ctx: ToolContext, role: string | undefined, waitSeconds: number, ask: Ask<T>): Promise<RolesAnswer<T> | ToolFailure> {
  let roles: string[];
  if (role) roles = [role];
  else {
    const me = await ctx.identity();
    if ("message" in me) return { ok: false, refusal: me };
    if (me.roles.length === 0) return refuse("your token grants no roles, so there is nothing addressed to you.", "Pass `role` to look at one role's list, or get a token with a role.", "role");
    roles = me.roles;
  }
  const wait = waitSeconds > 0 ? waitSeconds : undefined;
  if (wait && roles.length > 1) {
    const found = new AbortController();
    const call = { ...ctx.call, signal: AbortSignal.any([ctx.call.signal, found.signal]) };
    const waits = await Promise.all(
      roles.map(async (r) => {
        const outcome = await ask(r, wait, call);
        if (outcome.ok && outcome.value.items.length) found.abort();
        return outcome;
      }),
    );
    // A wait ended because another role found something is not a failure.
    const failed = waits.find((o) => !o.ok && !(o.failure.kind === "cancelled" && found.signal.aborted && !ctx.call.signal.aborted));
    if (failed && !failed.ok) return failed;
    if (!found.signal.aborted) return { ok: true, items: [], roles };
  }
  const outcomes = await Promise.all(roles.map((r) => ask(r, roles.length > 1 ? undefined : wait, ctx.call)));
  const items: T[] = [];
  for (const outcome of outcomes) {
    if (!outcome.ok) return outcome;
    items.push(...outcome.value.items);
  }
  return { ok: true, items, roles };
}
