// Terminal text for sessions, list and show. Colours only when asked (a TTY without
// NO_COLOR); the words carry the meaning, colour only helps the eye.
import pc from "picocolors";
import type { SessionInfo } from "../recorder/index.js";
import { shorten } from "../console/live.js";
import { DEFAULT_GRAPH_HOSTS } from "../graph/hosts.js";
import type { BodyView } from "./body.js";
import { uniquePrefixLength, type ListRow } from "./list.js";
import type { ExchangeView } from "./show.js";

type Colors = ReturnType<typeof pc.createColors>;

export function useColor(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY === true && !process.env["NO_COLOR"];
}

function status(c: Colors, s: number | undefined, failure?: string): string {
  if (s === undefined) return c.red((failure ?? "---").padEnd(3));
  const t = String(s);
  if (s >= 500) return c.red(t);
  if (s >= 400) return c.yellow(t);
  if (s >= 300) return c.cyan(t);
  return c.green(t);
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return "";
  return `${new Date(ms).toISOString().replace("T", " ").slice(0, 19)}Z`;
}

export function renderSessions(sessions: SessionInfo[], color: boolean): string {
  const c = pc.createColors(color);
  if (sessions.length === 0) return "no sessions in this capture\n";
  const lines = sessions.map((s) => {
    const span = s.endedAt !== undefined ? `${Math.round((s.endedAt - s.startedAt) / 1000)}s` : "open";
    return [
      c.bold(s.id),
      s.kind.padEnd(6),
      duration(s.startedAt),
      span.padStart(6),
      `${s.exchanges} exchange${s.exchanges === 1 ? "" : "s"}`,
      s.tunnels ? `${s.tunnels} tunnel${s.tunnels === 1 ? "" : "s"}` : "",
      s.source ? c.dim(`from ${s.source}`) : "",
      s.label ? c.dim(s.label) : "",
    ]
      .filter(Boolean)
      .join("  ");
  });
  return `${lines.join("\n")}\n`;
}

