/**
 * `agent-mesh admin …`: what an operator does to keep the data it can answer for.
 * `check`, `backup` and `restore` work on the store itself (the data folder or
 * --db); `erase` asks the controller, as an admin, so the erasure is recorded by whom.
 */
import { join } from "node:path";
import { z } from "zod";
import { clientSettings } from "../client/client-settings.ts";
import { connect } from "../client/connect.ts";
import { explainFailure, FOR_PEOPLE } from "../client/explain.ts";
import { Subject } from "../contract/schemas.ts";
import { createLogger } from "../lib/log.ts";
import { loadSettings, logLevelSetting, SettingsError, settingsHelp, type SettingsSpec } from "../lib/settings.ts";
import { controllerSettings } from "../controller/settings.ts";
import { backupSqlite, checkStore, restoreSqlite, type StoreCheck } from "../controller/store/maintenance.ts";

const storeSettings = { dataDir: controllerSettings.dataDir, database: controllerSettings.database } satisfies SettingsSpec;

const backupSettings = {
  ...storeSettings,
  out: { flag: "out", schema: z.string({ error: "name the backup file" }).min(1), help: "The file to write the backup to (must not exist)" },
} satisfies SettingsSpec;

const eraseSettings = {
  ...clientSettings,
  subject: { flag: "subject", schema: Subject, help: "Whose payloads to erase: a person's or agent's `sub`" },
  logLevel: logLevelSetting("error"),
} satisfies SettingsSpec;

const urlOf = (s: { dataDir: string; database?: string }) => s.database ?? `sqlite:${join(s.dataDir, "mesh.db")}`;

/** The SQLite file the settings name; PostgreSQL has tools of its own for this. */
function sqliteFile(s: { dataDir: string; database?: string }): string {
  const url = urlOf(s);
  if (!url.startsWith("sqlite:")) throw new SettingsError(`--db is PostgreSQL. ${PG_BACKUP}`);
  return url.slice("sqlite:".length);
}

const PG_BACKUP = `For PostgreSQL use its own tools while the controllers run:
  pg_dump --format=custom --file=mesh.dump "$MESH_DATABASE_URL"
  pg_restore --dbname="$EMPTY_DATABASE_URL" mesh.dump && agent-mesh admin check --db "$EMPTY_DATABASE_URL"`;

const report = (c: StoreCheck) =>
  [
    `${c.engine} store, schema version ${c.schema_version} (this build knows up to ${c.known_version}), integrity ${c.integrity}`,
    `${c.counts.tasks} tasks, ${c.counts.approvals} approvals, ${c.counts.audit} audit rows, ${c.counts.erasures} erasures`,
    ...c.problems.map((p) => `problem: ${p}`),
  ].join("\n");

type Action = { usage: string; summary: string; spec: SettingsSpec; run: (positional: string[], flags: string[]) => Promise<number> };

const ACTIONS: Record<string, Action> = {
  check: {
    usage: "agent-mesh admin check [--data-dir DIR | --db URL]",
    summary: "Verify a store: schema version, integrity check, counts (exit 1 on a problem)",
    spec: storeSettings,
    async run(_positional, flags) {
      const check = await checkStore(urlOf(loadSettings(storeSettings, flags)));
      console.log(report(check));
      return check.problems.length ? 1 : 0;
    },
  },
  backup: {
    usage: "agent-mesh admin backup --out FILE [--data-dir DIR | --db URL]",
    summary: "A consistent copy of the SQLite store, taken while the controller runs",
    spec: backupSettings,
    async run(_positional, flags) {
      const s = loadSettings(backupSettings, flags);
      backupSqlite(sqliteFile(s), s.out);
      console.log(`Backed up to ${s.out}.\n${report(await checkStore(`sqlite:${s.out}`))}`);
      return 0;
    },
  },
  restore: {
    usage: "agent-mesh admin restore FILE [--data-dir DIR | --db sqlite:PATH]",
    summary: "Restore a backup into an empty data folder; refuses a schema newer than this build knows",
    spec: storeSettings,
    async run(positional, flags) {
      const [file] = positional;
      if (!file) throw new SettingsError("name the backup file: agent-mesh admin restore FILE");
      const into = sqliteFile(loadSettings(storeSettings, flags));
      console.log(`Restored ${file} to ${into}.\n${report(restoreSqlite(file, into))}`);
      return 0;
    },
  },
  erase: {
    usage: "agent-mesh admin erase --subject NAME",
    summary: "Erase one person's or agent's payloads everywhere (as an admin, through the controller)",
    spec: eraseSettings,
    async run(_positional, flags) {
      const s = loadSettings(eraseSettings, flags);
      const client = connect(s, createLogger(s.logLevel));
      const r = await client.call("eraseSubject", { body: { subject: s.subject } });
      if (!r.ok) {
        console.error(explainFailure(r.failure, client.tokens.origin, FOR_PEOPLE));
        return 1;
      }
      console.log(`Erased the payloads of ${r.value.subject}: ${r.value.records} records, recorded as done by ${r.value.erased_by} at ${r.value.at}.`);
      return 0;
    },
  },
};

const USAGE = `Usage: agent-mesh admin check|backup|restore|erase …

${Object.values(ACTIONS)
  .map((a) => `  ${a.usage}\n      ${a.summary}`)
  .join("\n")}

${PG_BACKUP}`;

export async function runAdmin(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  const action = name === undefined ? undefined : ACTIONS[name];
  if (!action) {
    if (name === undefined || name === "--help" || name === "-h") return void console.log(USAGE);
    throw new SettingsError(`unknown admin command "${name}"; run agent-mesh admin --help`);
  }
  if (rest.includes("--help") || rest.includes("-h")) return void console.log(`Usage: ${action.usage}\n\n${action.summary}\n\n${settingsHelp(action.spec)}`);
  // Backups hold everything the store does: nobody else's business on this machine.
  process.umask(0o077);
  // An argument is a flag's value only after a flag that did not carry one (`--db URL`, not `--db=URL`).
  const positional = rest.filter((a, i) => !a.startsWith("-") && (i === 0 || !rest[i - 1]!.startsWith("--") || rest[i - 1]!.includes("=")));
  const flags = rest.filter((a) => !positional.includes(a));
  let code: number;
  try {
    code = await action.run(positional, flags);
  } catch (error) {
    if (error instanceof SettingsError) throw error;
    console.error(`agent-mesh admin ${name}: ${(error as Error).message}`);
    code = 1;
  }
  if (code !== 0) process.exit(code);
}
