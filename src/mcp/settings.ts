/** The MCP server's settings: one table gives parsing, validation and --help. */
import { z } from "zod";
import { clientSettings } from "../client/client-settings.ts";
import { LIMITS } from "../contract/limits.ts";
import { durationBetween, list, logLevel, logLevelSetting, port, positiveInt, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";

/** Sessions and the DNS-rebinding guard, the same for `agent-mesh mcp --http` and the controller's /mcp. */
export const mcpSessionSettings = {
  maxSessions: {
    env: "MESH_MCP_MAX_SESSIONS",
    schema: positiveInt(100_000),
    fallback: "100",
    help: "MCP sessions held at once; past it the longest-idle one (idle 1 min or more) is closed, else a new one is refused",
  },
  allowedHosts: {
    env: "MESH_MCP_ALLOWED_HOSTS",
    schema: list.default([]),
    help: "More host names to accept in Host and Origin at /mcp, comma-separated (DNS-rebinding guard)",
  },
} satisfies SettingsSpec;

/** The same settings, said to apply to --http only. */
const withHttp = <S extends SettingsSpec>(spec: S): S =>
  Object.fromEntries(
    Object.entries(spec).map(([key, setting]) => [
      key,
      { ...setting, help: `With --http: ${/^[A-Z][a-z]/.test(setting.help) ? setting.help[0]!.toLowerCase() + setting.help.slice(1) : setting.help}` },
    ]),
  ) as S;

export const mcpSettings = {
  http: { flag: "http", schema: z.boolean().default(false), boolean: true, help: "Serve MCP over Streamable HTTP at /mcp instead of stdio" },
  port: { flag: "port", env: "MESH_MCP_PORT", schema: port, fallback: "8089", help: "With --http: port to listen on (0 picks a free one)" },
  host: { flag: "host", env: "MESH_MCP_HOST", schema: z.string().min(1), fallback: "127.0.0.1", help: "With --http: address to listen on" },
  mcpToken: {
    env: "MESH_MCP_TOKEN",
    schema: z.string().min(16, "must be at least 16 characters").optional(),
    help: "With --http: the bearer token MCP clients must send (required when --host is not a loopback address)",
  },
  ...withHttp(mcpSessionSettings),
  leaseSeconds: {
    env: "MESH_LEASE_SECONDS",
    schema: durationBetween(LIMITS.leaseSeconds.min, LIMITS.leaseSeconds.max, "a lease").optional(),
    help: "The lease this server asks for when it claims a task (it renews it while the session lives); default the controller's",
  },
  ...clientSettings,
  // Hosts show a stdio server's stderr to their users: only what needs attention, unless asked.
  logLevel: {
    ...logLevelSetting("warn"),
    schema: logLevel.optional(),
    fallback: undefined,
    help: "debug, info, warn or error (logs go to stderr); default warn over stdio, info with --http",
  },
} satisfies SettingsSpec;

export type McpSettings = SettingsOf<typeof mcpSettings>;
