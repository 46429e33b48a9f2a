// A browser HAR holds the sign-in too: token requests and responses. None of their
// secrets, and no token inside a $batch part, may reach the capture file.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importHar } from "../../src/interop/har-import.js";
import { tempDir } from "../helpers/tmp.js";

const JWT = `eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ tid: "t", oid: "o", upn: "a@contoso.com" })).toString("base64url")}.SECRETSIGNATUREPART`;

function entry(method: string, url: string, reqText: string | undefined, mime: string, status: number, resText: string) {
  return {
    startedDateTime: "2026-02-10T09:00:00.000Z",
    time: 12,
    request: {
      method, url, httpVersion: "HTTP/1.1", headers: [{ name: "Content-Type", value: mime }], queryString: [], cookies: [],
      headersSize: -1, bodySize: reqText?.length ?? 0,
      ...(reqText ? { postData: { mimeType: mime, text: reqText } } : {}),
    },
    response: {
      status, statusText: "", httpVersion: "HTTP/1.1", headers: [], cookies: [], redirectURL: "", headersSize: -1, bodySize: resText.length,
      content: { size: resText.length, mimeType: "application/json", text: resText },
    },
    cache: {},
    timings: { send: 1, wait: 10, receive: 1 },
  };
}

describe("HAR import keeps no secrets", () => {
  it("scrubs OAuth token traffic and $batch part tokens before they reach SQLite", () => {
    const dir = tempDir();
    const har = {
      log: {
        version: "1.2",
        creator: { name: "WebInspector", version: "537.36" },
        entries: [
          entry("POST", "https://login.microsoftonline.com/common/oauth2/v2.0/token",
            "grant_type=refresh_token&client_id=c&refresh_token=RTSECRET-REQ&client_secret=CSSECRET",
            "application/x-www-form-urlencoded", 200,
            JSON.stringify({ token_type: "Bearer", access_token: JWT, refresh_token: "RTSECRET-RES", id_token: "IDSECRET" })),
          entry("POST", "https://graph.microsoft.com/v1.0/$batch",
            JSON.stringify({ requests: [{ id: "1", method: "GET", url: "/me", headers: { Authorization: `Bearer ${JWT}` } }] }),
            "application/json", 200, JSON.stringify({ responses: [{ id: "1", status: 200, body: { id: "x" } }] })),
        ],
      },
    };
    const file = join(dir, "browser.har");
    writeFileSync(file, JSON.stringify(har));
    const db = join(dir, "c.sqlite");
    const result = importHar(file, db);
    expect(result.imported).toBe(2);
    const bytes = [db, `${db}-wal`, `${db}-shm`].filter(existsSync).map((f) => readFileSync(f).toString("latin1")).join("");
    for (const secret of ["RTSECRET-REQ", "RTSECRET-RES", "CSSECRET", "IDSECRET", "SECRETSIGNATUREPART", JWT.split(".")[1]!]) {
      expect(bytes, secret).not.toContain(secret);
    }
  });
});
