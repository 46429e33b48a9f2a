// The CA: files, the `ca` command, X.509 name constraints (checked by OpenSSL and by
// Node's TLS), the warning for an intercept the CA cannot serve, and GET /ca.pem.
import { readFileSync, statSync, writeFileSync } from "node:fs";
import http from "node:http";
import type net from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeafFactory, loadAuthority, type Authority } from "../../src/tls/authority.js";
import { run, runCli, startCliProxy, type CliProxy } from "../helpers/cli.js";
import { connect, tlsOver } from "../helpers/client.js";
import { tempDir } from "../helpers/tmp.js";

let home: string;
let dir: string;
let caOut: string;

beforeAll(async () => {
  dir = tempDir();
  home = join(dir, "home");
  const r = await runCli(["ca", "--home", home]);
  expect(r.code).toBe(0);
  caOut = r.stdout;
});

let factory: { authority: Authority; leaves: LeafFactory } | undefined;
/** The CA in `home`, read back from its files, and a leaf factory for it (one RSA key). */
function homeCa(): { authority: Authority; leaves: LeafFactory } {
  if (!factory) {
    const authority = loadAuthority(readFileSync(join(home, "ca.pem"), "utf8"), readFileSync(join(home, "ca-key.pem"), "utf8"));
    factory = { authority, leaves: new LeafFactory(authority) };
  }
  return factory;
}

/** Serves `names` with a leaf from the home CA; connects with only that CA trusted. */
async function tlsVerdict(names: string[], servername: string): Promise<{ ok: boolean; message: string }> {
  const { authority, leaves } = homeCa();
  const leaf = leaves.issue(names);
  const server = tls.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      const s = tls.connect({ host: "127.0.0.1", port, servername, ca: authority.certPem }, () => {
        s.destroy();
        resolve({ ok: s.authorized, message: "" });
      });
      s.once("error", (err) => resolve({ ok: false, message: err.message }));
    });
  } finally {
    server.close();
  }
}

function leafFile(names: string[], file: string): string {
  const path = join(dir, file);
  writeFileSync(path, homeCa().leaves.issue(names).certPem);
  return path;
}

describe("graphtap ca", () => {
  it("prints the path of ca.pem as its first stdout line; the key file is mode 0600", () => {
    expect(caOut.split("\n")[0]).toBe(join(home, "ca.pem"));
    expect(statSync(join(home, "ca-key.pem")).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(home, "ca-key.pem"), "utf8")).toMatch(/-----BEGIN (RSA )?PRIVATE KEY-----/);
  });

  it("--pem prints the CA certificate, and a second run keeps the same CA", async () => {
    const r = await runCli(["ca", "--home", home, "--pem"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(home, "ca.pem"), "utf8"));
    expect(r.stdout).toMatch(/^-----BEGIN CERTIFICATE-----\r?\n[\s\S]+-----END CERTIFICATE-----\r?\n$/);
  });

  it("the CA carries a critical nameConstraints extension permitting the Graph hosts", async () => {
    const r = await run("openssl", ["x509", "-noout", "-text", "-in", join(home, "ca.pem")]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/X509v3 Name Constraints: critical/);
    const section = r.stdout.slice(r.stdout.indexOf("X509v3 Name Constraints"));
    expect(section).toMatch(/Permitted:\s+DNS:graph\.microsoft\.com/);
    expect(section).toContain("DNS:microsoftgraph.chinacloudapi.cn");
    expect(r.stdout).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
  });

  it("openssl verify accepts a leaf for graph.microsoft.com and refuses one for evil.example", async () => {
    const caFile = join(home, "ca.pem");
    const good = await run("openssl", ["verify", "-CAfile", caFile, leafFile(["graph.microsoft.com"], "good.pem")]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(/: OK$/m);
    const evil = await run("openssl", ["verify", "-CAfile", caFile, leafFile(["evil.example"], "evil.pem")]);
    expect(evil.code).not.toBe(0);
    expect(evil.stdout + evil.stderr).toMatch(/permitted subtree violation/);
    const ip = await run("openssl", ["verify", "-CAfile", caFile, leafFile(["127.0.0.1"], "ip.pem")]);
    expect(ip.code).not.toBe(0);
    expect(ip.stdout + ip.stderr).toMatch(/excluded subtree violation/);
  });

  it("Node's TLS refuses a leaf for evil.example minted by the CA and accepts graph.microsoft.com", async () => {
    const good = await tlsVerdict(["graph.microsoft.com"], "graph.microsoft.com");
    expect(good).toEqual({ ok: true, message: "" });
    const evil = await tlsVerdict(["evil.example"], "evil.example");
    expect(evil.ok).toBe(false);
    expect(evil.message).toMatch(/permitted subtree violation/);
  });
});

describe("graphtap proxy with a CA that does not permit an intercepted host", () => {
  let proxy: CliProxy;

  beforeAll(async () => {
    proxy = await startCliProxy({
      home,
      db: join(dir, "capture.sqlite"),
      args: ["--intercept", "evil.example", "--intercept", "graph.microsoft.com"],
    });
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  it("warns at start with the command that makes a CA that does", async () => {
    // Written before "listening", so it is already there.
    expect(proxy.stderr()).toContain("graphtap ca --renew --permit evil.example");
    expect(proxy.stderr()).not.toContain("--permit graph.microsoft.com");
  });

  it("the certificate it mints for evil.example is refused by a client that trusts the CA", async () => {
    const evil = await connect(proxy.port, "evil.example:443");
    expect(evil.head).toMatch(/^HTTP\/1\.1 200/);
    const err = await tlsOver(evil.socket, { servername: "evil.example", ca: proxy.caPem }).then(
      (s) => {
        s.destroy();
        return undefined;
      },
      (e: Error) => e,
    );
    expect(err?.message).toMatch(/permitted subtree violation/);

    const good = await connect(proxy.port, "graph.microsoft.com:443");
    const s = await tlsOver(good.socket, { servername: "graph.microsoft.com", ca: proxy.caPem });
    expect(s.authorized).toBe(true);
    expect(s.getPeerCertificate().subjectaltname).toBe("DNS:graph.microsoft.com");
    s.destroy();
  });

  it("serves its CA at GET /ca.pem", async () => {
    const body = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
      http
        .get(`${proxy.url}/ca.pem`, (res) => {
          let text = "";
          res.setEncoding("utf8").on("data", (d: string) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"]), text }));
        })
        .on("error", reject);
    });
    expect(body.status).toBe(200);
    expect(body.type).toBe("application/x-pem-file");
    expect(body.text).toBe(readFileSync(join(home, "ca.pem"), "utf8"));
  });
});
