/**
 * The compiled binary answers `initialize` and `tools/list` from what the build took from
 * the server; these answers must be exactly what the server itself says when run from
 * source, for every protocol version a client may ask for. A tool changed without a
 * rebuild, or a negotiation that differs from the SDK's, fails here.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { BINARY } from "../support/controller.ts";

const SOURCE = ["bun", join(import.meta.dir, "../../src/main.ts")];
const ENV = { PATH: process.env.PATH ?? "", CONTROLLER_URL: "http://127.0.0.1:9", MESH_JWT_TOKEN: "a.b.c" };

const line = (message: object) => `${JSON.stringify(message)}\n`;
const initialize = (protocolVersion: string) =>
  line({
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion, capabilities: { elicitation: {} }, clientInfo: { name: "raw", version: "0" } },
  });

/** The frames a server writes for the handshake a host does, keys sorted (the SDK orders them its own way). */
async function handshake(command: string[], protocolVersion: string): Promise<unknown[]> {
  const proc = Bun.spawn([...command, "mcp"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: ENV });
  proc.stdin.write(initialize(protocolVersion));
  proc.stdin.write(line({ jsonrpc: "2.0", method: "notifications/initialized" }));
  proc.stdin.write(line({ jsonrpc: "2.0", id: 2, method: "tools/list" }));
  proc.stdin.write(line({ jsonrpc: "2.0", id: 3, method: "tools/list", params: { cursor: "x" } }));
  proc.stdin.flush();
  let out = "";
  const decoder = new TextDecoder();
  for await (const chunk of proc.stdout) {
    out += decoder.decode(chunk, { stream: true });
    if (out.split("\n").length > 3) break;
  }
  proc.kill();
  const sortedKeys = (_: string, v: unknown) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v);
  const frames = out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l, sortedKeys));
  return frames.sort((a, b) => a.id - b.id);
}

for (const version of ["2025-11-25", "2025-06-18", "2024-11-05", "1999-01-01"]) {
  test(`initialize (asking ${version}) and tools/list: the binary says what the server says`, async () => {
    const [built, live] = await Promise.all([handshake([BINARY], version), handshake(SOURCE, version)]);
    expect(live).toHaveLength(3);
    expect(built).toEqual(live);
  });
}

/** The first line the binary writes after `input`, stdin left open: nothing else arrives to wake it. */
async function firstAnswer(input: string): Promise<any> {
  const proc = Bun.spawn([BINARY, "mcp"], { stdin: "pipe", stdout: "pipe", stderr: "pipe", env: ENV });
  proc.stdin.write(input);
  proc.stdin.flush();
  let out = "";
  for await (const chunk of proc.stdout) {
    out += new TextDecoder().decode(chunk);
    if (out.includes("\n")) break;
  }
  proc.kill();
  return JSON.parse(out.slice(0, out.indexOf("\n")));
}

test("a first message only the server can answer loads it and is answered", async () => {
  expect(await firstAnswer(line({ jsonrpc: "2.0", id: 7, method: "ping" }))).toEqual({ result: {}, jsonrpc: "2.0", id: 7 });
});

test("an oversize first frame loads the server and is answered with an error", async () => {
  const answer = await firstAnswer(`${"x".repeat(5 * 1024 * 1024)}\n`);
  expect(answer).toMatchObject({ id: null, error: { code: -32600 } });
});
