/** The controller's HTTP API as the bench calls it: plain fetch, one caller's token, answers checked. */
export type MeshApi = {
  /** POST /tasks/route with a fresh Idempotency-Key (and `extra` fields, e.g. a deadline); resolves with the new task's id. */
  route: (target: string, extra?: Record<string, unknown>) => Promise<string>;
  /** GET /healthz: the controller's HTTP round trip for a request that does nothing. */
  health: () => Promise<void>;
  /** GET `path` (e.g. /tasks/ID, /tasks?…); resolves with the parsed body. */
  get: (path: string) => Promise<any>;
  /** POST /approvals asking `role` to approve `taskId`; resolves with the new approval's id. */
  requestApproval: (taskId: string, role: string) => Promise<string>;
  /** POST /approvals/ID/decision. */
  decide: (approvalId: string, decision: "approved" | "rejected") => Promise<void>;
};

async function expect(response: Response, status: number, what: string) {
  const text = await response.text();
  if (response.status !== status) throw new Error(`${what}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export function meshApi(baseUrl: string, token: string): MeshApi {
  const authorization = `Bearer ${token}`;
  const routeBody = (target: string, extra: Record<string, unknown> = {}) =>
    JSON.stringify({ target, task: { task_type: "review", description: "bench task", data: { pr: 7 } }, ...extra });
  // With a fresh Idempotency-Key, as the agent's own client sends every POST.
  const post = (path: string, body: string) =>
    fetch(new URL(path, baseUrl), {
      method: "POST",
      headers: { authorization, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
      body,
    });
  return {
    async route(target, extra) {
      return (await expect(await post("/tasks/route", routeBody(target, extra)), 202, "POST /tasks/route")).task_id;
    },
    async health() {
      const response = await fetch(new URL("/healthz", baseUrl));
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`GET /healthz: HTTP ${response.status}`);
    },
    async get(path) {
      return expect(await fetch(new URL(path, baseUrl), { headers: { authorization } }), 200, `GET ${path}`);
    },
    async requestApproval(taskId, role) {
      const body = JSON.stringify({ task_id: taskId, approver_role: role, reason: "bench approval" });
      return (await expect(await post("/approvals", body), 202, "POST /approvals")).approval_id;
    },
    async decide(approvalId, decision) {
      await expect(await post(`/approvals/${approvalId}/decision`, JSON.stringify({ decision })), 200, `POST /approvals/${approvalId}/decision`);
    },
  };
}
