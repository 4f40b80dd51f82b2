/**
 * How a client of the controller (an agent's MCP server, a person's terminal) finds
 * it and proves who it is. One table for both, so the variables mean the same.
 */
import { z } from "zod";
import { httpUrl, nonNegativeInt, seconds, SettingsError, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";
import { tokenSourceFrom, type TokenSource } from "./token-source.ts";

/** Default total time for one call, retries included: under the 60 s many MCP hosts allow a tool call. */
export const DEFAULT_BUDGET_SECONDS = 45;

const secret = (what: string) => z.string().min(1, `must not be empty: ${what}`).optional();

export const clientSettings = {
  controllerUrl: { flag: "controller-url", env: "CONTROLLER_URL", schema: httpUrl, fallback: "http://localhost:8088", help: "The controller to call" },
  retries: {
    env: "MESH_RETRY_COUNT",
    schema: nonNegativeInt(10),
    fallback: "3",
    help: "Retries after the first attempt (connection errors, timeouts, 408, 429, 5xx only)",
  },
  timeoutSeconds: { env: "MESH_TIMEOUT_SECS", schema: seconds(600), fallback: "30", help: "Seconds one attempt may take (a long-poll's wait comes on top)" },
  budgetSeconds: {
    env: "MESH_CALL_BUDGET_SECS",
    schema: seconds(3600),
    fallback: String(DEFAULT_BUDGET_SECONDS),
    help: "Seconds one call may take in all, retries included (a long-poll's wait comes on top); keep it under the host's tool-call timeout",
  },
  jwt: {
    env: "MESH_JWT_TOKEN",
    schema: secret("a JWT").refine((t) => t === undefined || !/^bearer\s/i.test(t), 'give the token alone, without "Bearer "'),
    secret: true,
    help: "The token to show the controller",
  },
  oidcIssuer: {
    env: "MESH_OIDC_ISSUER",
    schema: httpUrl.optional(),
    help: "Instead of a fixed token: the OIDC issuer whose discovery names the token endpoint",
  },
  tokenUrl: { env: "MESH_TOKEN_URL", schema: httpUrl.optional(), help: "Instead of discovery: the OAuth token endpoint" },
  clientId: { env: "MESH_CLIENT_ID", schema: secret("a client id"), help: "Client credentials: the client id" },
  clientSecret: { env: "MESH_CLIENT_SECRET", schema: secret("a client secret"), help: "Client credentials: the client secret", secret: true },
  scope: { env: "MESH_OIDC_SCOPE", schema: z.string().min(1).optional(), help: "Client credentials: the scope to ask for" },
} satisfies SettingsSpec;

export type ClientSettings = SettingsOf<typeof clientSettings>;

/** Where the client's tokens come from; a missing or contradictory credential is a settings error. */
export function credentialsFrom(settings: ClientSettings): TokenSource {
  try {
    return tokenSourceFrom(settings);
  } catch (error) {
    throw new SettingsError((error as Error).message);
  }
}
