// Which hosts graphtap decrypts, and where their traffic really goes.
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { createSecureContext, rootCertificates, type SecureContext } from "node:tls";
import { UserError } from "../errors.js";

/** `graph.microsoft.com` matches itself; `*.sharepoint.com` matches any subdomain. */
export class InterceptList {
  private readonly exact = new Set<string>();
  private readonly suffixes: string[] = [];

  constructor(readonly patterns: readonly string[]) {
    for (const raw of patterns) {
      const p = raw.trim().toLowerCase();
      if (!p) continue;
      if (p.startsWith("*.")) this.suffixes.push(p.slice(1));
      else this.exact.add(p);
    }
  }

  matches(host: string): boolean {
    const h = host.toLowerCase().replace(/\.$/, "");
    return this.exact.has(h) || this.suffixes.some((s) => h.endsWith(s));
  }
}

export interface UpstreamTarget {
  /** e.g. https://127.0.0.1:9443 (a path prefix is kept). */
  url: URL;
}

/** Parses repeated `HOST=URL` values; a bad one is a UserError naming it. */
export function parseUpstreams(values: readonly string[]): Map<string, UpstreamTarget> {
  const map = new Map<string, UpstreamTarget>();
  for (const value of values) {
    const eq = value.indexOf("=");
    const host = eq > 0 ? value.slice(0, eq).trim().toLowerCase() : "";
    const target = eq > 0 ? value.slice(eq + 1).trim() : "";
    if (!host || !target || /[\s/:]/.test(host)) {
      throw new UserError(`bad --upstream "${value}": expected HOST=URL, e.g. graph.microsoft.com=https://127.0.0.1:9443`);
    }
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      throw new UserError(`bad --upstream "${value}": "${target}" is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      throw new UserError(`bad --upstream "${value}": only http:// and https:// upstreams are supported`);
    }
    map.set(host, { url });
  }
  return map;
}

/** Splits a CONNECT target `host:port` / `[v6]:port`; undefined when malformed. */
export function parseConnectTarget(target: string | undefined): { host: string; port: number } | undefined {
  if (!target) return undefined;
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(target) ?? /^([A-Za-z0-9._-]+):(\d{1,5})$/.exec(target);
  if (!m) return undefined;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  if (m[0].startsWith("[") && isIP(host) !== 6) return undefined;
  return { host: host.toLowerCase(), port };
}

/** The PEM files of repeated `--upstream-ca` flags; a missing or non-PEM file is a UserError. */
export function readUpstreamCa(files: readonly string[]): string[] {
  return files.map((file) => {
    let pem: string;
    try {
      pem = readFileSync(file, "utf8");
    } catch (err) {
      throw new UserError(`cannot read --upstream-ca ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new UserError(`--upstream-ca ${file} is not a PEM certificate`);
    return pem;
  });
}

/**
 * What upstream TLS is verified against when extra CAs are given: the system roots stay
 * trusted too (real Graph next to a staging host). One context, built once: a per-request
 * `ca` option would make an agent re-parse, and key its pool by, every root each time.
 */
export function upstreamSecureContext(extraCa: readonly string[] | undefined): SecureContext | undefined {
  return extraCa?.length ? createSecureContext({ ca: [...rootCertificates, ...extraCa] }) : undefined;
}
