// POST /$batch in the sim: each part goes through the same authentication, behaviours
// and routing as a top-level call, in dependsOn order; a part whose dependency failed
// is not run (424), as Graph does.
import { randomUUID } from "node:crypto";
import { parseBatchRequest, type BatchRequestPart } from "../graph/batch.js";
import type { Call, Reply } from "./reply.js";
import { finish, graphError } from "./reply.js";

export const MAX_BATCH_PARTS = 20;

/** Headers of a part's response: what Graph puts there, plus the ids support asks for. */
const PART_HEADERS = [
  "cache-control", "content-type", "odata-version", "retry-after", "www-authenticate", "location",
  "request-id", "client-request-id", "x-ms-ags-diagnostic", "allow",
];

export async function runBatch(
  envelope: Call,
  runCall: (call: Call) => Promise<Reply>,
  now: () => number,
): Promise<Reply> {
  const parts = parseBatchRequest(envelope.body);
  if (!parts) return graphError(envelope, 400, "BadRequest", "Invalid batch payload format.");
  if (parts.length === 0) return graphError(envelope, 400, "BadRequest", "The batch request must contain at least one request.");
  if (parts.length > MAX_BATCH_PARTS) {
    return graphError(envelope, 400, "BadRequest", `Number of batch requests cannot exceed ${MAX_BATCH_PARTS}.`);
  }
  const ids = new Set<string>();
  for (const p of parts) {
    if (ids.has(p.id)) return graphError(envelope, 400, "BadRequest", `Batch request contains duplicate id '${p.id}'.`);
    ids.add(p.id);
  }
  for (const p of parts) {
    for (const d of p.dependsOn ?? []) {
      if (!ids.has(d) || d === p.id) {
        return graphError(envelope, 400, "BadRequest", `Request '${p.id}' depends on '${d}', which is not in the batch.`);
      }
    }
  }
  const order = executionOrder(parts);
  if (!order) return graphError(envelope, 400, "BadRequest", "The dependsOn graph of the batch has a cycle.");

  const statuses = new Map<string, number>();
  const responses: Array<Record<string, unknown>> = [];
  for (const part of order) {
    const call = partCall(envelope, part, now());
    const failedDep = (part.dependsOn ?? []).find((d) => {
      const s = statuses.get(d);
      return s === undefined || s < 200 || s >= 300;
    });
    // A part that cannot run is still answered (and counted), but never reaches the router.
    const reply = failedDep !== undefined
      ? graphError(call, 424, "FailedDependency", `Request '${part.id}' was not run: request '${failedDep}' it depends on failed.`)
      : call.version === "" ? graphError(call, 400, "BadRequest", "Invalid request URL in batch part.")
      : await runCall(call);
    statuses.set(part.id, reply.status);
    responses.push(partResponse(part.id, call, reply, now()));
  }
  return { status: 200, headers: {}, json: { responses } };
}

/** Kahn's algorithm, always taking the earliest ready part: request order when there are no dependencies. */
function executionOrder(parts: BatchRequestPart[]): BatchRequestPart[] | undefined {
  const done = new Set<string>();
  const out: BatchRequestPart[] = [];
  const left = [...parts];
  while (left.length > 0) {
    const i = left.findIndex((p) => (p.dependsOn ?? []).every((d) => done.has(d)));
    if (i < 0) return undefined;
    const [next] = left.splice(i, 1);
    out.push(next!);
    done.add(next!.id);
  }
  return out;
}

function partCall(envelope: Call, part: BatchRequestPart, now: number): Call {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(part.headers ?? {})) headers[k.toLowerCase()] = v;
  // Parts run as the caller of the envelope: its token, not one smuggled into a part.
  delete headers["authorization"];
  const auth = envelope.headers["authorization"];
  if (auth !== undefined) headers["authorization"] = auth;

  // "/me", "me", "/v1.0/me" (some clients repeat the version) all mean the same part.
  let rel = part.url.trim();
  let version = envelope.version;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(rel)) version = ""; // absolute URLs are not allowed in a part
  rel = "/" + rel.replace(/^\/+/, "").replace(/#/g, "%23");
  const v = /^\/(v1\.0|beta)(?=\/|$)/i.exec(rel);
  if (v) rel = rel.slice(v[0].length) || "/";
  const q = rel.indexOf("?");
  const path = q < 0 ? rel : rel.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : rel.slice(q + 1));

  let body = Buffer.alloc(0);
  if (part.body !== undefined && part.body !== null) {
    const type = headers["content-type"] ?? "";
    body = typeof part.body === "string" && !/json/i.test(type)
      ? Buffer.from(part.body, "base64")
      : Buffer.from(typeof part.body === "string" ? part.body : JSON.stringify(part.body), "utf8");
  }
  return {
    method: part.method.toUpperCase(),
    version,
    path,
    query,
    headers,
    body,
    requestId: randomUUID(),
    clientRequestId: headers["client-request-id"] ?? randomUUID(),
    time: now,
    batch: { envelopeSeq: envelope.seq ?? 0, partId: part.id },
  };
}

function partResponse(id: string, call: Call, reply: Reply, now: number): Record<string, unknown> {
  const out = finish(call, reply, now);
  const headers: Record<string, string> = {};
  for (const name of PART_HEADERS) {
    const v = out.headers[name];
    if (v !== undefined) headers[canonical(name)] = v;
  }
  const res: Record<string, unknown> = { id, status: reply.status, headers };
  if (reply.json !== undefined) res["body"] = reply.json;
  // Non-JSON content travels base64-encoded inside the JSON batch response.
  else if (out.body.length > 0) res["body"] = out.body.toString("base64");
  return res;
}

function canonical(name: string): string {
  if (name === "odata-version") return "OData-Version";
  if (name === "www-authenticate") return "WWW-Authenticate";
  if (name === "request-id" || name === "client-request-id" || name.startsWith("x-ms-")) return name;
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}
