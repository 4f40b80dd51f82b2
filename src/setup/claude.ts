/**
 * Claude Code: a project's .mcp.json (`claude mcp add --scope project` writes the
 * same: mcpServers.NAME with type "stdio", command, args, env; or type "http", url and
 * headers, in which Claude Code expands ${VAR}). The user-wide list is `mcpServers` in
 * ~/.claude.json, reachable with --config.
 */
import { basename, join } from "node:path";
import type { SetupClient } from "./client.ts";
import { jsonFormat } from "./formats.ts";
import { mcpServersEntry } from "./mcp-json.ts";
import type { MeshServer } from "./server.ts";

const tokenOf = (server: MeshServer) => (server.remote ? server.remote.token : server.env.MESH_JWT_TOKEN);

export const claude: SetupClient = {
  title: "Claude Code",
  defaultPath: () => join(process.cwd(), ".mcp.json"),
  section: "mcpServers",
  about: "this project's .mcp.json; --config ~/.claude.json adds it for all your projects",
  format: jsonFormat,
  entry: (server) => mcpServersEntry(server, { started: { type: "stdio" }, remote: { type: "http" } }),
  // ~/.claude.json is the person's own list, for every project; a project's .mcp.json is shared, and asked about.
  advice: (server, path) =>
    basename(path) === ".claude.json"
      ? ["Claude Code starts the servers in ~/.claude.json in every project: start a new session, and /mcp shows it."]
      : [
          "Claude Code asks once before it starts a project's servers; /mcp shows them.",
          ...(tokenOf(server) !== undefined && !tokenOf(server)!.startsWith("${")
            ? [
                "A project's .mcp.json is usually committed: to keep the token out of it, pass --token '${MESH_JWT_TOKEN}' and Claude Code fills it in from its environment.",
              ]
            : []),
        ],
};
