/** The worker's settings: one table gives parsing, validation and --help. */
import { z } from "zod";
import { clientSettings } from "../client/client-settings.ts";
import { LIMITS, Role } from "../contract/schemas.ts";
import { durationBetween, httpUrl, logLevelSetting, positiveInt, type SettingsOf, type SettingsSpec } from "../lib/settings.ts";
import { PRESET_NAMES } from "./presets.ts";

export const workerSettings = {
  role: { flag: "role", env: "MESH_WORKER_ROLE", schema: Role, help: "The role whose tasks this worker does (required)" },
  concurrency: { flag: "concurrency", env: "MESH_WORKER_CONCURRENCY", schema: positiveInt(256), fallback: "1", help: "Tasks run at once" },
  preset: {
    flag: "preset",
    env: "MESH_WORKER_PRESET",
    schema: z.enum(PRESET_NAMES, { error: `must be one of ${PRESET_NAMES.join(", ")}` }).optional(),
    help: `The agent CLI to run headless with the mesh attached: ${PRESET_NAMES.join(", ")} (or give a command after --)`,
  },
  a2a: {
    flag: "a2a",
    env: "MESH_WORKER_A2A",
    schema: httpUrl.optional(),
    help: "Serve the role with a remote A2A agent (v1.0, JSON-RPC): its URL or its Agent Card's; each task is sent to it as a message instead of running a command",
  },
  a2aToken: {
    flag: "a2a-token",
    env: "MESH_A2A_TOKEN",
    schema: z.string().min(1).optional(),
    secret: true,
    help: "The bearer token the remote A2A agent of --a2a takes",
  },
  timeout: {
    flag: "timeout",
    env: "MESH_WORKER_TIMEOUT",
    schema: durationBetween(1, 7 * 86_400, "a task's timeout"),
    fallback: "1h",
    help: "How long one task's command (or remote A2A task) may run before it is killed (cancelled) and the task failed (for a retry)",
  },
  grace: {
    flag: "grace",
    env: "MESH_WORKER_GRACE",
    schema: durationBetween(0, 86_400, "the grace period"),
    fallback: "30s",
    help: "On SIGTERM or Ctrl-C: how long running tasks may finish before they are stopped and given back for a retry",
  },
  workdir: {
    flag: "workdir",
    env: "MESH_WORKER_WORKDIR",
    schema: z.string().min(1).optional(),
    help: "The folder each task's command runs in a fresh subfolder of; default a folder per task under the data folder",
  },
  promptFile: {
    flag: "prompt-file",
    env: "MESH_WORKER_PROMPT_FILE",
    schema: z.string().min(1).optional(),
    help: "A prompt template to use instead of the built-in one ({type}, {description}, {data}, {context}, {source}, {task_id}, {role})",
  },
  once: { flag: "once", schema: z.boolean().default(false), boolean: true, help: "Take one task (or none, if none is waiting) and exit" },
  leaseSeconds: {
    env: "MESH_LEASE_SECONDS",
    schema: durationBetween(LIMITS.leaseSeconds.min, LIMITS.leaseSeconds.max, "a lease").optional(),
    help: "The lease the worker asks for when it claims (it renews it at a third while the command runs); default the controller's",
  },
  dataDir: {
    flag: "data-dir",
    env: "MESH_WORKER_DATA_DIR",
    schema: z.string().min(1),
    fallback: "./mesh-worker",
    help: "Where each task's output is kept (the newest 200 tasks, 10 MiB of each stream) and its working folder made",
  },
  ...clientSettings,
  logLevel: logLevelSetting("info"),
} satisfies SettingsSpec;

export type WorkerSettings = SettingsOf<typeof workerSettings>;
