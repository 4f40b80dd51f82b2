/**
 * What every client is told to start: this binary, `mcp`, and the two variables it
 * needs. A value not given is written as a placeholder that says what belongs there.
 */
import { realpathSync } from "node:fs";
import type { SetupSettings } from "./settings.ts";

export type MeshServer = {
  name: string;
  command: string;
  args: string[];
  /** undefined: not given, so a placeholder (or what the file already holds) goes in. None for a remote server. */
  env: Partial<Record<MeshEnvName, string | undefined>>;
  /** The controller's own /mcp, which the client reaches over HTTP instead of starting anything. */
  remote?: RemoteServer;
};

/** The remote form: the /mcp URL, and the token to send as a header (without one, the client signs in by OAuth). */
export type RemoteServer = { url: string; token?: string };

export const MESH_ENV = {
  CONTROLLER_URL: { placeholder: "<controller URL, e.g. http://localhost:8088>", howTo: "the controller's address; or rerun with --controller-url URL" },
  MESH_JWT_TOKEN: { placeholder: "<token from: agent-mesh token --sub NAME --role ROLE>", howTo: "a token for this agent; or rerun with --token TOKEN" },
} as const;

export type MeshEnvName = keyof typeof MESH_ENV;

export const isPlaceholder = (value: unknown) => Object.values(MESH_ENV).some((e) => e.placeholder === value);

export function meshServer(settings: SetupSettings): MeshServer {
  if (settings.remote)
    return { name: settings.name, command: meshCommand(), args: [], env: {}, remote: { url: mcpUrl(settings.remote), token: settings.token } };
  return {
    name: settings.name,
    command: meshCommand(),
    args: ["mcp"],
    env: { CONTROLLER_URL: settings.controllerUrl, MESH_JWT_TOKEN: settings.token },
  };
}

/** The controller's address with nothing after the host means its /mcp. */
function mcpUrl(given: string): string {
  const url = new URL(given);
  if (url.pathname === "/" && !given.endsWith("/mcp")) url.pathname = "/mcp";
  return url.href;
}

/** The header that carries the token, for clients that take headers. */
export const bearerHeaders = (remote: RemoteServer) => (remote.token === undefined ? {} : { headers: { Authorization: `Bearer ${remote.token}` } });

/**
 * The compiled binary names itself. A PATH entry that is this same file (Homebrew's
 * /opt/homebrew/bin link, say) is preferred: it survives upgrades, the versioned
 * path behind it does not. Run from source, the binary on PATH is all we can name.
 */
function meshCommand(): string {
  const onPath = Bun.which("agent-mesh");
  if (!Bun.isStandaloneExecutable) return onPath ?? "agent-mesh";
  return onPath && realpathSync(onPath) === realpathSync(process.execPath) ? onPath : process.execPath;
}
