/**
 * Fills the Homebrew formula in from a release's SHA256SUMS:
 *
 *   bun packaging/homebrew/update-formula.ts --sums SHA256SUMS [--version 0.2.0] [--repo owner/name] [--out FILE]
 *
 * Sets the version (default: package.json's), points homepage and urls at the
 * repository, and gives each url the sum of the asset it downloads; an asset missing
 * from SHA256SUMS is an error. Without --out the formula is rewritten in place.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import pkg from "../../package.json" with { type: "json" };

const FORMULA = new URL("agent-mesh.rb", import.meta.url).pathname;

/** `sha256sum` output: "<hex>  <file>" (or " *<file>" in binary mode) a line. */
export function parseSums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of text.split("\n")) {
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line.trim());
    if (match) sums.set(match[2]!, match[1]!);
  }
  return sums;
}

export function fillFormula(formula: string, options: { sums: Map<string, string>; version: string; repo?: string }): string {
  let text = formula.replace(/^(\s*version ")[^"]*(")/m, `$1${options.version}$2`);
  if (options.repo) text = text.replace(/https:\/\/github\.com\/[^/"\s]+\/[^/"\s]+/g, `https://github.com/${options.repo}`);
  return text.replace(/(url "[^"]*\/([^/"]+)"\s*\n\s*sha256 ")[^"]*(")/g, (_, head: string, asset: string, tail: string) => {
    const sum = options.sums.get(asset);
    if (!sum) throw new Error(`SHA256SUMS has no line for ${asset}, which the formula downloads`);
    return `${head}${sum}${tail}`;
  });
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { sums: { type: "string" }, version: { type: "string" }, repo: { type: "string" }, out: { type: "string" } } });
  if (!values.sums) {
    console.error("usage: bun packaging/homebrew/update-formula.ts --sums SHA256SUMS [--version X.Y.Z] [--repo owner/name] [--out FILE]");
    process.exit(2);
  }
  try {
    const filled = fillFormula(readFileSync(FORMULA, "utf8"), { sums: parseSums(readFileSync(values.sums, "utf8")), version: values.version ?? pkg.version, repo: values.repo });
    writeFileSync(values.out ?? FORMULA, filled);
    console.error(`wrote ${values.out ?? FORMULA}`);
  } catch (error) {
    console.error(`update-formula: ${(error as Error).message}`);
    process.exit(1);
  }
}
