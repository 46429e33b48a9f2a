// Stopping the proxy lets a request that is under way finish (up to a short grace)
// instead of cutting it, so Ctrl-C during a slow call still records it.
import { afterEach, describe, expect, it } from "vitest";
import { ProxyAgent, request } from "undici";
import type { Exchange } from "../../src/exchange/types.js";
import { DEFAULT_GRAPH_HOSTS } from "../../src/graph/hosts.js";
import { parseUpstreams } from "../../src/proxy/hosts.js";
import { GraphtapProxy } from "../../src/proxy/server.js";
import { createAuthority } from "../../src/tls/authority.js";
import { startUpstream, type TestUpstream } from "../helpers/upstream.js";

let upstream: TestUpstream | undefined;
afterEach(async () => {
  await upstream?.close();
  upstream = undefined;
});

describe("proxy close()", () => {
  it("gives an intercepted request in flight its grace period and emits its exchange", async () => {
    upstream = await startUpstream((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"slow":true}');
      }, 400);
    });
    const authority = createAuthority({ commonName: "close test CA", permitted: [...DEFAULT_GRAPH_HOSTS] });
    const proxy = new GraphtapProxy({
      authority,
      port: 0,
      upstreams: parseUpstreams([`graph.microsoft.com=${upstream.url}`]),
      upstreamCa: [upstream.caPem],
    });
    const seen: Exchange[] = [];
    proxy.on("exchange", (ex) => seen.push(ex));
    await proxy.listen();
    const agent = new ProxyAgent({ uri: proxy.url, requestTls: { ca: authority.certPem } });
    try {
      const pending = request("https://graph.microsoft.com/v1.0/me", { dispatcher: agent }).then(async (r) => ({
        status: r.statusCode,
        body: await r.body.text(),
      }));
      await new Promise((r) => setTimeout(r, 100));
      const closing = proxy.close();
      const answer = await pending;
      await closing;
      expect(answer).toEqual({ status: 200, body: '{"slow":true}' });
      expect(seen).toHaveLength(1);
      expect(seen[0]?.status).toBe(200);
      expect(seen[0]?.error).toBeUndefined();
    } finally {
      await agent.close();
    }
  });
});
