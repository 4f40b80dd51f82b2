/**
 * Remote MCP at the controller's /mcp: the official SDK client connects with a bearer
 * token and acts as that token's caller; without one it gets the 401 whose challenge
 * leads to the protected resource metadata (RFC 9728); sessions belong to their
 * caller; the tools say the same as through `agent-mesh mcp` (the compiled binary).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { discoverOAuthProtectedResourceMetadata, extractWWWAuthenticateParams } from "@modelcontextprotocol/sdk/client/auth.js";
import { ElicitRequestSchema, type CallToolResult, type ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { startTestController, type TestController } from "../support/controller.ts";
import { startTestIssuer, type TestIssuer } from "../support/issuer.ts";
import { startAgent } from "./support/agent.ts";
import { initialize } from "./support/http-agent.ts";

async function connect(url: string, token: string, capabilities: ClientCapabilities = {}) {
  const client = new Client({ name: "remote-test", version: "0" }, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  // Listing the tools makes the SDK client check every structuredContent against its outputSchema.
  await client.listTools();
  const call = async (name: string, args: Record<string, unknown> = {}, options?: Parameters<Client["callTool"]>[2]) => {
    const result = (await client.callTool({ name, arguments: args }, undefined, options)) as CallToolResult;
    return { ...result, text: result.content.map((c) => (c.type === "text" ? c.text : "")).join("\n"), structured: result.structuredContent as any };
  };
  return { client, call, sessionId: () => (client.transport as StreamableHTTPClientTransport).sessionId! };
}

describe("with the dev key", () => {
  let controller: TestController;
  let mcp: string;
  beforeAll(async () => {
    controller = await startTestController();
    mcp = new URL("/mcp", controller.url).href;
  });
  afterAll(() => controller.stop());

  test("two identities see two inboxes, each acting as itself", async () => {
    const alice = await connect(mcp, await controller.token("alice", ["reviewer"]));
    const bob = await connect(mcp, await controller.token("bob", ["lead"]));
    const carol = await connect(mcp, await controller.token("carol", ["dev"]));
    const forReviewer = await carol.call("send_task", { target: "reviewer", task: { task_type: "review", description: "For a reviewer" } });
    const forLead = await carol.call("send_task", { target: "lead", task: { task_type: "sign_off", description: "For a lead" } });
    expect(forReviewer.isError).toBeFalsy();
    expect(forReviewer.text).toContain("to role reviewer");

    const inboxOf = async (who: typeof alice) => (await who.call("check_inbox")).structured.tasks.map((t: any) => t.task_id);
    expect(await inboxOf(alice)).toEqual([forReviewer.structured.task_id]);
    expect(await inboxOf(bob)).toEqual([forLead.structured.task_id]);

    // The task records who sent and who claimed it: the callers of the requests, not one shared identity.
    const claimed = await alice.call("claim_task", { task_id: forReviewer.structured.task_id });
    expect(claimed.structured.task).toMatchObject({ source: "carol", claimed_by: "alice" });
    const refused = await bob.call("claim_task", { task_id: forReviewer.structured.task_id });
    expect(refused.isError).toBe(true);
    await Promise.all([alice.client.close(), bob.client.close(), carol.client.close()]);
  });

  test("waits report progress, links lead to this controller's page, and a form reaches the caller's person", async () => {
    const alice = await connect(mcp, await controller.token("alice", ["reviewer"]));
    const lead = await connect(mcp, await controller.token("lena", ["lead"]), { elicitation: {} });
    const carol = await connect(mcp, await controller.token("carol", ["dev"]));
    let started!: () => void;
    const waiting = new Promise<void>((resolve) => (started = resolve));
    const inbox = alice.call("check_inbox", { wait_seconds: 20 }, { onprogress: () => started() });
    await waiting;
    const sent = await carol.call("send_task", { target: "reviewer", task: { task_type: "review", description: "Needs a lead" } });
    expect((await inbox).structured.tasks.map((t: any) => t.task_id)).toEqual([sent.structured.task_id]);
    await alice.call("claim_task", { task_id: sent.structured.task_id });
    const asked = await alice.call("request_approval", { task_id: sent.structured.task_id, approver_role: "lead", reason: "Ready?" });
    const approvalId = asked.structured.approval_id;
    expect(asked.text).toContain(`a person decides it at ${new URL(`/?approval=${approvalId}`, controller.url).href}`);

    lead.client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { decision: "approve", comment: "Go" } }));
    const decided = await lead.call("ask_person_to_decide", { approval_id: approvalId });
    expect(decided.structured.approval).toMatchObject({ status: "approved", decided_by: "lena", comments: "Go" });
    await Promise.all([alice.client.close(), lead.client.close(), carol.client.close()]);
  });

  test("without a token: a 401 whose challenge names the resource metadata, which the SDK reads", async () => {
    const res = await initialize(mcp);
    expect(res.status).toBe(401);
    const challenge = res.headers.get("www-authenticate")!;
    expect(challenge).toStartWith("Bearer ");
    expect(challenge).not.toContain("invalid_token");
    const { resourceMetadataUrl } = extractWWWAuthenticateParams(res);
    expect(resourceMetadataUrl?.href).toBe(new URL("/.well-known/oauth-protected-resource", controller.url).href);
    const metadata = await discoverOAuthProtectedResourceMetadata(mcp, { resourceMetadataUrl });
    expect(metadata).toMatchObject({ resource: mcp, bearer_methods_supported: ["header"] });
    // Where RFC 9728 puts the metadata of a resource with a path, for clients that look before they are told.
    expect(await discoverOAuthProtectedResourceMetadata(mcp)).toEqual(metadata);

    const bad = await initialize(mcp, { authorization: "Bearer not.a.jwt" });
    expect(bad.status).toBe(401);
    expect(extractWWWAuthenticateParams(bad)).toMatchObject({ error: "invalid_token", resourceMetadataUrl });
  });

  test("a token is checked for this resource's audience", async () => {
    const { mintDevToken, loadOrCreateDevKey } = await import("../../src/controller/dev-keys.ts");
    const key = await loadOrCreateDevKey(controller.dataDir);
    const minted = (audience: string) => mintDevToken(key, { subject: "dora", roles: ["dev"], ttlSeconds: 300, audience, rolesClaim: "realm_access.roles" });
    const elsewhere = await initialize(mcp, { authorization: `Bearer ${await minted("https://other.example.com/mcp")}` });
    expect(elsewhere.status).toBe(401);
    expect(extractWWWAuthenticateParams(elsewhere).error).toBe("invalid_token");
    // A token for the /mcp resource itself (RFC 8707) is accepted, and so is one for the controller's audience.
    const forMcp = await connect(mcp, await minted(mcp));
    expect((await forMcp.call("check_inbox")).isError).toBeFalsy();
    await forMcp.client.close();
    // Here only: the API asks for its own audience.
    expect((await controller.api(await minted(mcp), "GET", "/me")).status).toBe(401);
  });

  test("a session belongs to the caller who opened it", async () => {
    const alice = await connect(mcp, await controller.token("alice", ["reviewer"]));
    const ping = (token: string) =>
      fetch(mcp, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "mcp-session-id": alice.sessionId(),
          "mcp-protocol-version": "2025-11-25",
          authorization: `Bearer ${token}`,
        },
        body: '{"jsonrpc":"2.0","id":9,"method":"ping"}',
      });
    const stranger = await ping(await controller.token("mallory", ["reviewer"]));
    expect(stranger.status).toBe(403);
    expect((await stranger.json()).error.message).toContain("belongs to another caller");
    // The same caller with a fresh token keeps its session.
    expect((await ping(await controller.token("alice", ["reviewer"]))).status).toBe(200);
    await alice.client.close();
  });

  test("a Host or Origin that is not this controller is refused (DNS rebinding)", async () => {
    const token = await controller.token("alice", ["reviewer"]);
    const host = await initialize(mcp, { authorization: `Bearer ${token}`, host: "evil.example.com" });
    expect(host.status).toBe(403);
    expect((await host.json()).error.message).toContain("MESH_MCP_ALLOWED_HOSTS");
    expect((await initialize(mcp, { authorization: `Bearer ${token}`, origin: "http://evil.example.com" })).status).toBe(403);
  });

  test("a tool says the same through /mcp as through agent-mesh mcp, and a repeated key makes one task", async () => {
    const token = await controller.token("erin", ["dev"]);
    const remote = await connect(mcp, token);
    const local = await startAgent({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: token });
    const words = (text: string) => text.replace(/[0-9a-f]{32}/g, "TRACE");
    const missing = { task_id: "no-such-task" };
    const [overHttp, inProcess] = [await local.call("claim_task", missing), await remote.call("claim_task", missing)];
    expect(inProcess.isError).toBe(true);
    expect(words(inProcess.text)).toBe(words(overHttp.text));
    const tooLong = { target: "x".repeat(129), task: { task_type: "t" } };
    expect(words((await remote.call("send_task", tooLong)).text)).toBe(words((await local.call("send_task", tooLong)).text));

    const args = { target: "reviewer", task: { task_type: "once" }, idempotency_key: crypto.randomUUID() };
    const [first, again] = [await remote.call("send_task", args), await remote.call("send_task", args)];
    expect(again.structured.task_id).toBe(first.structured.task_id);
    const changed = await remote.call("send_task", { ...args, task: { task_type: "other" } });
    expect(words(changed.text)).toBe(words((await local.call("send_task", { ...args, task: { task_type: "other" } })).text));
    await Promise.all([remote.client.close(), local.close()]);
  });
});

describe("with an identity provider", () => {
  let issuer: TestIssuer;
  let controller: TestController;
  beforeAll(async () => {
    issuer = await startTestIssuer();
    controller = await startTestController({ MESH_OIDC_ISSUER: issuer.issuer, MESH_PUBLIC_URL: "https://mesh.example.com" });
  });
  afterAll(async () => {
    await controller.stop();
    await issuer.stop();
  });

  test("the resource metadata names the issuer and the public address; its tokens work at /mcp", async () => {
    const res = await fetch(new URL("/.well-known/oauth-protected-resource", controller.url));
    expect(await res.json()).toEqual({
      resource: "https://mesh.example.com/mcp",
      authorization_servers: [issuer.issuer],
      bearer_methods_supported: ["header"],
      resource_name: "Agent Mesh",
    });
    const unauthorized = await initialize(new URL("/mcp", controller.url).href);
    expect(extractWWWAuthenticateParams(unauthorized).resourceMetadataUrl?.href).toBe("https://mesh.example.com/.well-known/oauth-protected-resource");
    const fred = await connect(new URL("/mcp", controller.url).href, await issuer.sign({ sub: "fred", roles: ["ops"] }));
    expect((await fred.call("send_task", { target: "ops", task: { task_type: "check" } })).text).toContain("to role ops");
    expect((await fred.call("check_inbox")).structured.tasks).toHaveLength(1);
    await fred.client.close();
  });
});

test("a caller's tool call that waits longer than MESH_ANONYMOUS_IDLE keeps its connection: /mcp is a verified caller's", async () => {
  const controller = await startTestController({ MESH_ANONYMOUS_IDLE: "1s" });
  try {
    const dana = await connect(new URL("/mcp", controller.url).href, await controller.token("dana", ["quiet"]));
    const r = await dana.call("check_inbox", { wait_seconds: 3 });
    expect(r.isError).toBeFalsy();
    expect(r.text).toContain("after waiting 3 s");
    await dana.client.close();
  } finally {
    await controller.stop();
  }
});
