// `graphtap analyze --html OUT`: one self-contained page (inline CSS and SVG, no
// scripts, no external assets) that can be attached to a ticket. Each flip is a
// swim-lane picture: the refused resource on top (refusals red, the success green),
// the calls made in between below it (grey when they succeeded, amber when not), the
// catalyst lane highlighted, and the warm period that followed shaded to the right.
import { duration, who, type AnalysisDoc, type BetweenDoc, type FlipDoc } from "./analysis.js";
import { exchangeCount, filterText } from "./report-text.js";

export interface HtmlOptions {
  /** Flips drawn (default 50); all are in --json. */
  maxFlips?: number;
}

const W = 980;
const LABEL_W = 300;
const WINDOW_W = 470;
const WARM_W = W - LABEL_W - WINDOW_W - 20;
const LANE_H = 26;
const TOP = 34;
const MAX_LANES = 7;

export function renderHtml(doc: AnalysisDoc, opts: HtmlOptions = {}): string {
  const maxFlips = opts.maxFlips ?? 50;
  const flips = doc.flips.slice(0, maxFlips);
  const e = doc.summary.byExplanation;
  const parts: string[] = [];
  parts.push(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>graphtap analyze — ${esc(doc.summary.headline ?? "no flips")}</title>
<style>${CSS}</style></head><body>
<header><h1>graphtap analyze</h1>
<p class="meta">${esc(exchangeCount(doc))} from ${doc.inputs.map((i) => `<code>${esc(i.file)}</code> (${i.kind})`).join(", ")}
${doc.firstAt ? ` · ${esc(doc.firstAt)} → ${esc(doc.lastAt ?? "")}` : ""}${doc.filters ? ` · only ${esc(filterText(doc.filters))}` : ""}</p></header>
<section class="headline">${doc.summary.headline ? `<p>${esc(doc.summary.headline)}.</p>` : "<p>No flips: no identity was refused a resource and later given it.</p>"}</section>
<section class="cards">
${card(doc.summary.flips, "flips")}${card(e.catalyst, "after a catalyst")}${card(e["token-refresh"], "after a token refresh")}${card(e.retry, "on a plain retry")}${card(doc.identities, "identities")}${card(doc.refusals, "refusals")}${card(doc.summary.neverRecovered, "never recovered")}
</section>`);

  if (doc.catalysts.length > 0) {
    parts.push(`<section><h2>Catalysts, best first</h2>
<p class="note">score = support × precision, precision = (flips + 1) / (flips + stayed-failed + 2). A call that also appears between refusals that stayed refusals is not what fixes them.</p>
<table><thead><tr><th>#</th><th>template</th><th>flip windows</th><th>support</th><th>stayed-failed</th><th>score</th><th>answered</th><th>named for</th></tr></thead><tbody>
${doc.catalysts
  .slice(0, 15)
  .map(
    (r, i) => `<tr${i === 0 && r.attributed > 0 ? ' class="top"' : ""}><td>${i + 1}</td><td><code>${esc(r.template)}</code></td><td>${r.flips}</td><td>${pct(r.support)}</td><td>${r.failWindows}</td>
<td><svg width="110" height="12" role="img" aria-label="score ${r.score.toFixed(2)}"><rect width="100" height="10" y="1" fill="#eee"/><rect width="${(r.score * 100).toFixed(1)}" height="10" y="1" fill="${i === 0 ? "#7c3aed" : "#a5b4fc"}"/></svg> ${r.score.toFixed(2)}</td>
<td>${r.statuses.join(", ")}</td><td>${r.attributed || ""}</td></tr>`,
  )
  .join("\n")}
</tbody></table></section>`);
  }

  if (doc.neverRecovered.length > 0) {
    const shown = doc.neverRecovered.slice(0, 100);
    parts.push(`<section><h2>Never recovered</h2>
<p class="note">Refused, and still refused when the input ended: no later 2xx for the same identity and resource.</p>
<table class="never"><thead><tr><th>identity</th><th>template</th><th>status</th><th>refusals</th><th>first (UTC)</th><th>last (UTC)</th><th>last request-id</th></tr></thead><tbody>
${shown
  .map(
    (u) => `<tr><td>${esc(who(u.identity))}<br><span class="dim">${esc(u.identity.key)}</span></td><td><code>${esc(u.template)}</code><br><span class="resource">${esc(u.resource)}</span></td><td class="red-text">${u.status ?? "-"}${u.errorCode ? ` ${esc(u.errorCode)}` : ""}</td><td>${u.refusals}</td><td><code>${esc(u.firstAt)}</code></td><td><code>${esc(u.lastAt)}</code></td><td><code>${esc(u.lastRequestId ?? "-")}</code></td></tr>`,
  )
  .join("\n")}
</tbody></table>${doc.neverRecovered.length > shown.length ? `<p class="note">… ${doc.neverRecovered.length - shown.length} more in <code>graphtap analyze --json</code>.</p>` : ""}</section>`);
  }

  if (flips.length > 0) {
    parts.push(`<section><h2>Flips</h2>
<p class="legend"><span class="dot red"></span>refused <span class="dot green"></span>succeeded <span class="dot grey"></span>call in between (2xx) <span class="dot amber"></span>call in between (error) <span class="swatch cat"></span>catalyst <span class="swatch warm"></span>warm period</p>`);
    flips.forEach((f, i) => parts.push(flipSection(f, i, doc.flips.length)));
    if (doc.flips.length > flips.length) parts.push(`<p class="note">… ${doc.flips.length - flips.length} more flips in <code>graphtap analyze --json</code>.</p>`);
    parts.push("</section>");
    parts.push(`<section><h2>Evidence for support</h2><table class="evidence"><thead><tr><th>flip</th><th>call</th><th>time (UTC)</th><th>status</th><th>request-id</th><th>client-request-id</th><th>data centre</th><th>scale unit</th></tr></thead><tbody>
${flips
  .map((f, i) =>
    [
      evidenceRow(i, "failing", f.failure.time, f.failure.status, f.failure.errorCode, f.failure.requestId, f.failure.clientRequestId, f.failure.dataCenter, f.failure.scaleUnit),
      evidenceRow(i, "succeeding", f.success.time, f.success.status, null, f.success.requestId, f.success.clientRequestId, f.success.dataCenter, f.success.scaleUnit),
    ].join("\n"),
  )
  .join("\n")}
</tbody></table></section>`);
  }
  parts.push(`<footer>Made by graphtap. Tokens are never stored: identities are tenant and object ids from decoded claims.</footer></body></html>\n`);
  return parts.join("\n");
}

function flipSection(f: FlipDoc, i: number, total: number): string {
  const how =
    f.explanation === "catalyst"
      ? `recovered right after <code>${esc(f.catalyst ?? "?")}</code>`
      : f.explanation === "retry"
        ? `recovered on a plain retry after ${esc(duration(f.waitSeconds))}`
        : `recovered with a new token (${esc(f.tokenChange?.map((t) => t.claim).join(", ") || "different token")} changed)`;
  const warm =
    f.warmFor === null
      ? ""
      : f.warmEndedBy === "failure"
        ? `worked for <b>${esc(duration(f.warmFor))}</b>, then was refused again`
        : `still working <b>${esc(duration(f.warmFor))}</b> later, when the capture ended`;
  return `<article class="flip ${f.explanation}">
<h3>Flip ${i + 1} of ${total}: <code>${esc(f.template)}</code></h3>
<p>${esc(who(f.identity))} <span class="dim">${esc(f.identity.key)}</span> — ${f.failure.refusals > 1 ? `${f.failure.refusals} refusals, ` : ""}${how}; ${warm}.</p>
${svg(f)}
<p class="resource"><code>${esc(f.resource)}</code></p>
</article>`;
}

interface Lane {
  label: string;
  calls: BetweenDoc[];
  catalyst: boolean;
}

function svg(f: FlipDoc): string {
  const tFail = Date.parse(f.failure.time);
  const tFirst = Date.parse(f.failure.failingSince);
  const tOk = Date.parse(f.success.time);
  // The window is drawn from the last refusal (or the first, if the run of refusals is
  // short next to the window) to the success, with a margin so the ends are not on the edge.
  const start = tFirst < tFail && tFail - tFirst <= 3 * Math.max(1, tOk - tFail) ? tFirst : tFail;
  const span = Math.max(1, tOk - start);
  const x0 = LABEL_W + 14;
  const xw = WINDOW_W - 28;
  const x = (t: number) => x0 + ((Math.min(Math.max(t, start), tOk) - start) / span) * xw;

  const lanes = lanesOf(f);
  const h = TOP + (lanes.length + 1) * LANE_H + 30;
  const out: string[] = [];
  out.push(`<svg class="timeline" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="timeline of flip ${esc(f.template)}">`);
  // Panels: the window, then the warm period.
  out.push(`<rect x="${LABEL_W}" y="${TOP - 8}" width="${WINDOW_W}" height="${(lanes.length + 1) * LANE_H + 8}" fill="#fafafa" stroke="#e5e7eb"/>`);
  const wx = LABEL_W + WINDOW_W;
  const warmH = (lanes.length + 1) * LANE_H + 8;
  if (f.warmFor !== null) {
    out.push(`<rect x="${wx}" y="${TOP - 8}" width="${WARM_W}" height="${warmH}" fill="url(#warm-${hash(f.success.exchangeId)})" stroke="#bbf7d0"/>`);
    out.push(`<defs><linearGradient id="warm-${hash(f.success.exchangeId)}" x1="0" x2="1"><stop offset="0" stop-color="#bbf7d0"/><stop offset="1" stop-color="${f.warmEndedBy === "failure" ? "#fecaca" : "#f0fdf4"}"/></linearGradient></defs>`);
    out.push(`<text x="${wx + WARM_W / 2}" y="${TOP + 10}" class="warm" text-anchor="middle">warm for ${esc(duration(f.warmFor))}</text>`);
    out.push(`<text x="${wx + WARM_W / 2}" y="${TOP + 26}" class="small" text-anchor="middle">${f.warmCalls} ${f.warmCalls === 1 ? "success" : "successes"}</text>`);
    if (f.warmEndedBy === "failure") {
      out.push(`<circle cx="${wx + WARM_W - 10}" cy="${TOP + LANE_H / 2 - 4}" r="6" class="red"><title>refused again ${esc(f.warmEndedAt?.time ?? "")} ${f.warmEndedAt?.status ?? ""}</title></circle>`);
      out.push(`<text x="${wx + WARM_W - 20}" y="${TOP + warmH - 14}" class="small" text-anchor="end">refused again</text>`);
    } else {
      out.push(`<line x1="${wx + WARM_W - 2}" y1="${TOP - 8}" x2="${wx + WARM_W - 2}" y2="${TOP + warmH - 8}" stroke="#16a34a" stroke-dasharray="4 3"/>`);
      out.push(`<text x="${wx + WARM_W - 8}" y="${TOP + warmH - 14}" class="small" text-anchor="end">end of capture</text>`);
    }
  }
  // Lane 0: the resource itself.
  const laneY = (k: number) => TOP + k * LANE_H + LANE_H / 2 - 4;
  out.push(`<text x="${LABEL_W - 8}" y="${laneY(0) + 4}" class="lane strong" text-anchor="end">${esc(clip(f.template, 44))}</text>`);
  out.push(`<line x1="${x0}" y1="${laneY(0)}" x2="${x(tOk)}" y2="${laneY(0)}" stroke="#fca5a5" stroke-width="3"/>`);
  if (start < tFail) {
    out.push(`<circle cx="${x(start)}" cy="${laneY(0)}" r="6" class="red hollow"><title>first refusal ${esc(f.failure.failingSince)}</title></circle>`);
    out.push(`<text x="${x(start)}" y="${laneY(0) - 10}" class="small" text-anchor="middle">${f.failure.refusals}×</text>`);
  }
  out.push(`<circle cx="${x(tFail)}" cy="${laneY(0)}" r="8" class="red"><title>${esc(`${f.failure.time} ${f.failure.status} ${f.failure.errorCode ?? ""} request-id ${f.failure.requestId ?? "-"}`)}</title></circle>`);
  out.push(`<text x="${x(tFail)}" y="${laneY(0) + 4}" class="in" text-anchor="middle">${f.failure.status ?? ""}</text>`);
  out.push(`<circle cx="${x(tOk)}" cy="${laneY(0)}" r="8" class="green"><title>${esc(`${f.success.time} ${f.success.status} request-id ${f.success.requestId ?? "-"}`)}</title></circle>`);
  out.push(`<text x="${x(tOk)}" y="${laneY(0) + 4}" class="in" text-anchor="middle">${f.success.status ?? ""}</text>`);
  // Lanes of the calls in between.
  lanes.forEach((lane, k) => {
    const y = laneY(k + 1);
    if (lane.catalyst) out.push(`<rect x="2" y="${y - LANE_H / 2 + 2}" width="${LABEL_W + WINDOW_W - 4}" height="${LANE_H - 2}" rx="4" class="catlane"/>`);
    out.push(`<text x="${LABEL_W - 8}" y="${y + 4}" class="lane${lane.catalyst ? " strong" : ""}" text-anchor="end">${lane.catalyst ? "★ " : ""}${esc(clip(lane.label, 44))}</text>`);
    out.push(`<line x1="${x0}" y1="${y}" x2="${x0 + xw}" y2="${y}" stroke="#e5e7eb"/>`);
    for (const c of lane.calls) {
      const ok = c.status !== null && c.status >= 200 && c.status < 300;
      const isCat = f.catalystCall?.exchangeId === c.exchangeId;
      out.push(`<circle cx="${x(Date.parse(c.time)).toFixed(1)}" cy="${y}" r="${isCat ? 7 : 5}" class="${ok ? "grey" : "amber"}${isCat ? " cat" : ""}"><title>${esc(`${c.time} ${c.template} ${c.status ?? "no response"} ${c.errorCode ?? ""} request-id ${c.requestId ?? "-"}`)}</title></circle>`);
    }
  });
  if (lanes.length === 0) {
    out.push(`<text x="${x0 + xw / 2}" y="${laneY(1) + 4}" class="small" text-anchor="middle">nothing called in between</text>`);
  }
  // Axis: ages from the last refusal.
  const axisY = TOP + (Math.max(1, lanes.length) + 1) * LANE_H + 10;
  out.push(`<text x="${x(start)}" y="${axisY}" class="small" text-anchor="start">${start < tFail ? `−${esc(duration((tFail - start) / 1000))}` : "0 s"}</text>`);
  out.push(`<text x="${x(tOk)}" y="${axisY}" class="small" text-anchor="end">+${esc(duration((tOk - tFail) / 1000))}</text>`);
  out.push(`<text x="${x0 + xw / 2}" y="${axisY}" class="small" text-anchor="middle">${esc(f.failure.time.slice(11, 19))}Z</text>`);
  out.push("</svg>");
  return out.join("\n");
}

