// The live console: a listener on the proxy's events, like the recorder. One line per
// exchange while the proxy runs, and a summary when it stops.
import type { EventEmitter } from "node:events";
import pc from "picocolors";
import type { Exchange, TunnelRecord } from "../exchange/types.js";
import { FlipFinder, type FoundFlip } from "../analyze/flips.js";
import { callOf } from "../analyze/inputs.js";
import { logicalExchanges } from "../graph/batch.js";
import { upnOf } from "../graph/identity.js";

export interface ConsoleOptions {
  out: NodeJS.WritableStream;
  color: boolean;
  /** Width the URL is shortened to. */
  urlWidth?: number;
  /** Report flips (refused, then allowed) the moment they happen (default true). */
  flips?: boolean;
}

interface Tally {
  exchanges: number;
  byClass: Map<string, number>;
  errorCodes: Map<string, number>;
  upstreamErrors: number;
  tunnels: number;
  tunnelFailures: number;
  handshakeFailures: number;
  hosts: Set<string>;
}

export class LiveConsole {
  private readonly c: ReturnType<typeof pc.createColors>;
  private readonly tally: Tally = {
    exchanges: 0,
    byClass: new Map(),
    errorCodes: new Map(),
    upstreamErrors: 0,
    tunnels: 0,
    tunnelFailures: 0,
    handshakeFailures: 0,
    hosts: new Set(),
  };

  /** Spots flips as they happen; the full ranking is analyze's job. */
  private readonly finder: FlipFinder | undefined;
  private flipsSeen = 0;

  constructor(private readonly opts: ConsoleOptions) {
    this.c = pc.createColors(opts.color);
    if (opts.flips !== false) this.finder = new FlipFinder({ maxBetween: 20, keepFlips: false, onFlip: (f) => this.flip(f) });
  }

  attach(source: EventEmitter): () => void {
    const onExchange = (ex: Exchange) => this.exchange(ex);
    const onTunnel = (t: TunnelRecord) => this.tunnel(t);
    source.on("exchange", onExchange);
    source.on("tunnel", onTunnel);
    return () => {
      source.off("exchange", onExchange);
      source.off("tunnel", onTunnel);
    };
  }

  private readonly upns = new Map<string, string>();

  exchange(ex: Exchange): void {
    const t = this.tally;
    // Graph fields and identity once per exchange: the flip finder's call carries the
    // error code the line shows. Without the finder only failures are parsed.
    const call = this.finder || (ex.status ?? 0) >= 400 ? callOf(ex, 0) : undefined;
    t.exchanges += 1;
    const url = new URL(ex.url);
    t.hosts.add(url.host);
    const cls = ex.status ? `${Math.floor(ex.status / 100)}xx` : "no response";
    t.byClass.set(cls, (t.byClass.get(cls) ?? 0) + 1);
    const code = ex.status && ex.status >= 400 ? call?.errorCode : undefined;
    if (code) t.errorCodes.set(code, (t.errorCodes.get(code) ?? 0) + 1);
    if (ex.error && ex.error.phase !== "client") t.upstreamErrors += 1;
    const status = ex.status ? this.colorStatus(ex.status) : this.c.red(ex.error?.code ?? "---");
    const line = [
      this.c.dim(clock(ex.startedAt)),
      ex.method.padEnd(6),
      status,
      shorten(`${url.host}${url.pathname}${url.search}`, this.opts.urlWidth ?? 72),
      this.c.dim(`${Math.round(ex.durationMs)}ms`),
      code ? this.c.yellow(code) : "",
      ex.error ? this.c.red(ex.error.phase === "client" ? "client aborted" : ex.error.code) : "",
    ]
      .filter(Boolean)
      .join(" ");
    this.opts.out.write(`${line}\n`);
    if (this.finder && call) {
      const upn = ex.token ? upnOf(ex.token.claims) : undefined;
      if (upn) this.upns.set(call.identityKey, upn);
      // An ordinary exchange is its own one logical part: its call is already made.
      for (const part of logicalExchanges([ex])) this.finder.push(part === ex ? call : callOf(part, 0));
    }
  }

