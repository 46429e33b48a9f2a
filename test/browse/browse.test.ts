import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { capturePrefixLength, listExchanges, uniquePrefixLength } from "../../src/browse/list.js";
import { renderList, renderSessions, renderShow } from "../../src/browse/render.js";
import { findExchange, viewExchange } from "../../src/browse/show.js";
import { UserError } from "../../src/errors.js";
import { CaptureReader, CaptureWriter } from "../../src/recorder/index.js";
import { tempDir } from "../helpers/tmp.js";
import { buildCapture, exchangeOf, GUEST_KEY, GUEST_UPN, guestToken, OWNER_KEY, SHARE_URL, T0, type Fixture } from "./capture-fixture.js";

let fx: Fixture;
let reader: CaptureReader;

beforeAll(() => {
  fx = buildCapture();
  reader = CaptureReader.open(fx.file);
});
afterAll(() => reader.close());

const statuses = (o: Parameters<typeof listExchanges>[1]) => listExchanges(reader, o).rows.map((r) => r.status);

describe("list filters", () => {
  it("all rows in time order, with the guest's UPN resolved from its token", () => {
    const { rows } = listExchanges(reader, {});
    expect(rows.map((r) => r.startedAt)).toEqual(fx.exchanges.map((e) => e.startedAt));
    expect(rows[0]!.upn).toBe(GUEST_UPN);
    expect(rows[0]!.errorCode).toBe("InvalidAuthenticationToken");
    expect(rows[2]!.template).toBe("GET /v1.0/shares/{shareId}/driveItem");
  });

  it("--status by code, by class, and mixed", () => {
    expect(statuses({ status: "401" })).toEqual([401]);
    expect(statuses({ status: "4xx" })).toEqual([401, 403]);
    expect(statuses({ status: "403,5xx" })).toEqual([403, 500]);
    expect(() => listExchanges(reader, { status: "forty" })).toThrow(UserError);
  });

  it("--identity by key and by UPN (case-insensitive); an unknown one matches nothing", () => {
    expect(statuses({ identity: GUEST_KEY })).toEqual([401, 403, 200]);
    expect(statuses({ identity: GUEST_UPN.toUpperCase() })).toEqual([401, 403, 200]);
    expect(listExchanges(reader, { identity: OWNER_KEY }).rows).toHaveLength(7);
    expect(listExchanges(reader, { identity: "nobody@example.com" }).rows).toEqual([]);
  });

  it("--identity by a case-insensitive substring of the UPN; exact key and token hash still work", () => {
    expect(listExchanges(reader, { identity: "megan" }).rows).toHaveLength(7);
    expect(listExchanges(reader, { identity: "megan" }).rows.every((r) => r.identityKey === OWNER_KEY)).toBe(true);
    expect(statuses({ identity: "ALEX_fabrikam" })).toEqual([401, 403, 200]);
    // Both UPNs end in contoso: a substring may name several people.
    expect(listExchanges(reader, { identity: "contoso" }).rows).toHaveLength(fx.exchanges.length);
    expect(statuses({ identity: guestToken.hash })).toEqual([401, 403, 200]);
    expect(listExchanges(reader, { identity: "megan", status: "5xx" }).rows.map((r) => r.status)).toEqual([500]);
  });

  it("--template exact or substring, --host, --method", () => {
    expect(statuses({ template: "GET /v1.0/shares/{shareId}/driveItem" })).toEqual([401, 403, 200]);
    expect(statuses({ template: "groups/{" })).toEqual([200]);
    expect(listExchanges(reader, { host: "graph.microsoft.us" }).rows.map((r) => r.url)).toEqual(["https://graph.microsoft.us/v1.0/me"]);
    expect(statuses({ method: "post" })).toEqual([201]);
  });

  it("--since inclusive, --until exclusive, bad times are user errors", () => {
    const since = new Date(T0 + 2_000).toISOString();
    const until = new Date(T0 + 4_000).toISOString();
    expect(statuses({ since, until })).toEqual([403, 200]);
    expect(() => listExchanges(reader, { since: "yesterday-ish" })).toThrow(/ISO time/);
  });

  it("--since/--until take the HH:MM:SS[.mmm] times list prints, on the UTC day of the first exchange", () => {
    expect(statuses({ since: "09:00:02", until: "09:00:04" })).toEqual([403, 200]);
    expect(statuses({ since: "09:00:02.001", until: "09:00:04.001" })).toEqual([200, 200]);
    expect(statuses({ until: "09:00:01.000" })).toEqual([401]);
    // The printed time of a row finds that row.
    const printed = renderList(listExchanges(reader, { status: "403" }).rows, { color: false }).split(" ")[1]!;
    expect(printed).toBe("09:00:02.000");
    expect(statuses({ since: printed, until: "09:00:02.001" })).toEqual([403]);
    expect(() => listExchanges(reader, { since: "25:00:00" })).toThrow(UserError);
  });

  it("a $batch envelope shows its parts' statuses, so a refused part is visible", () => {
    const file = `${tempDir()}/batch.sqlite`;
    const w = CaptureWriter.open(file);
    const s = w.startSession({ kind: "proxy" });
    const json = (v: unknown) => {
      const bytes = Buffer.from(JSON.stringify(v));
      return { bytes, wireSize: bytes.length, truncated: false };
    };
    w.write(
      exchangeOf(s, {
        at: 0,
        method: "POST",
        url: "https://graph.microsoft.com/v1.0/$batch",
        status: 200,
        token: guestToken,
        reqHeaders: [["content-type", "application/json"]],
        reqBody: json({ requests: [{ id: "1", method: "GET", url: "/me" }, { id: "2", method: "GET", url: "/shares/u!x/driveItem" }] }),
        resBody: json({ responses: [{ id: "2", status: 403, body: { error: { code: "accessDenied" } } }, { id: "1", status: 200, body: {} }] }),
      }),
    );
    w.write(exchangeOf(s, { at: 1_000, url: "https://graph.microsoft.com/v1.0/me", status: 200, token: guestToken }));
    w.close();
    const r = CaptureReader.open(file);
    try {
      const { rows } = listExchanges(r, {});
      expect(rows.map((x) => x.batch)).toEqual([[200, 403], undefined]);
      const lines = renderList(rows, { color: false, width: 200 }).trimEnd().split("\n");
      expect(lines[0]).toContain(" 200 [batch: 200, 403] ");
      expect(lines[1]).not.toContain("batch");
    } finally {
      r.close();
    }
  });

  it("--session by prefix, --limit stops and says so", () => {
    expect(listExchanges(reader, { session: fx.sessionId.slice(0, 20).toLowerCase() }).rows).toHaveLength(fx.exchanges.length);
    const limited = listExchanges(reader, { identity: GUEST_UPN, limit: 2 });
    expect(limited.rows.map((r) => r.status)).toEqual([401, 403]);
    expect(limited.limited).toBe(true);
    expect(listExchanges(reader, { limit: 2 }).limited).toBe(true);
    expect(listExchanges(reader, { limit: 100 }).limited).toBe(false);
    expect(() => listExchanges(reader, { session: "ZZZZ" })).toThrow(/no session/);
  });

  it("a failed exchange shows its transport error instead of a status", () => {
    const row = listExchanges(reader, {}).rows.find((r) => r.status === undefined)!;
    expect(row.failure).toBe("ECONNRESET");
    expect(renderList([row], { color: false })).toContain("ECONNRESET");
  });
});

