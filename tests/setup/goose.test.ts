/** `agent-mesh setup goose` on a real-looking Goose config.yaml, through the compiled binary. */
import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { BINARY } from "../support/controller.ts";
import { setupRunner } from "./run.ts";

const { scratch, setup } = setupRunner();

const FIXTURE = join(import.meta.dir, "fixtures/goose-config.yaml");
const ORIGINAL = readFileSync(FIXTURE, "utf8");

/** A config file in a fresh HOME, where Goose keeps it. */
function gooseHome() {
  const home = scratch();
  const file = join(home, ".config/goose/config.yaml");
  mkdirSync(join(home, ".config/goose"), { recursive: true });
  copyFileSync(FIXTURE, file);
  return { home, file };
}

/**
 * The rules Goose applies when it reads an entry (block/goose crates/goose/src/config/extensions.rs:
 * ExtensionEntry = `enabled: bool` + the flattened ExtensionConfig tagged by `type`; the key is the
 * name lower-cased without spaces. agents/extension.rs, variant Stdio: name, cmd and args required,
 * envs a string map, env_keys a list, timeout an unsigned integer).
 */
function expectGooseStdioEntry(key: string, entry: any) {
  expect(typeof entry.enabled).toBe("boolean");
  expect(entry.type).toBe("stdio");
  expect(key).toBe(entry.name.replace(/\s/g, "").toLowerCase());
  expect(typeof entry.cmd).toBe("string");
  expect(Array.isArray(entry.args) && entry.args.every((a: unknown) => typeof a === "string")).toBe(true);
  expect(Object.values(entry.envs).every((v) => typeof v === "string")).toBe(true);
  expect(Array.isArray(entry.env_keys)).toBe(true);
  expect(Number.isInteger(entry.timeout) && entry.timeout > 0).toBe(true);
}

