import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UserError } from "../../src/errors.js";
import { trustSystem, untrustSystem } from "../../src/tls/system-trust.js";
import { tempDir } from "../helpers/tmp.js";

// The system store is never touched here: the directory and the update tool are stand-ins.
function setup(): { dir: string; tool: string; log: string; cert: string } {
  const root = tempDir();
  const dir = join(root, "ca-certificates");
  mkdirSync(dir);
  const log = join(root, "calls.log");
  const tool = join(root, "update-ca-certificates");
  writeFileSync(tool, `#!/bin/sh\necho "args:$*" >> "${log}"\necho "Updating certificates in /etc/ssl/certs..."\necho "1 added, 0 removed; done."\n`);
  chmodSync(tool, 0o755);
  const cert = join(root, "ca.pem");
  writeFileSync(cert, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  return { dir, tool, log, cert };
}

describe.runIf(process.platform === "linux")("ca --trust / --untrust", () => {
  it("copies ca.pem to graphtap.crt, runs the tool, says what it did; untrust removes it with --fresh", () => {
    const s = setup();
    const r = trustSystem(s.cert, { dir: s.dir, tool: s.tool, uid: 0 });
    expect(r.file).toBe(join(s.dir, "graphtap.crt"));
    expect(r.changed).toBe(true);
    expect(readFileSync(r.file, "utf8")).toBe(readFileSync(s.cert, "utf8"));
    expect(r.toolOutput).toBe("1 added, 0 removed; done.");
    expect(trustSystem(s.cert, { dir: s.dir, tool: s.tool, uid: 0 }).changed).toBe(false);
    const u = untrustSystem({ dir: s.dir, tool: s.tool, uid: 0 });
    expect(u.changed).toBe(true);
    expect(existsSync(r.file)).toBe(false);
    expect(readFileSync(s.log, "utf8").trim().split("\n")).toEqual(["args:", "args:", "args:--fresh"]);
  });

  it("not root: a one-line error that says to use sudo, nothing copied", () => {
    const s = setup();
    expect(() => trustSystem(s.cert, { dir: s.dir, tool: s.tool, uid: 1000 })).toThrow(/needs root: sudo graphtap ca --trust/);
    expect(existsSync(join(s.dir, "graphtap.crt"))).toBe(false);
  });

  it("tool missing or failing: clear user errors", () => {
    const s = setup();
    expect(() => trustSystem(s.cert, { dir: s.dir, tool: join(s.dir, "nope"), uid: 0 })).toThrow(UserError);
    expect(() => trustSystem(s.cert, { dir: s.dir, tool: join(s.dir, "nope"), uid: 0 })).toThrow(/update-ca-certificates not found/);
    writeFileSync(s.tool, "#!/bin/sh\necho 'E: broken store' >&2\nexit 3\n");
    expect(() => trustSystem(s.cert, { dir: s.dir, tool: s.tool, uid: 0 })).toThrow(/failed \(exit 3\): E: broken store/);
  });
});