/** The catalyst's lane first, then the busiest templates; the rest share one lane. */
function lanesOf(f: FlipDoc): Lane[] {
  const by = new Map<string, BetweenDoc[]>();
  for (const b of f.between) {
    const l = by.get(b.template);
    if (l) l.push(b);
    else by.set(b.template, [b]);
  }
  const names = [...by.keys()].sort((a, b) => Number(b === f.catalyst) - Number(a === f.catalyst) || by.get(b)!.length - by.get(a)!.length);
  const lanes: Lane[] = names.slice(0, MAX_LANES).map((t) => ({ label: t, calls: by.get(t)!, catalyst: t === f.catalyst }));
  const rest = names.slice(MAX_LANES);
  if (rest.length > 0) lanes.push({ label: `${rest.length} other templates`, calls: rest.flatMap((t) => by.get(t)!), catalyst: false });
  return lanes;
}

function evidenceRow(
  i: number,
  what: string,
  time: string,
  status: number | null,
  code: string | null,
  rid: string | null,
  crid: string | null,
  dc: string | null,
  su: string | null,
): string {
  const cls = what === "failing" ? "red-text" : "green-text";
  return `<tr><td>${i + 1}</td><td class="${cls}">${what}</td><td><code>${esc(time)}</code></td><td>${status ?? "-"}${code ? ` ${esc(code)}` : ""}</td><td><code>${esc(rid ?? "-")}</code></td><td><code>${esc(crid ?? "-")}</code></td><td>${esc(dc ?? "-")}</td><td>${esc(su ?? "-")}</td></tr>`;
}

