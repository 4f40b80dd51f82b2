/** The programs the bench runs: the project's binary, the floor compiled now, the reference server. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BINARY } from "../../tests/support/controller.ts";

export { BINARY };

const REFERENCE_ENTRY = join(import.meta.dir, "../../node_modules/@modelcontextprotocol/server-everything/dist/index.js");

/** The official reference MCP server, started the way its README says: `node dist/index.js stdio`. */
export const REFERENCE = ["node", REFERENCE_ENTRY, "stdio"];

/** `agent-mesh mcp` with no controller behind it (the port is closed on purpose): enough to start and answer initialize. */
export const MESH_MCP_ALONE = { command: [BINARY, "mcp"], env: { CONTROLLER_URL: "http://127.0.0.1:9", MESH_JWT_TOKEN: "a.b.c" } };

/** Compiles the hello floor into `dir` with the options scripts/build.ts uses for agent-mesh. */
export async function compileHello(dir: string): Promise<string> {
  const outfile = join(dir, "hello");
  await Bun.build({
    entrypoints: [join(import.meta.dir, "hello-server.ts")],
    compile: { outfile, autoloadBunfig: false, autoloadTsconfig: false, autoloadPackageJson: false },
    minify: { whitespace: true, syntax: true, identifiers: false },
    bytecode: true,
    format: "esm",
  });
  return outfile;
}

/** Starts `hello http` and reads the URL it prints. */
export async function startHelloHttp(hello: string) {
  const proc = Bun.spawn([hello, "http"], { stdin: "ignore", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  return {
    url: new TextDecoder().decode(value).trim(),
    pid: proc.pid,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

export function checkBinaries() {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run bench (it builds first) or npx bun scripts/build.ts`);
  if (!existsSync(REFERENCE_ENTRY)) throw new Error(`${REFERENCE_ENTRY} is missing: run npm ci`);
}