describe("list text", () => {
  it("one line per exchange with id prefix, time, upn, method, status, template, ms, error code", () => {
    const { rows } = listExchanges(reader, {});
    const text = renderList(rows, { color: false, width: 200 });
    const lines = text.trimEnd().split("\n");
    expect(lines).toHaveLength(rows.length);
    const len = uniquePrefixLength(rows.map((r) => r.id));
    const first = lines[0]!;
    expect(first.startsWith(rows[0]!.id.slice(0, len))).toBe(true);
    expect(first).toContain("09:00:00.000");
    expect(first).toContain("401");
    expect(first).toContain("/v1.0/shares/{shareId}/driveItem");
    expect(first).toContain("InvalidAuthenticationToken");
    expect(first).toMatch(/\d+ms/);
    expect(first).not.toContain("\u001b["); // no colour when not asked
    // Every printed id prefix finds exactly its exchange.
    for (const [i, line] of lines.entries()) expect(findExchange(reader, line.split(" ")[0]!).id).toBe(rows[i]!.id);
  });

  it("a filtered list prints prefixes that are unique in the whole capture", () => {
    const { rows } = listExchanges(reader, { status: "403" });
    const idLength = capturePrefixLength(reader);
    const prefix = renderList(rows, { color: false, idLength }).split(" ")[0]!;
    expect(findExchange(reader, prefix).id).toBe(fx.exchanges[2]!.id);
  });

  it("colour only when asked", () => {
    const { rows } = listExchanges(reader, { limit: 1 });
    expect(renderList(rows, { color: true })).toContain("\u001b[");
  });

  it("unique prefixes grow past shared leading characters", () => {
    expect(uniquePrefixLength(["01ABCDEFGHJKMNPQRSTVWXYZ00", "01ABCDEFGHJKMNPQRSTVWXYZ01"])).toBe(26);
    expect(uniquePrefixLength(["01A", "02B"], 12)).toBe(12);
  });

  it("sessions: kind, counts, label", () => {
    const text = renderSessions(reader.sessions(), false);
    expect(text).toContain(fx.sessionId);
    expect(text).toContain("proxy");
    expect(text).toContain(`${fx.exchanges.length} exchanges`);
    expect(text).toContain("fixture");
  });
});

