/**
 * Writes every command's settings table into README.md between its markers, from the
 * same tables that parse and validate them: `bun scripts/readme-settings.ts`.
 * tests/readme.test.ts fails when the README is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { settingsSections, withSettingsTables } from "./settings-sections.ts";

const path = new URL("../README.md", import.meta.url).pathname;
const before = readFileSync(path, "utf8");
const after = withSettingsTables(before, settingsSections);
if (after !== before) writeFileSync(path, after);
console.log(after === before ? "README.md settings are up to date" : "README.md settings rewritten");
