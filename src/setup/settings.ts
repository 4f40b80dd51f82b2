/** `agent-mesh setup`'s settings: one table gives parsing, validation and --help. */
import { z } from "zod";
import { httpUrl, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";

export const setupSettings = {
  write: {
    flag: "write",
    schema: z.boolean().default(false),
    boolean: true,
    help: "Merge the entry into the client's config file (keeping a .bak copy) instead of printing it",
  },
  config: { flag: "config", schema: z.string().min(1).optional(), help: "The config file to change (default: the client's own, listed above)" },
  remote: {
    flag: "remote",
    schema: httpUrl.optional(),
    help: "Connect to the controller's own MCP endpoint (URL/mcp) over HTTP instead of starting agent-mesh; --token goes in a header, or leave it out to sign in by OAuth",
  },
  controllerUrl: { flag: "controller-url", env: "CONTROLLER_URL", schema: httpUrl.optional(), help: "The controller the MCP server calls" },
  token: {
    flag: "token",
    env: "MESH_JWT_TOKEN",
    schema: z.string().min(1, "must not be empty").optional(),
    help: "The token the MCP server shows the controller",
  },
  name: {
    flag: "name",
    // Goose keys an extension by its name lower-cased without spaces; this keeps name and key the same.
    schema: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "must be lower-case letters, digits, - or _"),
    fallback: "agent-mesh",
    help: "The server's name in the client; one per identity, e.g. agent-mesh-reviewer",
  },
} satisfies SettingsSpec;

export type SetupSettings = SettingsOf<typeof setupSettings>;
