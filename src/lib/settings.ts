/**
 * Settings from flags, the environment and a `.env` file (Bun loads it), validated
 * once at start. A bad value stops the program with one line: which setting, what
 * was wrong and what is allowed. The same table writes `--help`.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import { LOG_LEVELS } from "./log.ts";
import { SettingsError } from "./settings-error.ts";

export type Setting<T = unknown> = {
  /** Long flag without dashes, e.g. `port`; absent for environment-only settings. */
  flag?: string;
  env?: string;
  schema: z.ZodType<T>;
  /** Shown in --help and used when neither flag nor environment says otherwise. */
  fallback?: string | (() => string);
  /** How a machine-dependent fallback reads in the README. */
  fallbackDoc?: string;
  help: string;
  /** A flag that may be given more than once (collected into a list). */
  multiple?: boolean;
  /** A flag without a value. */
  boolean?: boolean;
  /** A credential (or a URL that may hold one): an error about it never repeats its value. */
  secret?: boolean;
};

export type SettingsSpec = Record<string, Setting>;
export type SettingsOf<S extends SettingsSpec> = { [K in keyof S]: S[K] extends Setting<infer T> ? T : never };

export { SettingsError };

const label = (s: Setting) => [s.flag && `--${s.flag}`, s.env].filter(Boolean).join(" / ");

export function loadSettings<S extends SettingsSpec>(spec: S, argv: string[], env: Record<string, string | undefined> = process.env): SettingsOf<S> {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const s of Object.values(spec)) {
    if (s.flag) options[s.flag] = { type: s.boolean ? "boolean" : "string", multiple: s.multiple };
  }
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new SettingsError(`${(error as Error).message.replace(/\. To specify.*$/s, "")}; see --help`);
  }
  const result: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(spec)) {
    const fromFlag = s.flag ? values[s.flag] : undefined;
    const fromEnv = s.env ? env[s.env] : undefined;
    const fallback = typeof s.fallback === "function" ? s.fallback() : s.fallback;
    // A variable set to nothing but spaces is as good as unset (a blank line in a host's config).
    const raw = fromFlag ?? (fromEnv?.trim() === "" ? undefined : fromEnv) ?? fallback;
    const parsed = s.schema.safeParse(raw);
    if (!parsed.success) {
      const shown = raw === undefined ? "nothing" : s.secret ? `a value of ${String(raw).length} characters, not shown` : JSON.stringify(raw);
      throw new SettingsError(`${label(s)}: ${parsed.error.issues[0]?.message ?? "invalid"} (got ${shown})`);
    }
    result[key] = parsed.data;
  }
  return result as SettingsOf<S>;
}

export function settingsHelp(spec: SettingsSpec): string {
  const rows = Object.values(spec).map((s) => {
    const flag = s.flag ? `--${s.flag}${s.boolean ? "" : " VALUE"}` : "";
    const fallback = typeof s.fallback === "function" ? s.fallback() : s.fallback;
    // An environment-only setting is already named on the left.
    const extra = [s.flag && s.env && `env ${s.env}`, fallback !== undefined && `default ${fallback}`].filter(Boolean).join(", ");
    return { left: flag || s.env || "", right: `${s.help}${extra ? ` (${extra})` : ""}` };
  });
  const width = Math.max(...rows.map((r) => r.left.length));
  return rows.map((r) => `  ${r.left.padEnd(width)}  ${r.right}`).join("\n");
}

/** The same table as Markdown, for the README. */
export function settingsTable(spec: SettingsSpec): string {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const rows = Object.values(spec).map((s) => {
    const fallback = typeof s.fallback === "function" ? s.fallbackDoc : s.fallback;
    const flag = s.flag ? `\`--${s.flag}\`` : "";
    const env = s.env ? `\`${s.env}\`` : "";
    return `| ${flag} | ${env} | ${fallback === undefined ? "" : `\`${fallback}\``} | ${cell(s.help)} |`;
  });
  return ["| flag | environment | default | what it is |", "|---|---|---|---|", ...rows].join("\n");
}

// ── value schemas shared by the commands ─────────────────────────────────────

const UNITS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** A duration such as `90s`, `15m`, `24h`, `7d` or plain seconds, as seconds. */
export const durationSeconds = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m|h|d)?$/, "must be a duration like 30s, 15m, 24h or 7d")
  .transform((text) => {
    const [, n, unit] = /^([\d.]+)(ms|s|m|h|d)?$/.exec(text)!;
    return Number(n) * UNITS[unit ?? "s"]!;
  });

/** A duration between `min` and `max` seconds, e.g. for a key's lifetime or a clock's leeway. */
export const durationBetween = (min: number, max: number, what: string) =>
  durationSeconds.refine((s) => s >= min && s <= max, `${what} must be between ${min} s and ${max} s`);

/** Text that must be a whole number; checked as text, so "abc" is called what it is rather than NaN. */
const wholeNumber = z.string().regex(/^\d+$/, "must be a whole number").transform(Number);
export const port = wholeNumber.pipe(z.number().max(65535, "must be a port from 0 to 65535"));
export const positiveInt = (max: number) => wholeNumber.pipe(z.number().min(1, "must be at least 1").max(max, `must be at most ${max}`));
export const nonNegativeInt = (max: number) => wholeNumber.pipe(z.number().max(max, `must be at most ${max}`));
/** A number of seconds above 0, such as `30` or `2.5`. */
export const seconds = (max: number) =>
  z
    .string()
    .regex(/^\d+(\.\d+)?$/, "must be a number of seconds")
    .transform(Number)
    .pipe(z.number().positive("must be more than 0").max(max, `must be at most ${max}`));
export const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });
export const logLevel = z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` });
/** `--log-level` / MESH_LOG_LEVEL, as every command reads it; only the default differs. */
export const logLevelSetting = (fallback: (typeof LOG_LEVELS)[number]): Setting<(typeof LOG_LEVELS)[number]> => ({
  flag: "log-level",
  env: "MESH_LOG_LEVEL",
  schema: logLevel,
  fallback,
  help: "debug, info, warn or error (logs go to stderr)",
});

export const list = z.string().transform((text) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);
