/**
 * Where each endpoint of the API is: its method and path, without schemas, so the
 * browser page can call the API by name without bundling zod. src/contract/api.ts
 * adds each endpoint's schemas to these.
 */
export type Method = "GET" | "POST";

export const ENDPOINTS = {
  routeTask: { method: "POST", path: "/tasks/route" },
  whoami: { method: "GET", path: "/me" },
  listTasks: { method: "GET", path: "/tasks" },
  getTask: { method: "GET", path: "/tasks/:id" },
  taskHistory: { method: "GET", path: "/tasks/:id/history" },
  taskApprovals: { method: "GET", path: "/tasks/:id/approvals" },
  claimTask: { method: "POST", path: "/tasks/:id/claim" },
  completeTask: { method: "POST", path: "/tasks/:id/complete" },
  failTask: { method: "POST", path: "/tasks/:id/fail" },
  cancelTask: { method: "POST", path: "/tasks/:id/cancel" },
  heartbeatTask: { method: "POST", path: "/tasks/:id/heartbeat" },
  retryTask: { method: "POST", path: "/tasks/:id/retry" },
  askSender: { method: "POST", path: "/tasks/:id/ask" },
  replyToTask: { method: "POST", path: "/tasks/:id/reply" },
  noteTask: { method: "POST", path: "/tasks/:id/notes" },
  requestApproval: { method: "POST", path: "/approvals" },
  listApprovals: { method: "GET", path: "/approvals" },
  getApproval: { method: "GET", path: "/approvals/:id" },
  decideApproval: { method: "POST", path: "/approvals/:id/decision" },
  events: { method: "GET", path: "/events" },
  listAudit: { method: "GET", path: "/audit" },
  eraseSubject: { method: "POST", path: "/admin/erasures" },
  listRoles: { method: "GET", path: "/roles" },
  reportPresence: { method: "POST", path: "/roles/presence" },
} as const satisfies Record<string, { method: Method; path: string }>;

export type EndpointName = keyof typeof ENDPOINTS;

/** A path with its parameters filled in, each escaped. */
export function pathWith(template: string, params: Record<string, string> = {}): string {
  return template.replace(/:(\w+)/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`${template} needs the path parameter ${name}`);
    return encodeURIComponent(value);
  });
}
