/** The release workflow, SHA256SUMS and the Homebrew formula fit together. */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { fillFormula, parseSums } from "../../packaging/homebrew/update-formula.ts";
import { setupRunner } from "./run.ts";

const { scratch } = setupRunner();

const ROOT = join(import.meta.dir, "../..");
const FORMULA = readFileSync(join(ROOT, "packaging/homebrew/agent-mesh.rb"), "utf8");
const SCRIPT = join(ROOT, "packaging/homebrew/update-formula.ts");

/** The files the release attaches, as its build loop names them. */
function releaseAssets(): string[] {
  const workflow = parse(readFileSync(join(ROOT, ".github/workflows/release.yml"), "utf8"));
  const targets: string[] = workflow.jobs.build.strategy.matrix.include.flatMap((m: { targets: string }) => m.targets.split(" "));
  return targets.map((t) => `agent-mesh-${t}${t.startsWith("windows-") ? ".exe" : ""}`);
}

const fakeSums = (assets: string[]) => assets.map((a) => `${new Bun.CryptoHasher("sha256").update(a).digest("hex")}  ${a}`).join("\n");

test("the release builds linux x64/arm64 (glibc and musl), macOS x64/arm64 and Windows x64", () => {
  expect(releaseAssets().sort()).toEqual(
    ["linux-x64", "linux-arm64", "linux-x64-musl", "linux-arm64-musl", "darwin-x64", "darwin-arm64", "windows-x64.exe"].map((t) => `agent-mesh-${t}`).sort(),
  );
});

test("every asset the formula downloads is one the release attaches", () => {
  const downloads = [...FORMULA.matchAll(/url "[^"]*\/([^/"]+)"/g)].map((m) => m[1]!);
  expect(downloads.sort()).toEqual(["agent-mesh-darwin-arm64", "agent-mesh-darwin-x64", "agent-mesh-linux-arm64", "agent-mesh-linux-x64"]);
  for (const asset of downloads) expect(releaseAssets()).toContain(asset);
});

test("update-formula gives each url its own asset's sum, the version and the repository", () => {
  const dir = scratch();
  const sums = fakeSums(releaseAssets());
  writeFileSync(join(dir, "SHA256SUMS"), `${sums}\n`);
  const out = join(dir, "agent-mesh.rb");
  const run = Bun.spawnSync([process.execPath, SCRIPT, "--sums", join(dir, "SHA256SUMS"), "--version", "1.2.3", "--repo", "acme/agent-mesh", "--out", out]);
  expect(run.exitCode, run.stderr.toString()).toBe(0);
  const filled = readFileSync(out, "utf8");

  expect(filled).toContain('version "1.2.3"');
  expect(filled).toContain('homepage "https://github.com/acme/agent-mesh"');
  const bySum = parseSums(sums);
  const pairs = [
    ...filled.matchAll(/url "https:\/\/github\.com\/acme\/agent-mesh\/releases\/download\/v#\{version\}\/([^"]+)"\s*\n\s*sha256 "([0-9a-f]{64})"/g),
  ];
  expect(pairs).toHaveLength(4);
  for (const [, asset, sum] of pairs) expect(sum).toBe(bySum.get(asset!)!);
  // Only those lines changed.
  expect(filled.split("\n").length).toBe(FORMULA.split("\n").length);
});

test("a SHA256SUMS without an asset the formula needs is refused by name", () => {
  const sums = parseSums(fakeSums(releaseAssets().filter((a) => a !== "agent-mesh-linux-arm64")));
  expect(() => fillFormula(FORMULA, { sums, version: "1.0.0" })).toThrow("SHA256SUMS has no line for agent-mesh-linux-arm64");
});

test.skipIf(!Bun.which("ruby"))("the formula is valid Ruby", () => {
  expect(Bun.spawnSync(["ruby", "-c", join(ROOT, "packaging/homebrew/agent-mesh.rb")]).exitCode).toBe(0);
});
