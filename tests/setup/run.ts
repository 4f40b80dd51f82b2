/** Runs the compiled binary's `setup` as a person would: their HOME, their folder, their environment. */
import { afterAll } from "bun:test";
import { rmSync } from "node:fs";
import { BINARY, tempDir } from "../support/controller.ts";

/** For one test file: fresh temporary folders (removed after the file) and `setup` run in them. */
export function setupRunner() {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  const scratch = () => {
    const dir = tempDir("mesh-setup-");
    dirs.push(dir);
    return dir;
  };
  const setup = (args: string[], opts: { home?: string; cwd?: string; env?: Record<string, string>; path?: string } = {}) => {
    const home = opts.home ?? scratch();
    const p = Bun.spawnSync([BINARY, "setup", ...args], {
      cwd: opts.cwd ?? home,
      env: { PATH: opts.path ?? "/usr/bin:/bin", HOME: home, ...opts.env },
      stdin: "ignore",
    });
    return { code: p.exitCode, stdout: p.stdout.toString(), stderr: p.stderr.toString() };
  };
  return { scratch, setup };
}
