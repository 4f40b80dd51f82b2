/** Which settings tables the README shows, and how they are spliced between markers. */
import { loginSettings, tokenSettings } from "../src/cli/dev-credentials.ts";
import { controllerSettings } from "../src/controller/settings.ts";
import { settingsTable, type SettingsSpec } from "../src/lib/settings.ts";
import { mcpSettings } from "../src/mcp/settings.ts";
import { setupSettings } from "../src/setup/settings.ts";
import { workerSettings } from "../src/worker/settings.ts";

export const settingsSections: Record<string, SettingsSpec> = {
  controller: controllerSettings,
  token: tokenSettings,
  login: loginSettings,
  mcp: mcpSettings,
  worker: workerSettings,
  setup: setupSettings,
};

export function withSettingsTables(readme: string, sections: Record<string, SettingsSpec>): string {
  let text = readme;
  for (const [name, spec] of Object.entries(sections)) {
    const start = `<!-- settings:${name} -->`;
    const end = `<!-- /settings:${name} -->`;
    const from = text.indexOf(start);
    const to = text.indexOf(end);
    if (from < 0 || to < from) throw new Error(`README.md has no ${start} … ${end} markers`);
    text = `${text.slice(0, from + start.length)}\n${settingsTable(spec)}\n${text.slice(to)}`;
  }
  return text;
}
