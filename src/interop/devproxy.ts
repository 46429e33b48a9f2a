// Capture → Microsoft Dev Proxy MockResponsePlugin mocks file. Dev Proxy documents it as
// { $schema, mocks: [{ request: { url, method, nth?, bodyFragment? },
//   response: { statusCode, headers: [{ name, value }], body } }] }.
// Repeated identical requests become nth = 1, 2, … (Dev Proxy counts the requests it has
// answered for a mock's URL, from 1), so 401 then 200 plays back in recorded order; a last
// mock without nth keeps answering the final response afterwards, as `graphtap serve` does.
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UserError } from "../errors.js";
import { NOT_REPLAYABLE_HEADERS, type Exchange, type HeaderList } from "../exchange/types.js";
import type { CaptureReader, ExchangeFilter } from "../recorder/index.js";
import { isTextBody, jsonBody } from "../browse/body.js";

export const DEV_PROXY_MOCKS_SCHEMA =
  "https://raw.githubusercontent.com/dotnet/dev-proxy/main/schemas/v0.29.0/mockresponseplugin.mocksfile.schema.json";

/** The methods the mocks file schema allows. */
const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"]);


export interface MockHeader {
  name: string;
  value: string;
}

export interface DevProxyMock {
  request: { url: string; method: string; nth?: number };
  response: { statusCode: number; headers: MockHeader[]; body?: unknown };
}

export interface DevProxyMocksFile {
  $schema: string;
  mocks: DevProxyMock[];
}

export interface MocksResult {
  file: string;
  mocks: number;
  /** Recorded requests with no response (nothing to mock). */
  skipped: number;
  /** Binary bodies written next to the mocks file and referenced as "@path". */
  bodyFiles: number;
}

function mockHeaders(headers: HeaderList): MockHeader[] {
  return headers.filter(([k]) => !NOT_REPLAYABLE_HEADERS.has(k)).map(([name, value]) => ({ name, value }));
}

/** Dev Proxy treats `*` in a mock URL as a wildcard; a literal one is rare in Graph URLs. */
function mockUrl(url: string): string {
  return url.split("#", 1)[0]!;
}

interface Pending {
  key: string;
  ex: Exchange;
}

/**
 * Builds the mocks (in first-request order per URL, responses in recorded order) and
 * writes binary bodies under `<mocks name>-bodies/` next to `out`.
 */
export function buildMocks(
  exchanges: Iterable<Exchange>,
  out: string,
): { file: DevProxyMocksFile; skipped: number; bodies: Array<{ path: string; bytes: Buffer }> } {
  const groups = new Map<string, Pending[]>();
  let skipped = 0;
  for (const ex of exchanges) {
    const method = ex.method.toUpperCase();
    if (ex.status === undefined || !METHODS.has(method)) {
      skipped++;
      continue;
    }
    const key = `${method} ${mockUrl(ex.url)}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push({ key, ex });
  }
  const bodyDir = `${basename(out).replace(/\.json$/i, "")}-bodies`;
  const bodies: Array<{ path: string; bytes: Buffer }> = [];
  const mocks: DevProxyMock[] = [];
  for (const group of groups.values()) {
    const responses = group.map((p) => p.ex);
    const many = responses.length > 1;
    responses.forEach((ex, i) => {
      const mock = toMock(ex, many ? i + 1 : undefined, bodyDir, bodies);
      mocks.push(mock);
    });
    // After the last recorded answer, keep giving it (mocks without nth match any count;
    // Dev Proxy takes the first matching mock, so this one must come after the nth ones).
    if (many) mocks.push(toMock(responses[responses.length - 1]!, undefined, bodyDir, bodies));
  }
  return { file: { $schema: DEV_PROXY_MOCKS_SCHEMA, mocks }, skipped, bodies };
}

function toMock(ex: Exchange, nth: number | undefined, bodyDir: string, bodies: Array<{ path: string; bytes: Buffer }>): DevProxyMock {
  const request: DevProxyMock["request"] = { url: mockUrl(ex.url), method: ex.method.toUpperCase() };
  if (nth !== undefined) request.nth = nth;
  const response: DevProxyMock["response"] = { statusCode: ex.status!, headers: mockHeaders(ex.responseHeaders) };
  const b = ex.responseBody;
  if (b && b.bytes.length > 0) {
    const json = jsonBody(ex.responseHeaders, b);
    if (json !== undefined && typeof json === "object" && json !== null) response.body = json;
    else if (isTextBody(ex.responseHeaders, b.bytes)) response.body = b.bytes.toString("utf8");
    else {
      // Dev Proxy reads "@file" bodies relative to the mocks file, as bytes.
      const path = `${bodyDir}/${ex.id}.bin`;
      if (!bodies.some((x) => x.path === path)) bodies.push({ path, bytes: b.bytes });
      response.body = `@${path}`;
    }
  }
  return { request, response };
}

export function exportDevProxyMocks(reader: CaptureReader, out: string, filter: ExchangeFilter = {}): MocksResult {
  const built = buildMocks(reader.exchanges(filter), out);
  try {
    for (const b of built.bodies) {
      const path = join(dirname(out), b.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, b.bytes);
    }
    writeFileSync(out, `${JSON.stringify(built.file, null, 2)}\n`);
  } catch (err) {
    throw new UserError(`cannot write ${out}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { file: out, mocks: built.file.mocks.length, skipped: built.skipped, bodyFiles: built.bodies.length };
}