function card(value: number, label: string): string {
  return `<div class="card"><b>${n(value)}</b><span>${esc(label)}</span></div>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function clip(s: string, max: number): string {
  return s.length > max ? `…${s.slice(s.length - max + 1)}` : s;
}

function hash(s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return (h >>> 0).toString(36);
}

function n(x: number): string {
  return x.toLocaleString("en-US");
}

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#111827;margin:0 auto;max-width:1020px;padding:24px;background:#fff}
h1{font-size:22px;margin:0} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #e5e7eb;padding-bottom:4px} h3{font-size:15px;margin:0 0 4px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f4f6;padding:1px 4px;border-radius:3px}
.meta,.note,.dim,footer{color:#6b7280} .note{font-size:12px}
.headline p{font-size:17px;background:#fef9c3;border-left:4px solid #eab308;padding:10px 14px;margin:16px 0}
.cards{display:flex;flex-wrap:wrap;gap:8px}.card{border:1px solid #e5e7eb;border-radius:6px;padding:6px 12px;min-width:90px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#6b7280}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #f3f4f6;vertical-align:middle}
tr.top td{background:#f5f3ff;font-weight:600}
.flip{border:1px solid #e5e7eb;border-radius:8px;padding:12px;margin:14px 0}.flip.catalyst{border-left:4px solid #7c3aed}
.flip.retry{border-left:4px solid #9ca3af}.flip.token-refresh{border-left:4px solid #0ea5e9}
.resource{font-size:12px;word-break:break-all;margin:4px 0 0}
.legend{font-size:12px;color:#374151}.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin:0 4px 0 12px;vertical-align:middle}
.swatch{display:inline-block;width:16px;height:10px;margin:0 4px 0 12px;vertical-align:middle}
.dot.red{background:#dc2626}.dot.green{background:#16a34a}.dot.grey{background:#9ca3af}.dot.amber{background:#f59e0b}.swatch.cat{background:#ede9fe;border:1px solid #7c3aed}.swatch.warm{background:#bbf7d0}
svg.timeline{display:block;max-width:100%;height:auto;margin:6px 0}
svg .red{fill:#dc2626}svg .red.hollow{fill:#fff;stroke:#dc2626;stroke-width:2}svg .green{fill:#16a34a}svg .grey{fill:#9ca3af}svg .amber{fill:#f59e0b}
svg .cat{stroke:#7c3aed;stroke-width:3}svg .catlane{fill:#ede9fe}
svg text{font:12px system-ui,sans-serif;fill:#374151}svg .lane{font:11px ui-monospace,Menlo,Consolas,monospace}svg .strong{font-weight:700;fill:#111827}
svg .small{font-size:11px;fill:#6b7280}svg .in{font-size:8px;fill:#fff;font-weight:700}svg .warm{font-weight:700;fill:#166534}
.red-text{color:#dc2626}.green-text{color:#16a34a}
footer{margin-top:32px;font-size:12px}
`;
