// Bad input from a user is one clear line on stderr and a non-zero exit: never a stack.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";

function expectOneLineError(r: { code: number | null; stderr: string }, pattern: RegExp): void {
  expect(r.code).not.toBe(0);
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^graphtap: /);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at |unexpected error/);
}

describe("bad input gives one line, never a stack trace", () => {
  it("no command", async () => {
    const r = await runCli([]);
    expectOneLineError(r, /name a command/);
    expect(r.stderr.match(/--help/g)).toHaveLength(1);
  });

  it("an unknown flag", async () => {
    expectOneLineError(await runCli(["ca", "--bogus"]), /Unknown argument: bogus/);
  });

  it("a CA home that cannot be a folder", async () => {
    const file = join(tempDir(), "a-file");
    writeFileSync(file, "x");
    expectOneLineError(await runCli(["ca", "--home", join(file, "home")]), /cannot create the CA in .*ENOTDIR/);
  });

  it("a capture path whose folder cannot be made", async () => {
    const dir = tempDir();
    const file = join(dir, "a-file");
    writeFileSync(file, "x");
    const r = await runCli(["proxy", "--port", "0", "--home", join(dir, "home"), "--db", join(file, "c.sqlite")]);
    expectOneLineError(r, /cannot create the folder for .*(ENOTDIR|EEXIST)/);
  });

  it("a text file given as a capture", async () => {
    const file = join(tempDir(), "notes.sqlite");
    writeFileSync(file, "these are notes, not a capture\n");
    expectOneLineError(await runCli(["analyze", file]), /not a graphtap capture|neither/);
    expectOneLineError(await runCli(["list", file]), /not a graphtap capture/);
  });

  it("a bad --upstream", async () => {
    const dir = tempDir();
    const r = await runCli(["proxy", "--port", "0", "--home", join(dir, "h"), "--db", join(dir, "c.sqlite"), "--upstream", "nonsense"]);
    expectOneLineError(r, /bad --upstream "nonsense"/);
  });
});