describe("setup goose --write", () => {
  test("adds the extension and changes nothing else: every line of the file stays, comments included", () => {
    const { home, file } = gooseHome();
    const run = setup(["goose", "--write", "--controller-url", "http://mesh.internal:8088", "--token", "tok-1"], { home });
    expect(run.code).toBe(0);
    const after = readFileSync(file, "utf8");
    // One block of lines was inserted; everything before and after it is the original, byte for byte.
    const [lines, originalLines] = [after.split("\n"), ORIGINAL.split("\n")];
    let same = 0;
    while (lines[same] === originalLines[same]) same++;
    let sameAtEnd = 0;
    while (sameAtEnd < originalLines.length - same && lines.at(-1 - sameAtEnd) === originalLines.at(-1 - sameAtEnd)) sameAtEnd++;
    expect(same + sameAtEnd).toBe(originalLines.length);
    expect(lines[same]).toBe("  agent-mesh:");

    const config = parse(after);
    expect(config.extensions.developer).toEqual(parse(ORIGINAL).extensions.developer);
    expect(config.extensions.github).toEqual(parse(ORIGINAL).extensions.github);
    expect(config.extensions["team-docs"]).toEqual(parse(ORIGINAL).extensions["team-docs"]);
    const entry = config.extensions["agent-mesh"];
    expectGooseStdioEntry("agent-mesh", entry);
    expect(entry).toMatchObject({
      enabled: true,
      cmd: realpathSync(BINARY),
      args: ["mcp"],
      envs: { CONTROLLER_URL: "http://mesh.internal:8088", MESH_JWT_TOKEN: "tok-1" },
    });

    expect(readFileSync(`${file}.bak`, "utf8")).toBe(ORIGINAL);
    expect(run.stderr).toContain(`Added agent-mesh to ${file}`);
    expect(run.stderr).not.toContain("Still to fill in");
  });

  test("a run that changes an entry already there says it updated it", () => {
    const { home, file } = gooseHome();
    setup(["goose", "--write", "--controller-url", "http://localhost:8088", "--token", "tok-1"], { home });
    const again = setup(["goose", "--write", "--token", "tok-2"], { home });
    expect(again.stderr).toContain(`Updated agent-mesh in ${file}`);
    expect(again.stderr).not.toContain("Added");
  });

  test("a second run with the same values writes nothing", () => {
    const { home, file } = gooseHome();
    const args = ["goose", "--write", "--controller-url", "http://localhost:8088", "--token", "tok-1"];
    setup(args, { home });
    const first = readFileSync(file, "utf8");
    const again = setup(args, { home });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("already has this entry; nothing written");
    expect(readFileSync(file, "utf8")).toBe(first);
  });

  test("rerunning keeps what a person set: a token not given again, a raised timeout, an extra variable", () => {
    const { home, file } = gooseHome();
    setup(["goose", "--write", "--token", "real-token"], { home });
    const lines = readFileSync(file, "utf8").split("\n");
    const ours = lines.indexOf("  agent-mesh:");
    const timeout = lines.findIndex((l, i) => i > ours && l === "    timeout: 300");
    lines[timeout] = "    timeout: 600";
    lines.splice(lines.indexOf("    envs:", ours) + 1, 0, '      MESH_RETRY_COUNT: "5"');
    writeFileSync(file, lines.join("\n"));

    const run = setup(["goose", "--write", "--controller-url", "http://10.0.0.5:8088"], { home });
    expect(run.code).toBe(0);
    const entry = parse(readFileSync(file, "utf8")).extensions["agent-mesh"];
    expect(entry.envs).toEqual({ MESH_RETRY_COUNT: "5", CONTROLLER_URL: "http://10.0.0.5:8088", MESH_JWT_TOKEN: "real-token" });
    expect(entry.timeout).toBe(600);
    expect(run.stderr).not.toContain("Still to fill in");

    setup(["goose", "--write", "--token", "new-token"], { home });
    expect(parse(readFileSync(file, "utf8")).extensions["agent-mesh"].envs.MESH_JWT_TOKEN).toBe("new-token");
  });

  test("without values it writes placeholders and says what to fill in", () => {
    const { home, file } = gooseHome();
    const run = setup(["goose", "--write"], { home });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`Still to fill in (in ${file}):`);
    expect(run.stderr).toMatch(/CONTROLLER_URL .*--controller-url URL/);
    expect(run.stderr).toMatch(/MESH_JWT_TOKEN .*--token TOKEN/);
    const entry = parse(readFileSync(file, "utf8")).extensions["agent-mesh"];
    expect(entry.envs.CONTROLLER_URL).toMatch(/^<controller URL/);
    expect(entry.envs.MESH_JWT_TOKEN).toMatch(/^<token from: agent-mesh token/);
    // Goose would start it and fail on the placeholders: it is written switched off, and said so.
    expect(entry.enabled).toBe(false);
    expect(run.stderr).toContain("switched off (enabled: false)");
    // Given the values, it is switched on.
    const completed = setup(["goose", "--write", "--controller-url", "http://localhost:8088", "--token", "tok"], { home });
    expect(parse(readFileSync(file, "utf8")).extensions["agent-mesh"].enabled).toBe(true);
    expect(completed.stderr).not.toContain("switched off");
  });

  test("values come from CONTROLLER_URL and MESH_JWT_TOKEN in the environment too", () => {
    const { home, file } = gooseHome();
    setup(["goose", "--write"], { home, env: { CONTROLLER_URL: "http://env-host:8088", MESH_JWT_TOKEN: "env-token" } });
    expect(parse(readFileSync(file, "utf8")).extensions["agent-mesh"].envs).toEqual({ CONTROLLER_URL: "http://env-host:8088", MESH_JWT_TOKEN: "env-token" });
  });

  test("--name adds a second identity beside the first", () => {
    const { home, file } = gooseHome();
    setup(["goose", "--write", "--token", "a"], { home });
    setup(["goose", "--write", "--token", "b", "--name", "agent-mesh-reviewer"], { home });
    const extensions = parse(readFileSync(file, "utf8")).extensions;
    expect(extensions["agent-mesh"].envs.MESH_JWT_TOKEN).toBe("a");
    expectGooseStdioEntry("agent-mesh-reviewer", extensions["agent-mesh-reviewer"]);
    expect(extensions["agent-mesh-reviewer"].envs.MESH_JWT_TOKEN).toBe("b");
  });

  test("a file that is not valid YAML is refused, named, and left alone", () => {
    const { home, file } = gooseHome();
    const broken = `${ORIGINAL}\n  badly: [indented\n`;
    writeFileSync(file, broken);
    const run = setup(["goose", "--write", "--token", "t"], { home });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain(`${file}: not valid YAML (`);
    expect(run.stderr).toContain("nothing was written");
    expect(readFileSync(file, "utf8")).toBe(broken);
    expect(existsSync(`${file}.bak`)).toBe(false);
  });

  test("an extensions: that is not a mapping is refused", () => {
    const { home, file } = gooseHome();
    writeFileSync(file, "extensions:\n- developer\n");
    const run = setup(["goose", "--write"], { home });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`${file}: extensions is not a mapping; nothing was written`);
  });

  test("an existing config readable by others is made private once it holds a token, and so is its backup", () => {
    const { home, file } = gooseHome();
    writeFileSync(file, "extensions: {}\n", { mode: 0o644 });
    chmodSync(file, 0o644);
    setup(["goose", "--write", "--token", "t"], { home });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(`${file}.bak`).mode & 0o777).toBe(0o600);
  });

  test("no config yet: it is made, private, where Goose looks (XDG_CONFIG_HOME, GOOSE_PATH_ROOT)", () => {
    const home = scratch();
    setup(["goose", "--write", "--token", "t"], { home });
    const file = join(home, ".config/goose/config.yaml");
    expectGooseStdioEntry("agent-mesh", parse(readFileSync(file, "utf8")).extensions["agent-mesh"]);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const xdg = scratch();
    setup(["goose", "--write"], { home, env: { XDG_CONFIG_HOME: xdg } });
    expect(existsSync(join(xdg, "goose/config.yaml"))).toBe(true);

    const root = scratch();
    setup(["goose", "--write"], { home, env: { GOOSE_PATH_ROOT: root } });
    expect(existsSync(join(root, "config/config.yaml"))).toBe(true);
  });

  test("a symlinked config (a dotfiles checkout) stays a symlink; the file it points to is updated", () => {
    const { home, file } = gooseHome();
    const real = join(scratch(), "goose.yaml");
    copyFileSync(file, real);
    const link = join(home, "linked.yaml");
    symlinkSync(real, link);
    expect(setup(["goose", "--write", "--config", link], { home }).code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(parse(readFileSync(real, "utf8")).extensions["agent-mesh"]).toBeDefined();
  });
});

describe("setup goose (printing)", () => {
  test("prints the extensions: entry and touches no file", () => {
    const home = scratch();
    const run = setup(["goose", "--token", "t"], { home });
    expect(run.code).toBe(0);
    const printed = parse(run.stdout);
    expectGooseStdioEntry("agent-mesh", printed.extensions["agent-mesh"]);
    expect(run.stderr).toContain(`Add this to extensions in ${join(home, ".config/goose/config.yaml")}`);
    expect(existsSync(join(home, ".config"))).toBe(false);
  });

  test("names the binary by the PATH entry that links to it, which outlives upgrades", () => {
    const bin = scratch();
    symlinkSync(realpathSync(BINARY), join(bin, "agent-mesh"));
    const run = setup(["goose"], { path: `${bin}:/usr/bin:/bin` });
    expect(parse(run.stdout).extensions["agent-mesh"].cmd).toBe(join(bin, "agent-mesh"));
  });
});
