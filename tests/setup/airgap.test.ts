/**
 * The air-gapped install: the compiled binary alone, in a network namespace with only
 * loopback, does everything a first day needs. Where strace is installed, every
 * connect()/sendto() of the whole run is recorded and must go to loopback.
 */
import { afterAll, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../support/controller.ts";

const SCENARIO = join(import.meta.dir, "airgap-scenario.ts");

/**
 * A loopback-only namespace: `unshare -rn` as root or with user namespaces; `sudo -n
 * unshare -n` where unprivileged ones are locked down (Ubuntu 24.04's AppArmor rule,
 * as on GitHub's runners). A new namespace's lo starts down, so it is brought up first.
 */
const inNamespace = (prefix: string[], command: string[]) => [...prefix, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", ...command];
const namespace = [
  ["unshare", "-rn"],
  ["sudo", "-n", "unshare", "-n"],
].find((prefix) => Bun.spawnSync(inNamespace(prefix, ["true"]), { stdout: "ignore", stderr: "ignore" }).exitCode === 0);
if (!namespace) console.warn("airgap test skipped: no loopback-only network namespace here (tried unshare -rn and sudo -n unshare -n, with iproute2's ip)");
const strace = Bun.which("strace");

const traceDir = tempDir("mesh-airgap-trace-");
afterAll(() => rmSync(traceDir, { recursive: true, force: true }));

test.skipIf(!namespace)("with no network but loopback: controller, token, API call, mcp --help and a task sent over MCP all work", () => {
  const prefix = namespace!;
  // The namespace really is cut off.
  const route = Bun.spawnSync(inNamespace(prefix, ["ip", "route", "get", "1.1.1.1"]));
  expect(route.exitCode).not.toBe(0);
  expect(route.stderr.toString()).toContain("unreachable");

  const trace = strace ? [strace, "-f", "-qq", "--seccomp-bpf", "-e", "trace=connect,sendto,sendmsg", "-ff", "-o", join(traceDir, "net")] : [];
  const run = Bun.spawnSync(inNamespace(prefix, [...trace, process.execPath, SCENARIO]), { cwd: join(import.meta.dir, "../..") });
  const stderr = run.stderr.toString();
  expect(run.exitCode, stderr).toBe(0);
  const result = JSON.parse(run.stdout.toString().trim().split("\n").at(-1)!);

  expect(result.routed).toBe(202);
  expect(result.mcpHelp.code).toBe(0);
  expect(result.mcpHelp.stdout).toContain("CONTROLLER_URL");
  expect(result.sentOverMcp).toMatchObject({ isError: false, fetched: 200, description: "sent over MCP" });

  if (!strace) return console.warn("airgap test: strace not found, so connect() calls were not audited");
  const traced = readdirSync(traceDir)
    .map((f) => readFileSync(join(traceDir, f), "utf8"))
    .join("\n");
  const peers = [...traced.matchAll(/sin6?_port=htons\((\d+)\).*?(?:inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)")/g)].map(
    (m) => `${m[2] ?? m[3]} port ${m[1]}`,
  );
  expect(peers.length).toBeGreaterThan(0);
  // Only the controller on 127.0.0.1 or ::1; a DNS query (port 53, even to a local resolver) counts as reaching out.
  expect(peers.filter((peer) => !/^(127\.0\.0\.1|::1) port (?!53$)\d+$/.test(peer))).toEqual([]);
});
