// The human report: the answer first (one sentence), then the ranking, then each flip
// as a short timeline, then what to paste into a Microsoft support ticket.
import pc from "picocolors";
import { duration, who, type AnalysisDoc, type BetweenDoc, type CallDoc, type FlipDoc, type NeverRecoveredDoc } from "./analysis.js";

export interface TextOptions {
  color: boolean;
  /** Flips shown as timelines and evidence (default 20); all are in --json. */
  maxFlips?: number;
  /** Window calls shown per timeline (default 8, the ones closest to the success). */
  maxWindowLines?: number;
  /** Never-recovered resources listed (default 10); all are in --json. */
  maxNeverRecovered?: number;
}

type Colors = ReturnType<typeof pc.createColors>;

export function renderText(doc: AnalysisDoc, opts: TextOptions): string {
  const c = pc.createColors(opts.color);
  const maxFlips = opts.maxFlips ?? 20;
  const out: string[] = [];
  const inputs = doc.inputs.map((i) => `${i.file} (${i.kind})`).join(", ");
  out.push(c.bold(`graphtap analyze: ${exchangeCount(doc)} from ${inputs}`));
  if (doc.filters) out.push(`only ${filterText(doc.filters)}`);
  const span = doc.firstAt && doc.lastAt ? `, ${doc.firstAt} → ${doc.lastAt}` : "";
  out.push(`${n(doc.identities)} ${plural(doc.identities, "identity", "identities")}, ${n(doc.refusals)} refusals (401/403)${span}`);
  const e = doc.summary.byExplanation;
  out.push(
    `${n(doc.summary.flips)} ${plural(doc.summary.flips, "flip", "flips")} (refused, then succeeded): ` +
      `${e.catalyst} after a catalyst call, ${e["token-refresh"]} after a token refresh, ${e.retry} on a plain retry; ` +
      `${n(doc.summary.neverRecovered)} refused ${plural(doc.summary.neverRecovered, "resource", "resources")} never recovered${doc.neverRecovered.length ? " (listed below)" : ""}`,
  );
  out.push("");
  if (doc.summary.headline) out.push(c.bold(c.yellow(`▶ ${doc.summary.headline}.`)));
  else out.push("No flips: no identity was refused a resource and later given it.");

  if (doc.catalysts.length > 0) {
    out.push("", c.bold("Catalysts, best first (score = support × precision; see --json for all):"));
    const r0 = doc.catalysts[0]!;
    out.push(c.dim(`  precision = (flips + 1) / (flips + stayed-failed + 2), smoothed; #1: (${r0.flips} + 1) / (${r0.flips} + ${r0.failWindows} + 2) = ${r0.precision.toFixed(2)}`));
    const w = Math.min(70, Math.max(...doc.catalysts.slice(0, 10).map((r) => r.template.length)));
    doc.catalysts.slice(0, 10).forEach((r, i) => {
      out.push(
        `  ${String(i + 1).padStart(2)}. ${r.template.padEnd(w)}  in ${r.flips} flip ${plural(r.flips, "window", "windows")} ` +
          `(support ${pct(r.support)}), ${r.failWindows} stayed-failed, score ${r.score.toFixed(2)}` +
          `${r.statuses.length ? `, answered ${r.statuses.join("/")}` : ""}${r.attributed ? c.green(`, named for ${r.attributed}`) : ""}`,
      );
    });
  }

  if (doc.neverRecovered.length > 0) {
    const max = opts.maxNeverRecovered ?? 10;
    out.push("", c.bold(`Never recovered (refused, and still refused when the ${doc.inputs.length === 1 ? "input" : "inputs"} ended):`));
    for (const u of doc.neverRecovered.slice(0, max)) out.push(...neverLines(u, c));
    if (doc.neverRecovered.length > max) out.push(c.dim(`  … ${doc.neverRecovered.length - max} more (graphtap analyze --json lists them all)`));
  }

  const shown = doc.flips.slice(0, maxFlips);
  shown.forEach((f, i) => out.push("", ...timeline(f, i, doc.flips.length, c, opts.maxWindowLines ?? 8)));
  if (doc.flips.length > shown.length) out.push("", c.dim(`… ${doc.flips.length - shown.length} more flips (graphtap analyze --json lists them all)`));

  if (shown.length > 0) {
    out.push("", c.bold("Evidence for support (the failing and the succeeding call of each flip):"));
    shown.forEach((f, i) => {
      out.push(`  flip ${i + 1}: ${f.template} for ${who(f.identity)} (${f.identity.key})`);
      out.push(evidence("failing   ", f.failure));
      if (f.catalystCall) out.push(`    catalyst   ${f.catalystCall.time}  ${status(f.catalystCall.status, f.catalystCall.errorCode)}  ${f.catalystCall.template}  request-id ${f.catalystCall.requestId ?? "-"}`);
      out.push(evidence("succeeding", f.success));
    });
  }
  return `${out.join("\n")}\n`;
}

/** "16 exchanges (15 recorded; $batch parts counted one each)", or "15 exchanges" when both agree. */
export function exchangeCount(doc: AnalysisDoc): string {
  const head = `${n(doc.exchanges)} ${plural(doc.exchanges, "exchange", "exchanges")}`;
  return doc.recorded === doc.exchanges ? head : `${head} (${n(doc.recorded)} recorded; $batch parts counted one each)`;
}

export function filterText(f: NonNullable<AnalysisDoc["filters"]>): string {
  const parts: string[] = [];
  if (f.sessions) parts.push(`${plural(f.sessions.length, "session", "sessions")} ${f.sessions.join(", ")}`);
  if (f.identity !== null) parts.push(`identity ${f.identity}${f.identityKeys ? ` (${f.identityKeys.join(", ")})` : ""}`);
  if (f.since !== null) parts.push(`since ${f.since}`);
  if (f.until !== null) parts.push(`until ${f.until}`);
  return parts.join(", ");
}

