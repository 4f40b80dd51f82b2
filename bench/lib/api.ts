/** The controller's HTTP API as the bench calls it: plain fetch, one caller's token, answers checked. */
export type MeshApi = {
  /** POST /tasks/route with a fresh Idempotency-Key; resolves with the new task's id. */
  route: (target: string) => Promise<string>;
  /** GET `path` (e.g. /tasks/ID, /tasks?…); resolves with the parsed body. */
  get: (path: string) => Promise<any>;
};

async function expect(response: Response, status: number, what: string) {
  const text = await response.text();
  if (response.status !== status) throw new Error(`${what}: HTTP ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

export function meshApi(baseUrl: string, token: string): MeshApi {
  const authorization = `Bearer ${token}`;
  const routeBody = (target: string) => JSON.stringify({ target, task: { task_type: "review", description: "bench task", data: { pr: 7 } } });
  return {
    async route(target) {
      const response = await fetch(new URL("/tasks/route", baseUrl), {
        method: "POST",
        headers: { authorization, "content-type": "application/json", "idempotency-key": crypto.randomUUID() },
        body: routeBody(target),
      });
      return (await expect(response, 202, "POST /tasks/route")).task_id;
    },
    async get(path) {
      return expect(await fetch(new URL(path, baseUrl), { headers: { authorization } }), 200, `GET ${path}`);
    },
  };
}
