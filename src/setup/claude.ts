/**
 * Claude Code: a project's .mcp.json (`claude mcp add --scope project` writes the
 * same: mcpServers.NAME with type "stdio", command, args, env). The user-wide list is
 * `mcpServers` in ~/.claude.json, reachable with --config.
 */
import { basename, join } from "node:path";
import type { SetupClient } from "./client.ts";
import { jsonFormat } from "./formats.ts";
import { mcpServersEntry } from "./mcp-json.ts";

export const claude: SetupClient = {
  title: "Claude Code",
  defaultPath: () => join(process.cwd(), ".mcp.json"),
  section: "mcpServers",
  about: "this project's .mcp.json; --config ~/.claude.json adds it for all your projects",
  format: jsonFormat,
  entry: (server) => mcpServersEntry(server, { type: "stdio" }),
  // ~/.claude.json is the person's own list, for every project; a project's .mcp.json is shared, and asked about.
  advice: (server, path) =>
    basename(path) === ".claude.json"
      ? ["Claude Code starts the servers in ~/.claude.json in every project: start a new session, and /mcp shows it."]
      : [
          "Claude Code asks once before it starts a project's servers; /mcp shows them.",
          ...(server.env.MESH_JWT_TOKEN !== undefined && !server.env.MESH_JWT_TOKEN.startsWith("${")
            ? [
                "A project's .mcp.json is usually committed: to keep the token out of it, pass --token '${MESH_JWT_TOKEN}' and Claude Code fills it in from its environment.",
              ]
            : []),
        ],
};
