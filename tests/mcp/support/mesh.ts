/** A real controller and agents (the compiled binary over stdio) that act as people with roles. */
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { importJWK, SignJWT } from "jose";
import { DEV_ISSUER, loadOrCreateDevKey } from "../../../src/controller/dev-keys.ts";
import { startTestController, type TestController } from "../../support/controller.ts";
import { startAgent, type Agent } from "./agent.ts";

export type Mesh = {
  controller: TestController;
  /** Starts the binary as `sub` holding `roles`, its client declaring `capabilities`; stopped with the mesh. */
  agent: (sub: string, roles: string[], capabilities?: ClientCapabilities) => Promise<Agent>;
  /** Starts the binary with exactly this environment (plus PATH and HOME). */
  agentWith: (env: Record<string, string>) => Promise<Agent>;
  /** A token signed by the controller's key that expired a while ago. */
  expiredToken: (sub: string) => Promise<string>;
  /** Every task the controller holds, as an admin sees them. */
  allTasks: () => Promise<any[]>;
  stop: () => Promise<void>;
};

export async function startMesh(controllerEnv: Record<string, string> = {}): Promise<Mesh> {
  const controller = await startTestController(controllerEnv);
  const agents: Agent[] = [];
  const start = async (env: Record<string, string>, capabilities?: ClientCapabilities) => {
    const a = await startAgent(env, capabilities);
    agents.push(a);
    return a;
  };
  return {
    controller,
    agentWith: (env) => start(env),
    agent: async (sub, roles, capabilities) => start({ CONTROLLER_URL: controller.url, MESH_JWT_TOKEN: await controller.token(sub, roles) }, capabilities),
    async expiredToken(sub) {
      const key = await loadOrCreateDevKey(controller.dataDir);
      const hourAgo = Math.floor(Date.now() / 1000) - 3600;
      return new SignJWT({ realm_access: { roles: ["dev"] } })
        .setProtectedHeader({ alg: "ES256", kid: key.privateJwk.kid! })
        .setIssuer(DEV_ISSUER)
        .setAudience("agent-mesh")
        .setSubject(sub)
        .setIssuedAt(hourAgo - 60)
        .setExpirationTime(hourAgo)
        .sign(await importJWK(key.privateJwk, "ES256"));
    },
    async allTasks() {
      const r = await controller.api(await controller.token("auditor", ["admin"]), "GET", "/tasks?limit=200");
      return r.body.items;
    },
    async stop() {
      await Promise.all(agents.map((a) => a.close()));
      await controller.stop();
    },
  };
}
