/**
 * Goose: an `extensions:` entry in its config.yaml. The fields and the file's place
 * follow Goose's source (crates/goose/src/config/extensions.rs: ExtensionEntry is
 * `enabled` plus the flattened ExtensionConfig, keyed by the name lower-cased without
 * spaces; agents/extension.rs: the `stdio` variant's name, description, cmd, args,
 * envs, env_keys, timeout, and the `streamable_http` variant's uri and headers in their place; config/paths.rs: GOOSE_PATH_ROOT, else the XDG config
 * folder on macOS and Linux, %APPDATA%\Block\goose\config on Windows).
 */
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import type { SetupClient } from "./client.ts";
import { bearerHeaders } from "./server.ts";
import { yamlFormat } from "./formats.ts";

function gooseConfigPath(): string {
  const env = process.env;
  if (env.GOOSE_PATH_ROOT && isAbsolute(env.GOOSE_PATH_ROOT)) return join(env.GOOSE_PATH_ROOT, "config", "config.yaml");
  if (process.platform === "win32") return join(env.APPDATA ?? join(homedir(), "AppData", "Roaming"), "Block", "goose", "config", "config.yaml");
  const configHome = env.XDG_CONFIG_HOME && isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(configHome, "goose", "config.yaml");
}

const DESCRIPTION = "Agent Mesh: hand tasks to other agents and people, ask for approvals, follow status";
/** Goose's own default; a tool call that long-polls the controller stays well inside it. */
const TIMEOUT = 300;

export const goose: SetupClient = {
  title: "Goose",
  defaultPath: () => gooseConfigPath(),
  section: "extensions",
  about: "Goose's config.yaml (GOOSE_PATH_ROOT or XDG_CONFIG_HOME move it)",
  format: yamlFormat,
  entry: (server) =>
    server.remote
      ? {
          at: ["extensions", server.name],
          fields: {
            enabled: true,
            type: "streamable_http",
            name: server.name,
            description: DESCRIPTION,
            uri: server.remote.url,
            ...bearerHeaders(server.remote),
            env_keys: [],
            timeout: TIMEOUT,
          },
          envField: "envs",
          keep: ["description", "env_keys", "timeout"],
          drop: ["cmd", "args", "envs"],
        }
      : {
          at: ["extensions", server.name],
          fields: {
            enabled: true,
            type: "stdio",
            name: server.name,
            description: DESCRIPTION,
            cmd: server.command,
            args: server.args,
            envs: server.env,
            env_keys: [],
            timeout: TIMEOUT,
          },
          envField: "envs",
          keep: ["description", "env_keys", "timeout"],
          drop: ["uri", "headers"],
          // Goose starts every enabled extension with a session, and one with placeholders dies at start.
          whileIncomplete: {
            fields: { enabled: false },
            note: "Until then the extension is switched off (enabled: false); rerunning with the values switches it on.",
          },
        },
  advice: () => ["Goose reads its config when a session starts: start a new one (goose session) to load the extension."],
};
