/** A client's config file: read if there, replaced atomically with a .bak copy of what was. */
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { SettingsError } from "../lib/settings.ts";

/** The file's text, undefined when there is none; a folder where a file belongs is the caller's mistake. */
export function readConfigFile(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  if (statSync(path).isDirectory()) throw new SettingsError(`--config ${path}: is a folder; name the config file itself`);
  return readFileSync(path, "utf8");
}

/**
 * Writes `text` to a temporary file beside the target and renames it over, so a
 * crash leaves the old file or the new one, never half of one. A symlinked file (a
 * dotfiles checkout) is written where it points, keeping the link. The file and its
 * backup end up readable by their owner only: they hold a token.
 */
export function writeConfigFile(path: string, text: string): { written: string; backup?: string } {
  const target = existsSync(path) ? realpathSync(path) : path;
  mkdirSync(dirname(target), { recursive: true });
  let backup: string | undefined;
  let mode = 0o600;
  if (existsSync(target)) {
    // Keep the owner's bits, drop everyone else's.
    mode = statSync(target).mode & 0o700;
    backup = `${target}.bak`;
    copyFileSync(target, backup);
    chmodSync(backup, 0o600);
  }
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.tmp`);
  rmSync(temp, { force: true });
  try {
    const fd = openSync(temp, "wx", mode);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
  } finally {
    rmSync(temp, { force: true });
  }
  return { written: target, backup };
}