describe("show", () => {
  it("finds by full id, by lower-case unique prefix, and refuses ambiguous or unknown ones", () => {
    const target = fx.exchanges[4]!;
    expect(findExchange(reader, target.id).id).toBe(target.id);
    const len = uniquePrefixLength(fx.exchanges.map((e) => e.id));
    expect(findExchange(reader, target.id.slice(0, len).toLowerCase()).id).toBe(target.id);
    const common = target.id.slice(0, 4);
    expect(() => findExchange(reader, common)).toThrow(/ambiguous/);
    expect(() => findExchange(reader, "ZZZZZZZZ")).toThrow(/no exchange/);
  });

  it("request and response headers, pretty JSON, Graph fields, identity and claims", () => {
    const view = viewExchange(findExchange(reader, fx.exchanges[2]!.id));
    expect(view.graph.errorCode).toBe("accessDenied");
    expect(view.graph.requestId).toBe("r-2000");
    expect(view.graph.clientRequestId).toBe("c-2000");
    expect(view.identity.guest).toBe(true);
    expect(view.identity.key).toBe(GUEST_KEY);
    expect(view.identity.claims?.["acct"]).toBe(1);
    const text = renderShow(view, false);
    expect(text).toContain(`GET ${SHARE_URL}`);
    expect(text).toContain(`Request  GET ${SHARE_URL} HTTP/1.1\n`);
    expect(text).toContain('  "error": {');
    expect(text).toContain("request-id");
    expect(text).toContain("accessDenied");
    expect(text).toContain("(guest)");
    expect(text).toContain("authorization: Bearer ");
    expect(text).toMatch(/exp\s+1770717600 \(2026-02-10T10:00:00.000Z\)/);
  });

  it("a binary body is summarised, not dumped", () => {
    const view = viewExchange(findExchange(reader, fx.exchanges[5]!.id));
    expect(view.response.body.kind).toBe("binary");
    const text = renderShow(view, false);
    expect(text).toContain("[binary body: 29 bytes, image/png]");
    expect(text).not.toContain("\u0089PNG");
  });

  it("the request body of a POST is shown pretty", () => {
    const text = renderShow(viewExchange(findExchange(reader, fx.exchanges[6]!.id)), false);
    expect(text).toContain('"name": "New Folder"');
    expect(text).toContain("Response 201");
  });

  it("no response: says what broke", () => {
    const text = renderShow(viewExchange(findExchange(reader, fx.exchanges[8]!.id)), false);
    expect(text).toContain("No response: ECONNRESET during response");
  });
});
