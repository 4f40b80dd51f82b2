import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { settingsSections, withSettingsTables } from "../scripts/settings-sections.ts";

test("the README's settings tables match the settings the program reads (bun scripts/readme-settings.ts rewrites them)", () => {
  const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
  expect(withSettingsTables(readme, settingsSections)).toBe(readme);
});
