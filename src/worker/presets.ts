/**
 * Each agent CLI's headless command line with the mesh's MCP server attached, as this
 * worker's identity. Flags as each CLI's --help says (tests/worker/presets.test.ts checks
 * them against the installed CLIs): Claude Code 2.x, Codex 0.x (`codex exec`), Gemini
 * CLI, Goose (`goose run`, crates/goose-cli/src/cli.rs). The credential reaches the
 * server through the environment, never the command line, where `ps` would show it.
 */
import { lastJsonObject } from "./output.ts";

export const PRESET_NAMES = ["goose", "claude", "codex", "gemini"] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/** The mesh server the agent starts: this program's `mcp` command, and the environment variables that carry the credential. */
export type MeshServer = { command: string; args: string[]; envNames: string[] };

export type Preset = {
  /** The command line; `{prompt}` becomes the task's prompt. `extra` is what the user put after `--`. */
  command: (server: MeshServer, extra: string[]) => string[];
  /** Files the CLI reads from its working folder, by relative path. */
  files?: (server: MeshServer) => Record<string, string>;
  /** The result in what the CLI printed on stdout, if it is there. */
  result: (stdout: string) => Record<string, unknown> | undefined;
};

export const MESH_SERVER_NAME = "agent-mesh";

/** The tools a Claude Code run may use without asking: the mesh's (`mcp__<server>` allows all of one server's), plus the user's. */
const claudeTools = (extra: string[]) => [`mcp__${MESH_SERVER_NAME}`, ...extra];

/** The result inside an agent's final text: its last JSON line, else the text itself. */
const fromText = (text: unknown): Record<string, unknown> | undefined => (typeof text === "string" ? (lastJsonObject(text) ?? { output: text }) : undefined);

/** `${NAME}` for each variable, which Claude Code and Gemini CLI expand in their MCP server configuration. */
const envReferences = (names: string[]) => Object.fromEntries(names.map((n) => [n, `\${${n}}`]));

const toml = (value: unknown) => JSON.stringify(value);

export const PRESETS: Record<PresetName, Preset> = {
  claude: {
    command: (server, extra) => [
      "claude",
      "-p",
      "{prompt}",
      "--output-format",
      "json",
      "--mcp-config",
      JSON.stringify({ mcpServers: { [MESH_SERVER_NAME]: { command: server.command, args: server.args, env: envReferences(server.envNames) } } }),
      "--strict-mcp-config",
      "--allowedTools",
      claudeTools(extra).join(","),
    ],
    // `--output-format json` prints one object; the agent's answer is its `result`.
    result: (stdout) => fromText(lastJsonObject(stdout)?.result),
  },
  codex: {
    command: (server, extra) => [
      "codex",
      "exec",
      "--json",
      "--skip-git-repo-check",
      "-c",
      `mcp_servers.${MESH_SERVER_NAME}.command=${toml(server.command)}`,
      "-c",
      `mcp_servers.${MESH_SERVER_NAME}.args=${toml(server.args)}`,
      "-c",
      `mcp_servers.${MESH_SERVER_NAME}.env_vars=${toml(server.envNames)}`,
      // Mesh calls run without asking: no one is there to approve them, and an unapproved call is cancelled.
      "-c",
      `mcp_servers.${MESH_SERVER_NAME}.default_tools_approval_mode="approve"`,
      // A long-poll (request_approval waiting for a person) outlasts the default tool timeout.
      "-c",
      `mcp_servers.${MESH_SERVER_NAME}.tool_timeout_sec=600`,
      ...extra,
      "{prompt}",
    ],
    // `--json` prints JSONL events; the answer is the last agent message's text.
    result: (stdout) => {
      let text: unknown;
      for (const line of stdout.split("\n")) {
        if (!line.includes('"agent_message"')) continue;
        try {
          const event = JSON.parse(line) as { item?: { type?: string; text?: unknown } };
          if (event.item?.type === "agent_message") text = event.item.text;
        } catch {}
      }
      return fromText(text);
    },
  },
  gemini: {
    command: (_server, extra) => [
      "gemini",
      "--output-format",
      "json",
      "--skip-trust",
      "--allowed-mcp-server-names",
      MESH_SERVER_NAME,
      ...extra,
      "-p",
      "{prompt}",
    ],
    // Gemini CLI reads MCP servers from the working folder's settings; `trust` runs their tools without asking.
    files: (server) => ({
      ".gemini/settings.json": JSON.stringify(
        { mcpServers: { [MESH_SERVER_NAME]: { command: server.command, args: server.args, env: envReferences(server.envNames), trust: true } } },
        null,
        2,
      ),
    }),
    // `--output-format json` prints one pretty-printed object; the answer is its `response`.
    result: (stdout) => {
      const start = stdout.search(/^\{/m);
      try {
        return start < 0 ? undefined : fromText((JSON.parse(stdout.slice(start)) as { response?: unknown }).response);
      } catch {
        return undefined;
      }
    },
  },
  goose: {
    // Goose starts the extension with its own environment, which holds the credential.
    command: (server, extra) => [
      "goose",
      "run",
      "--no-session",
      // Only the model's answer on stdout, where the result is read from.
      "--quiet",
      "--with-extension",
      [server.command, ...server.args].map(shellWord).join(" "),
      ...extra,
      "--text",
      "{prompt}",
    ],
    result: (stdout) => fromText(stdout),
  },
};

/** A word as a shell would read it back (Goose splits --with-extension like a shell). */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
