// The guest story, driven through the real proxy path: a client that goes through
// HTTPS_PROXY-style CONNECT, TLS with graphtap's CA, and recording. Used by
// `graphtap demo`; the tests reuse it to build realistic captures.
import { ProxyAgent, request } from "undici";
import { encodeShareId } from "../graph/shares.js";
import type { Sim } from "../sim/server.js";

export interface StoryClient {
  get(path: string, token: string | undefined, headers?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/** A Graph client that goes through the proxy and trusts only graphtap's CA. */
export function proxiedClient(proxyUrl: string, caPem: string, host = "graph.microsoft.com"): StoryClient {
  const dispatcher = new ProxyAgent({ uri: proxyUrl, requestTls: { ca: caPem } });
  return {
    async get(path, token, headers = {}) {
      const res = await request(`https://${host}${path}`, {
        dispatcher,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          "client-request-id": crypto.randomUUID(),
          "accept-encoding": "gzip",
          ...headers,
        },
      });
      await res.body.dump();
      return res.statusCode;
    },
    close: () => dispatcher.close(),
  };
}

export interface StoryOptions {
  /** How many times the cold → catalyst → warm cycle is played. */
  cycles: number;
  /** Must match the sim's warm-up warmForMs: the story waits it out between cycles. */
  warmForMs: number;
  /** Called after each step, for a narrated demo. */
  onStep?: (what: string, status: number) => void;
  /** Called as each cycle starts (0-based). */
  onCycle?: (cycle: number) => void;
}

/**
 * The seed pattern, `cycles` times: the guest is refused the shared file (401), calls
 * GET /me (noise) and is refused again (a failure that stays a failure), calls GET /me
 * and the group's drive (403: the catalyst), then the shared file works (200) until
 * access expires. GET /me is in every window, so only contrast can rank it below the
 * catalyst. A member works normally alongside, so not every identity flips.
 */
export async function playGuestStory(sim: Sim, client: StoryClient, opts: StoryOptions): Promise<void> {
  const link = sim.scenario.links[0];
  const group = sim.scenario.groups[0];
  if (!link || !group) throw new Error("the sim scenario has no sharing link or group");
  const share = `/v1.0/shares/${encodeShareId(link.url)}/driveItem`;
  const guest = sim.token("alice");
  const member = sim.token("megan");
  const step = async (what: string, path: string, token: string) => {
    const status = await client.get(path, token);
    opts.onStep?.(what, status);
    return status;
  };
  for (let cycle = 0; cycle < opts.cycles; cycle++) {
    opts.onCycle?.(cycle);
    await step("guest opens the shared file", share, guest);
    await step("guest reads its profile", "/v1.0/me", guest);
    await step("guest opens the shared file again", share, guest);
    await step("guest reads its profile", "/v1.0/me", guest);
    await step("member lists the team drive", `/v1.0/groups/${group.id}/drive`, member);
    await step("guest asks for the team's drive", `/v1.0/groups/${group.id}/drive`, guest);
    await step("guest opens the shared file", share, guest);
    // Half the warm period later: access granted by the catalyst is still there.
    await new Promise((r) => setTimeout(r, opts.warmForMs / 2));
    await step("guest opens the shared file again, a while later", share, guest);
    // Wait out the rest of the warm period: the next cycle starts cold again.
    if (cycle < opts.cycles - 1) await new Promise((r) => setTimeout(r, opts.warmForMs / 2 + 150));
  }
}
