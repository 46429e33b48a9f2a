// x-ms-ags-diagnostic: the Graph gateway (AGS) says which datacenter, slice, ring and
// scale unit served a request. Microsoft support asks for it alongside request-id, and
// a flip that lands on a different scale unit hints at replication lag.

export interface AgsDiagnostic {
  dataCenter?: string;
  slice?: string;
  ring?: string;
  scaleUnit?: string;
  roleInstance?: string;
  /** The header value as received, kept whatever it held. */
  raw: string;
}

const FIELDS = [
  ["datacenter", "dataCenter"],
  ["slice", "slice"],
  ["ring", "ring"],
  ["scaleunit", "scaleUnit"],
  ["roleinstance", "roleInstance"],
] as const;

/** Parses the header; garbage yields `{ raw }` only, a missing or empty header undefined. */
export function parseAgsDiagnostic(value: string | undefined): AgsDiagnostic | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const out: AgsDiagnostic = { raw: value };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return out;
  }
  const info = objectField(parsed, "serverinfo");
  if (!info) return out;
  // Keys are matched case-insensitively: the gateway's casing is not a documented contract.
  const lower = new Map<string, unknown>();
  for (const [k, v] of Object.entries(info)) lower.set(k.toLowerCase(), v);
  for (const [key, prop] of FIELDS) {
    const v = lower.get(key);
    if (typeof v === "string" && v !== "") out[prop] = v;
    else if (typeof v === "number" && Number.isFinite(v)) out[prop] = String(v);
  }
  return out;
}

function objectField(value: unknown, lowerName: string): Record<string, unknown> | undefined {
  if (!isRecord(value)) return undefined;
  for (const [k, v] of Object.entries(value)) {
    if (k.toLowerCase() === lowerName && isRecord(v)) return v;
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}
