/** The MCP server's settings: one table gives parsing, validation and --help. */
import { z } from "zod";
import { identitySettings } from "../controller/settings.ts";
import { httpUrl, list, logLevel, nonNegativeInt, port, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";

const secret = (what: string) => z.string().min(1, `must not be empty: ${what}`).optional();

export const mcpSettings = {
  http: { flag: "http", schema: z.boolean().default(false), boolean: true, help: "Serve MCP over Streamable HTTP at /mcp instead of stdio" },
  port: { flag: "port", env: "MESH_MCP_PORT", schema: port, fallback: "8089", help: "With --http: port to listen on (0 picks a free one)" },
  host: { flag: "host", env: "MESH_MCP_HOST", schema: z.string().min(1), fallback: "127.0.0.1", help: "With --http: address to listen on" },
  mcpToken: {
    env: "MESH_MCP_TOKEN",
    schema: z.string().min(16, "must be at least 16 characters").optional(),
    help: "With --http: the bearer token MCP clients must send (required when --host is not a loopback address)",
  },
  allowedHosts: { env: "MESH_MCP_ALLOWED_HOSTS", schema: list.default([]), help: "With --http: more host names to accept in Host and Origin, comma-separated (DNS-rebinding guard)" },
  controllerUrl: { flag: "controller-url", env: "CONTROLLER_URL", schema: httpUrl, fallback: "http://localhost:8088", help: "The controller to call" },
  retries: { env: "MESH_RETRY_COUNT", schema: nonNegativeInt(10), fallback: "3", help: "Retries after the first attempt (connection errors, timeouts, 408, 429, 5xx only)" },
  timeoutSeconds: {
    env: "MESH_TIMEOUT_SECS",
    schema: z.coerce.number({ error: "must be a number of seconds" }).positive("must be more than 0").max(600, "must be at most 600"),
    fallback: "30",
    help: "Seconds one attempt may take (a long-poll's wait comes on top)",
  },
  jwt: { env: "MESH_JWT_TOKEN", schema: secret("a JWT"), help: "The token to show the controller" },
  oidcIssuer: { env: "MESH_OIDC_ISSUER", schema: httpUrl.optional(), help: "Instead of a fixed token: the OIDC issuer whose discovery names the token endpoint" },
  tokenUrl: { env: "MESH_TOKEN_URL", schema: httpUrl.optional(), help: "Instead of discovery: the OAuth token endpoint" },
  clientId: { env: "MESH_CLIENT_ID", schema: secret("a client id"), help: "Client credentials: the client id" },
  clientSecret: { env: "MESH_CLIENT_SECRET", schema: secret("a client secret"), help: "Client credentials: the client secret" },
  scope: { env: "MESH_OIDC_SCOPE", schema: z.string().min(1).optional(), help: "Client credentials: the scope to ask for" },
  rolesClaim: identitySettings.rolesClaim,
  logLevel: { flag: "log-level", env: "MESH_LOG_LEVEL", schema: logLevel, fallback: "info", help: "debug, info, warn or error (logs go to stderr)" },
} satisfies SettingsSpec;

export type McpSettings = SettingsOf<typeof mcpSettings>;
