/** The code is formatted and lint-clean as Biome says (biome.json); `npm run format` fixes what it can. */
import { expect, test } from "bun:test";
import { join } from "node:path";

test("biome ci finds nothing to format or fix", () => {
  const root = join(import.meta.dir, "..");
  const run = Bun.spawnSync([join(root, "node_modules/.bin/biome"), "ci", "--colors=off", "."], { cwd: root, stdout: "pipe", stderr: "pipe" });
  const said = `${run.stdout.toString()}${run.stderr.toString()}`;
  expect({ exitCode: run.exitCode, said: run.exitCode === 0 ? "" : said }).toEqual({ exitCode: 0, said: "" });
});