  /** One highlighted line: what flipped, for whom, and what came in between. */
  private flip(f: FoundFlip): void {
    this.flipsSeen += 1;
    const upn = this.upns.get(f.identityKey) ?? f.identityKey;
    const why =
      f.explanation === "token-refresh"
        ? "with a new token"
        : f.explanation === "retry"
          ? `on a plain retry after ${f.waitSeconds.toFixed(1)} s`
          : `after ${[...new Map(f.between.map((b) => [b.template, b.status])).entries()]
              .slice(-3)
              .map(([t, st]) => `${t} (${st ?? "no answer"})`)
              .join(", ")}`;
    const failed = `${f.failure.status}${f.failure.errorCode ? ` ${f.failure.errorCode}` : ""}`;
    this.opts.out.write(
      `${this.c.magenta(this.c.bold("▶ flip"))} ${f.template} ${this.c.yellow(failed)} → ${this.c.green(String(f.success.status))} for ${upn} ${why}\n`,
    );
  }

  tunnel(t: TunnelRecord): void {
    if (t.error?.phase === "tls") {
      // An intercepted host whose TLS handshake failed: not a blind tunnel.
      this.tally.handshakeFailures += 1;
      this.opts.out.write(`${this.c.dim(clock(t.startedAt))} CONNECT ${t.host}:${t.port} ${this.c.red(t.error.code)}\n`);
      return;
    }
    this.tally.tunnels += 1;
    if (t.error) this.tally.tunnelFailures += 1;
    const what = t.error ? this.c.red(t.error.code) : this.c.dim(`tunnel ${t.bytesUp}↑ ${t.bytesDown}↓ bytes`);
    this.opts.out.write(`${this.c.dim(clock(t.startedAt))} CONNECT ${t.host}:${t.port} ${what}\n`);
  }

  summary(captureFile?: string): string {
    const t = this.tally;
    const classes = [...t.byClass.entries()].sort().map(([k, v]) => `${k} ${v}`).join(", ");
    const codes = [...t.errorCodes.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ×${v}`);
    const lines = [
      `graphtap: ${t.exchanges} exchange${t.exchanges === 1 ? "" : "s"} recorded${classes ? ` (${classes})` : ""}` +
        `, ${t.tunnels} blind tunnel${t.tunnels === 1 ? "" : "s"}${t.tunnelFailures ? ` (${t.tunnelFailures} failed)` : ""}`,
    ];
    if (codes.length) lines.push(`  Graph error codes: ${codes.join(", ")}`);
    if (t.upstreamErrors) lines.push(`  upstream errors: ${t.upstreamErrors}`);
    if (t.handshakeFailures) {
      lines.push(`  TLS handshakes refused by the client: ${t.handshakeFailures} (does it trust graphtap's CA? graphtap ca prints its path)`);
    }
    if (this.flipsSeen) {
      lines.push(`  flips seen: ${this.flipsSeen} (refused, then allowed); graphtap analyze ranks what caused them`);
    }
    if (captureFile) lines.push(`  capture: ${captureFile}`, `  next: graphtap analyze ${captureFile}`);
    return lines.join("\n");
  }

  private colorStatus(status: number): string {
    const s = String(status);
    if (status >= 500) return this.c.red(s);
    if (status >= 400) return this.c.yellow(s);
    if (status >= 300) return this.c.cyan(s);
    return this.c.green(s);
  }
}

function clock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 23);
}

/** Keeps the start and the end of a long URL: the end names the resource. */
export function shorten(s: string, width: number): string {
  if (s.length <= width) return s;
  const head = Math.ceil((width - 1) * 0.55);
  const tail = width - 1 - head;
  return `${s.slice(0, head)}…${s.slice(s.length - tail)}`;
}