export function renderList(
  rows: ListRow[],
  opts: { color: boolean; width?: number; /** From capturePrefixLength. */ idLength?: number },
): string {
  const c = pc.createColors(opts.color);
  if (rows.length === 0) return "no exchanges match\n";
  const idLen = Math.max(opts.idLength ?? 0, uniquePrefixLength(rows.map((r) => r.id)));
  const who = Math.min(32, Math.max(9, ...rows.map((r) => (r.upn ?? r.identityKey ?? "").length)));
  const width = Math.max(40, (opts.width ?? 120) - idLen - who - 45);
  const lines = rows.map((r) => {
    // A Graph call reads best as its template; anything else as host and path.
    const what = isGraphUrl(r.url) ? r.template.slice(r.method.length + 1) : r.url.replace(/^https?:\/\//, "");
    return [
      c.bold(r.id.slice(0, idLen)),
      c.dim(r.time.slice(11, 23)),
      // The start of a UPN names the person (a guest's ends in #EXT#@host-tenant).
      clip(r.upn ?? r.identityKey ?? "-", who).padEnd(who),
      r.method.padEnd(6),
      status(c, r.status, r.failure) + batchStatuses(c, r.batch),
      shorten(what, width),
      c.dim(`${Math.round(r.durationMs)}ms`),
      r.errorCode ? c.yellow(r.errorCode) : "",
    ]
      .filter(Boolean)
      .join(" ");
  });
  return `${lines.join("\n")}\n`;
}

/** ` [batch: 200, 403]`: the parts of a $batch envelope, so a refused part is not hidden. */
function batchStatuses(c: Colors, parts: ListRow["batch"]): string {
  if (!parts || parts.length === 0) return "";
  return ` [batch: ${parts.map((p) => (p === null ? c.red("---") : status(c, p))).join(", ")}]`;
}

function clip(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, width - 1)}…`;
}

function headers(c: Colors, list: Array<[string, string]>): string[] {
  return list.map(([k, v]) => `  ${c.cyan(k)}: ${v}`);
}

function body(c: Colors, b: BodyView): string[] {
  if (b.kind === "none") return [c.dim("  (no body)")];
  const note: string[] = [];
  if (b.truncated) note.push(c.yellow(`  [truncated: kept ${b.bytes} bytes of ${b.wireSize} on the wire]`));
  if (b.kind === "binary") return [`  ${c.dim(b.text)}`, ...note];
  return [...b.text.split("\n").map((l) => `  ${l}`), ...note];
}

export function renderShow(v: ExchangeView, color: boolean): string {
  const c = pc.createColors(color);
  const out: string[] = [];
  out.push(`${c.bold(v.method)} ${v.url}`);
  out.push(
    c.dim(
      `exchange ${v.id}  session ${v.sessionId}  ${v.time}  ${Math.round(v.durationMs)}ms` +
        (v.ttfbMs !== undefined ? ` (first byte ${Math.round(v.ttfbMs)}ms)` : ""),
    ),
  );
  out.push(c.dim(`template ${v.template}`));
  if (v.parentId) out.push(c.dim(`part of $batch ${v.parentId}`));
  if (v.sourceId) out.push(c.dim(`replay of ${v.sourceId}`));
  if (v.upstreamUrl) out.push(c.dim(`sent to ${v.upstreamUrl}`));

  const g = v.graph;
  const facts: Array<[string, string | undefined]> = [
    ["request-id", g.requestId],
    ["client-request-id", g.clientRequestId],
    ["error code", g.errorCode ? `${g.errorCode}${g.innerErrorCode ? ` (inner ${g.innerErrorCode})` : ""}` : undefined],
    ["error message", g.errorMessage],
    ["error date", g.errorDate],
    ["diagnostic", g.diagnostic ? diagnosticText(g.diagnostic as unknown as Record<string, unknown>) : undefined],
    ["auth error", g.authError],
    ["claims challenge", g.claimsChallenge],
  ];
  const present = facts.filter((f): f is [string, string] => f[1] !== undefined);
  if (present.length) {
    out.push("", c.bold("Graph"));
    for (const [k, val] of present) out.push(`  ${k.padEnd(18)} ${val}`);
  }

  const id = v.identity;
  out.push("", c.bold("Identity"));
  out.push(`  ${id.upn ?? id.key}${id.guest ? c.yellow(" (guest)") : ""}  ${c.dim(`${id.kind} ${id.key}`)}`);
  if (id.tokenHash) out.push(`  token ${id.tokenHash}`);
  if (id.claims && Object.keys(id.claims).length) {
    for (const [k, val] of Object.entries(id.claims)) out.push(`  ${c.dim(k.padEnd(18))} ${formatClaim(k, val)}`);
  }

  out.push("", c.bold(`Request  ${v.method} ${v.url} HTTP/${v.httpVersion}`), ...headers(c, v.request.headers), "", ...body(c, v.request.body));
  if (v.status !== undefined) {
    out.push("", c.bold(`Response ${status(c, v.status)} ${v.statusText ?? ""}`.trimEnd()), ...headers(c, v.response.headers), "", ...body(c, v.response.body));
  } else {
    out.push("", c.red(`No response: ${v.error?.code ?? "unknown"} during ${v.error?.phase ?? "?"}: ${v.error?.message ?? ""}`));
  }
  return `${out.join("\n")}\n`;
}

/** The parsed x-ms-ags-diagnostic fields (the raw header is in the response headers). */
function diagnosticText(d: Record<string, unknown>): string {
  return Object.entries(d)
    .filter(([k, v]) => k !== "raw" && v !== undefined)
    .map(([k, v]) => `${k} ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ");
}

function formatClaim(name: string, value: unknown): string {
  if ((name === "iat" || name === "nbf" || name === "exp") && typeof value === "number") {
    return `${value} (${new Date(value * 1000).toISOString()})`;
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

const GRAPH_HOSTS = new Set<string>(DEFAULT_GRAPH_HOSTS);

function isGraphUrl(url: string): boolean {
  const host = /^https?:\/\/([^/:?#]+)/i.exec(url)?.[1]?.toLowerCase();
  return host !== undefined && GRAPH_HOSTS.has(host);
}