function neverLines(u: NeverRecoveredDoc, c: Colors): string[] {
  const times = u.refusals === 1 ? "once" : `${u.refusals} times`;
  const when = u.firstAt === u.lastAt ? `at ${u.firstAt}` : `${u.firstAt} → ${u.lastAt}`;
  return [
    `  ${u.template} for ${who(u.identity)} (${u.identity.key}): ${c.red(status(u.status, u.errorCode))}, refused ${times}, ${when}, last request-id ${u.lastRequestId ?? "-"}`,
    `    ${c.dim(u.resource)}`,
  ];
}

function timeline(f: FlipDoc, i: number, total: number, c: Colors, maxLines: number): string[] {
  const head =
    f.explanation === "catalyst"
      ? `catalyst: ${f.catalyst ?? "(none ranked)"}`
      : f.explanation === "retry"
        ? `retry: nothing called in between, waited ${duration(f.waitSeconds)}`
        : `token refresh: ${f.tokenChange?.length ? f.tokenChange.map((t) => t.claim).join(", ") : "a different token"} changed`;
  const lines = [c.bold(`Flip ${i + 1} of ${total} — ${head}`)];
  lines.push(`  ${who(f.identity)}  ${c.dim(f.identity.key)}`);
  lines.push(`  ${f.resource}`);
  const t0 = Date.parse(f.failure.time);
  const at = (iso: string) => {
    const d = (Date.parse(iso) - t0) / 1000;
    return (d === 0 ? "" : `+${duration(d).replace(" ", "")}`).padStart(9);
  };
  if (f.failure.refusals > 1) {
    lines.push(`  ${c.dim(`${f.failure.refusals} refusals since ${f.failure.failingSince} (${duration((t0 - Date.parse(f.failure.failingSince)) / 1000)} before the last)`)}`);
  }
  lines.push(`  ${clock(f.failure.time)} ${"".padStart(9)}  ${c.red(status(f.failure.status, f.failure.errorCode).padEnd(22))} ${f.template}  ${rid(f.failure.requestId, c)}`);
  const shown = f.between.slice(-maxLines);
  const hidden = f.betweenCount - shown.length;
  if (hidden > 0) lines.push(`  ${"".padStart(12)} ${"".padStart(9)}  ${c.dim(`… ${hidden} earlier ${plural(hidden, "call", "calls")} in between`)}`);
  for (const b of shown) lines.push(windowLine(b, f, at, c));
  lines.push(`  ${clock(f.success.time)} ${at(f.success.time)}  ${c.green(status(f.success.status, null).padEnd(22))} ${f.template}  ${rid(f.success.requestId, c)}`);
  if (f.tokenChange && f.tokenChange.length > 0) {
    for (const t of f.tokenChange.slice(0, 6)) lines.push(`  ${c.dim(`token ${t.claim}: ${show(t.before)} → ${show(t.after)}`)}`);
  }
  if (f.warmFor !== null) {
    lines.push(
      f.warmEndedBy === "failure"
        ? `  ${c.green(`warm for ${duration(f.warmFor)}`)} (${f.warmCalls} ${plural(f.warmCalls, "success", "successes")}), then refused again at ${f.warmEndedAt?.time ?? "?"} (${status(f.warmEndedAt?.status ?? null, f.warmEndedAt?.errorCode ?? null)})`
        : `  ${c.green(`warm for ${duration(f.warmFor)}`)} (${f.warmCalls} ${plural(f.warmCalls, "success", "successes")}), still working when the capture ended`,
    );
  }
  return lines;
}

function windowLine(b: BetweenDoc, f: FlipDoc, at: (iso: string) => string, c: Colors): string {
  const isCatalyst = f.catalystCall?.exchangeId === b.exchangeId;
  const st = status(b.status, b.errorCode).padEnd(22);
  const colored = b.status !== null && b.status >= 200 && b.status < 300 ? c.dim(st) : c.yellow(st);
  const mark = isCatalyst ? c.magenta(" ◀ catalyst") : "";
  return `  ${clock(b.time)} ${at(b.time)}  ${colored} ${isCatalyst ? c.bold(b.template) : b.template}${mark}  ${rid(b.requestId, c)}`;
}

function evidence(label: string, d: CallDoc): string {
  const parts = [
    `    ${label} ${d.time}`,
    status(d.status, d.errorCode),
    `request-id ${d.requestId ?? "-"}`,
    `client-request-id ${d.clientRequestId ?? "-"}`,
    `data centre ${d.dataCenter ?? "-"}`,
    `scale unit ${d.scaleUnit ?? "-"}`,
  ];
  if (d.serverDate) parts.push(`date ${d.serverDate}`);
  if (d.innerErrorCode && d.innerErrorCode !== d.errorCode) parts.push(`inner ${d.innerErrorCode}`);
  return parts.join("  ");
}

function status(s: number | null, code: string | null): string {
  return `${s ?? "no response"}${code ? ` ${code}` : ""}`;
}

function rid(id: string | null, c: Colors): string {
  return id ? c.dim(`request-id ${id}`) : "";
}

/** HH:MM:SS.mmm in UTC; the evidence block has the full ISO stamps. */
function clock(iso: string): string {
  return `${iso.slice(11, 23)}Z`;
}

function show(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v) ?? "undefined";
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
}

function n(x: number): string {
  return x.toLocaleString("en-US");
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

function plural(k: number, one: string, many: string): string {
  return k === 1 ? one : many;
}
