// What a replay prints: the divergence table, the --json document, the --dry-run plan,
// and a progress bar on a terminal.
import cliProgress from "cli-progress";
import type { StepResult } from "./compare.js";
import type { Skip, Step } from "./plan.js";

export interface ReplayReport {
  steps: StepResult[];
  diverged: number;
  skipped: Array<{ source: string; reason: string; method: string; url: string; step: number }>;
  /** Extras. */
  capture: string | null;
  session: string | null;
  selection: string;
  stopped: string | null;
  interrupted: boolean;
  dryRun: boolean;
}

export function skippedEntry(s: Skip): ReplayReport["skipped"][number] {
  return { source: s.source, reason: s.reason, method: s.method, url: s.url, step: s.index };
}

/**
 * The --json document: what it is (graphtap, version), then the contract's keys
 * (steps, diverged, skipped), extras after.
 */
export function toJson(r: ReplayReport): string {
  return `${JSON.stringify({ graphtap: "replay", version: 1, ...r, conclusion: conclusion(r) }, null, 2)}\n`;
}

const refused = (s: number | null): boolean => s === 401 || s === 403;
const allowed = (s: number | null): boolean => s !== null && s >= 200 && s < 300;

/**
 * The one line under the table: the first divergence that matters most (access gained
 * or lost beats any other difference), e.g. "recorded refused, replay allowed: step 1
 * GET /v1.0/shares/{shareId}/driveItem 401 → 200 (1 of 5 steps diverged)".
 */
export function conclusion(r: ReplayReport): string {
  const n = r.steps.length;
  if (n === 0) return "nothing was replayed";
  if (r.diverged === 0) return `no divergence: ${n === 1 ? "the step" : `all ${n} steps`} answered as recorded`;
  interface Hit { step: StepResult; what: string; recorded: number | null; replayed: number | null; rank: number }
  const hits: Hit[] = [];
  for (const s of r.steps) {
    if (!s.diverged) continue;
    const cands: Array<{ what: string; recorded: number | null; replayed: number | null }> = [];
    if (s.recorded !== s.replayed || !s.parts?.some((p) => p.diverged)) cands.push({ what: s.template, recorded: s.recorded, replayed: s.replayed });
    for (const p of s.parts ?? []) {
      if (p.diverged) cands.push({ what: `${s.template} part ${p.id}: ${p.method} ${p.url.replace(/^https?:\/\/[^/]+/, "")}`, recorded: p.recorded, replayed: p.replayed });
    }
    for (const c of cands) {
      const rank = (refused(c.recorded) && allowed(c.replayed)) || (allowed(c.recorded) && refused(c.replayed)) ? 0 : c.replayed === null ? 2 : 1;
      hits.push({ step: s, ...c, rank });
    }
  }
  const best = hits.sort((a, b) => a.rank - b.rank || a.step.step - b.step.step)[0];
  const of = `(${r.diverged} of ${n} step${n === 1 ? "" : "s"} diverged)`;
  if (!best) return `${r.diverged} of ${n} steps diverged`;
  const head =
    refused(best.recorded) && allowed(best.replayed)
      ? "recorded refused, replay allowed"
      : allowed(best.recorded) && refused(best.replayed)
        ? "recorded allowed, replay refused"
        : best.replayed === null
          ? `replay got no answer${best.step.error ? ` (${best.step.error})` : ""}`
          : "answers differ";
  return `${head}: step ${best.step.step} ${best.what} ${status(best.recorded)} → ${status(best.replayed)} ${of}`;
}

const status = (s: number | null): string => (s === null ? "—" : String(s));

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + " ".repeat(n - s.length);
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

export function formatTable(r: ReplayReport, width = 110): string {
  const lines: string[] = [];
  const tmplWidth = Math.max(30, Math.min(70, width - 60));
  lines.push(`${pad("step", 5)} ${pad("template", tmplWidth)} ${pad("recorded → replayed", 20)} ${pad("error codes", 30)}`);
  for (const s of r.steps) {
    const codes = s.recordedError || s.replayedError || s.error ? `${s.recordedError ?? "—"} → ${s.error ?? s.replayedError ?? "—"}` : "";
    const extra = [s.throttled ? `throttled ×${s.throttled}, waited ${(s.waitedMs / 1000).toFixed(1)} s` : "", s.tokenRefreshed ? "token refreshed" : ""]
      .filter(Boolean)
      .join("; ");
    lines.push(
      `${pad(String(s.step), 5)} ${pad(truncate(s.template, tmplWidth), tmplWidth)} ${pad(`${status(s.recorded)} → ${status(s.replayed)}`, 20)} ${pad(truncate(codes, 30), 30)} ${s.diverged ? "✗" : "✓"}${extra ? `  (${extra})` : ""}`,
    );
    for (const p of s.parts ?? []) {
      lines.push(`${pad("", 5)}   part ${truncate(`${p.id} ${p.method} ${p.url.replace(/^https?:\/\/[^/]+/, "")}`, tmplWidth - 8)} ${status(p.recorded)} → ${status(p.replayed)} ${p.diverged ? "✗" : "✓"}`);
    }
  }
  lines.push("", conclusion(r));
  if (r.skipped.length) {
    lines.push("", "skipped:");
    for (const k of r.skipped) lines.push(`  ${pad(String(k.step), 5)} ${k.method} ${truncate(k.url, 70)}: ${k.reason}`);
  }
  lines.push("", summaryLine(r));
  return `${lines.join("\n")}\n`;
}

export function summaryLine(r: ReplayReport): string {
  const errors = r.steps.filter((s) => s.error !== null).length;
  const parts = [
    `${r.steps.length} step${r.steps.length === 1 ? "" : "s"} replayed`,
    `${r.diverged} diverged`,
    `${r.skipped.length} skipped`,
  ];
  if (errors) parts.push(`${errors} failed to connect`);
  const throttled = r.steps.reduce((n, s) => n + s.throttled, 0);
  if (throttled) parts.push(`${throttled} throttled and retried`);
  let line = parts.join(", ");
  if (r.capture) line += `; recorded to ${r.capture} (session ${r.session})`;
  if (r.interrupted) line += "; interrupted";
  return line;
}

/** The --dry-run plan: what would be sent, where, with which token. */
export function formatPlan(steps: Step[], skipped: ReplayReport["skipped"]): string {
  const lines: string[] = [];
  for (const s of steps) {
    const where = s.sendUrl !== s.url ? `  → ${new URL(s.sendUrl).origin}` : "";
    lines.push(`${pad(String(s.index), 5)} ${pad(s.method, 6)} ${s.url}${where}  token: ${s.token ? `${s.token.description} (${s.upn ?? s.identityKey})` : "none (recorded without one)"}`);
  }
  for (const k of skipped) lines.push(`${pad(String(k.step), 5)} ${pad(k.method, 6)} ${k.url}  SKIPPED: ${k.reason}`);
  lines.push("", `dry run: ${steps.length} step${steps.length === 1 ? "" : "s"} would be sent, ${skipped.length} skipped; nothing was sent`);
  return `${lines.join("\n")}\n`;
}

/** A progress bar on stderr when it is a terminal and the trace is long; else a no-op. */
export function progressBar(total: number, stream: NodeJS.WriteStream = process.stderr): { tick(): void; stop(): void } {
  if (!stream.isTTY || total < 50) return { tick: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { stream, format: "replay [{bar}] {value}/{total} steps | {eta_formatted} left", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return { tick: () => bar.increment(), stop: () => bar.stop() };
}
