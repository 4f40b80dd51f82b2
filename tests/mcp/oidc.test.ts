/**
 * The binary with OAuth client credentials instead of a fixed token, against a real
 * controller that trusts a real (test) identity provider.
 */
import { afterEach, expect, test } from "bun:test";
import { startTestController, type TestController } from "../support/controller.ts";
import { startAgent, type Agent } from "./support/agent.ts";
import { startTokenProvider, type ProviderOptions, type TokenProvider } from "./support/token-provider.ts";

const CREDENTIALS = { clientId: "build-bot", clientSecret: "s3cret" };
let provider: TokenProvider;
let controller: TestController;
let agent: Agent;
afterEach(async () => {
  await agent?.close();
  await controller?.stop();
  await provider?.stop();
});

async function start(o: Partial<ProviderOptions>, agentEnv: Record<string, string> = {}) {
  provider = await startTokenProvider({ ...CREDENTIALS, roles: ["builder"], ...o });
  controller = await startTestController({ MESH_OIDC_ISSUER: provider.issuer, MESH_JWT_ALGORITHMS: "RS256" });
  agent = await startAgent({
    CONTROLLER_URL: controller.url,
    MESH_OIDC_ISSUER: provider.issuer,
    MESH_CLIENT_ID: CREDENTIALS.clientId,
    MESH_CLIENT_SECRET: CREDENTIALS.clientSecret,
    ...agentEnv,
  });
}

test("tokens come from the identity provider once and are reused; roles come from them", async () => {
  await start({});
  const sent = await agent.call("send_task", { target: "builder", task: { task_type: "build" } });
  expect(sent.isError).toBeFalsy();
  const inbox = await agent.call("check_inbox", {});
  expect(inbox.structured.tasks[0]).toMatchObject({ task_id: sent.structured.task_id, source: "service-account-build-bot" });
  expect(provider.issued()).toBe(1);
});

test("a token the controller rejects is replaced once, and the call goes through", async () => {
  // The first token is for another audience: the controller answers 401.
  await start({ audiences: ["someone-else", "agent-mesh"] });
  const sent = await agent.call("send_task", { target: "builder", task: { task_type: "build" } });
  expect(sent.isError).toBeFalsy();
  expect(provider.issued()).toBe(2);
});

test("a controller that never accepts the tokens: one renewal, then a clear answer", async () => {
  await start({ audiences: ["someone-else"] });
  const sent = await agent.call("send_task", { target: "builder", task: { task_type: "build" } });
  expect(sent.isError).toBe(true);
  expect(sent.text).toContain('The controller rejected the token: The token\'s "aud" claim is not accepted here');
  expect(sent.text).toContain("MESH_OIDC_ISSUER and MESH_JWT_AUDIENCE");
  expect(provider.issued()).toBe(2);
});

test("wrong client credentials: what the identity provider said", async () => {
  await start({}, { MESH_CLIENT_SECRET: "wrong" });
  const r = await agent.call("fetch_status", { task_id: "x" });
  expect(r.isError).toBe(true);
  expect(r.text).toStartWith("Could not get a token: The identity provider at");
  expect(r.text).toContain("401: invalid_client");
  expect(provider.issued()).toBe(0);
});
