/** Cursor: the user-wide ~/.cursor/mcp.json (a project's own is .cursor/mcp.json, via --config); a remote server is `url` and `headers`. */
import { homedir } from "node:os";
import { join } from "node:path";
import type { SetupClient } from "./client.ts";
import { jsonFormat } from "./formats.ts";
import { mcpServersEntry } from "./mcp-json.ts";

export const cursor: SetupClient = {
  title: "Cursor",
  defaultPath: () => join(homedir(), ".cursor", "mcp.json"),
  section: "mcpServers",
  about: "your mcp.json for every project; --config .cursor/mcp.json adds it to one project",
  format: jsonFormat,
  entry: (server) => mcpServersEntry(server),
  advice: (server) => [`Restart Cursor (or reload its MCP servers), then check that ${server.name} is listed and switched on in its MCP settings.`],
};
