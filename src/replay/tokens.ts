// Where replay gets its bearer tokens: a literal, a file, an environment variable or a
// command (az, a script). Tokens live in memory only; what is shown or stored is the
// source's description and the token's hash.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { UserError } from "../errors.js";
import { decodeJwtClaims } from "../graph/token.js";
import type { TokenSpec } from "./map.js";

/** Re-run a command when its token has less than this left. */
export const REFRESH_MARGIN_MS = 5 * 60_000;
const COMMAND_TIMEOUT_MS = 120_000;

export type TokenOrigin =
  | { kind: "literal" }
  | { kind: "env"; name: string }
  | { kind: "file"; path: string }
  | { kind: "cmd"; command: string };

export function describeOrigin(o: TokenOrigin): string {
  switch (o.kind) {
    case "literal":
      return "--token";
    case "env":
      return `env:${o.name}`;
    case "file":
      return `file:${o.path}`;
    case "cmd":
      return `cmd:${o.command}`;
  }
}

export function originOfSpec(spec: TokenSpec): TokenOrigin {
  const colon = spec.indexOf(":");
  const kind = spec.slice(0, colon);
  const rest = spec.slice(colon + 1).trim();
  if (kind === "env") return { kind: "env", name: rest };
  if (kind === "file") return { kind: "file", path: rest };
  return { kind: "cmd", command: rest };
}

/** One place a token comes from; fetched lazily, cached, refreshed near expiry. */
export class TokenSource {
  private token: string | undefined;
  private expMs: number | undefined;
  private inflight: Promise<string> | undefined;
  /** How many times the token was (re)fetched. */
  fetches = 0;

  constructor(
    readonly origin: TokenOrigin,
    private readonly literal?: string,
    private readonly now: () => number = Date.now,
  ) {}

  get description(): string {
    return describeOrigin(this.origin);
  }

  /** True when a fresh token can be had by asking again (not a literal). */
  get refreshable(): boolean {
    return this.origin.kind !== "literal";
  }

  /** The current token, re-fetched when it is within five minutes of its exp. */
  async get(): Promise<string> {
    if (this.token !== undefined && (this.expMs === undefined || this.expMs - this.now() > REFRESH_MARGIN_MS)) return this.token;
    return this.fetch();
  }

  /** A new token now (after a claims challenge); `claims` is handed to a command as GRAPHTAP_CLAIMS. */
  async refresh(claims?: string): Promise<string> {
    return this.fetch(claims);
  }

  private fetch(claims?: string): Promise<string> {
    this.inflight ??= (async () => {
      try {
        const token = await this.read(claims);
        this.fetches++;
        this.token = token;
        const exp = decodeJwtClaims(token)["exp"];
        this.expMs = typeof exp === "number" && Number.isFinite(exp) ? exp * 1000 : undefined;
        return token;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }

  private async read(claims: string | undefined): Promise<string> {
    const o = this.origin;
    let raw: string;
    if (o.kind === "literal") raw = this.literal ?? "";
    else if (o.kind === "env") {
      const v = process.env[o.name];
      if (v === undefined) throw new UserError(`token ${this.description}: the environment variable ${o.name} is not set`);
      raw = v;
    } else if (o.kind === "file") {
      try {
        raw = readFileSync(o.path, "utf8");
      } catch (err) {
        throw new UserError(`token ${this.description}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? "error"})`);
      }
    } else raw = await runTokenCommand(o.command, claims);
    const token = cleanToken(raw);
    if (token === "") throw new UserError(`token ${this.description}: it is empty`);
    if (/\s/.test(token)) throw new UserError(`token ${this.description}: not one token (it has spaces or several lines)`);
    return token;
  }
}

/** `Bearer x` and surrounding blank lines are tolerated; one token remains. */
function cleanToken(raw: string): string {
  return raw.trim().replace(/^bearer\s+/i, "");
}

/** Runs a command in a shell; its stdout is the token. */
export function runTokenCommand(command: string, claims?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    if (claims !== undefined) env["GRAPHTAP_CLAIMS"] = claims;
    const child = spawn(command, { shell: true, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), COMMAND_TIMEOUT_MS);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new UserError(`token command "${command}" could not start: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const first = stderr.split(/\r?\n/).map((l) => l.trim()).find((l) => l !== "");
      const status = code === null ? `was killed (${signal ?? "timeout"})` : `failed with exit code ${code}`;
      reject(new UserError(`token command "${command}" ${status}${first ? `: ${first}` : ""}`));
    });
  });
}

export interface TokenFlags {
  token?: string;
  tokenFile?: string;
  tokenCmd?: string;
}

/**
 * Which source serves which recorded identity: a map-file entry for its key or upn
 * (case-insensitive), else the one from the flags. One TokenSource per distinct
 * origin, so a command shared by two identities runs once.
 */
export class TokenBook {
  private readonly sources = new Map<string, TokenSource>();
  private readonly byName = new Map<string, TokenSource>();
  readonly fallback: TokenSource | undefined;

  constructor(flags: TokenFlags, perIdentity: Record<string, TokenSpec>, now?: () => number) {
    const given = [flags.token, flags.tokenFile, flags.tokenCmd].filter((x) => x !== undefined).length;
    if (given > 1) throw new UserError("give at most one of --token, --token-file and --token-cmd");
    if (flags.token !== undefined) this.fallback = new TokenSource({ kind: "literal" }, flags.token, now);
    else if (flags.tokenFile !== undefined) this.fallback = this.shared({ kind: "file", path: flags.tokenFile }, now);
    else if (flags.tokenCmd !== undefined) this.fallback = this.shared({ kind: "cmd", command: flags.tokenCmd }, now);
    for (const [name, spec] of Object.entries(perIdentity)) this.byName.set(name.toLowerCase(), this.shared(originOfSpec(spec), now));
  }

  private shared(origin: TokenOrigin, now?: () => number): TokenSource {
    const key = describeOrigin(origin);
    let s = this.sources.get(key);
    if (!s) this.sources.set(key, (s = new TokenSource(origin, undefined, now)));
    return s;
  }

  /** The source for an identity (by key, then upn), or undefined when there is none. */
  sourceFor(identityKey: string, upn: string | undefined): TokenSource | undefined {
    return this.byName.get(identityKey.toLowerCase()) ?? (upn ? this.byName.get(upn.toLowerCase()) : undefined) ?? this.fallback;
  }

  /** Map entries that named no identity of the selection (likely a typo). */
  unused(used: Iterable<TokenSource>): string[] {
    const set = new Set(used);
    return [...this.byName.entries()].filter(([, s]) => !set.has(s)).map(([name]) => name);
  }
}
