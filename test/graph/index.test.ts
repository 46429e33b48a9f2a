import { describe, expect, it } from "vitest";
import * as graph from "../../src/graph/index.js";

describe("src/graph/index", () => {
  it("re-exports the whole Graph API", () => {
    for (const name of [
      "graphFieldsOf", "identityOf", "isGuest", "describeTokenChange", "templateOf", "resourceKey",
      "encodeShareId", "decodeShareId", "isShareId", "isBatchUrl", "parseBatchRequest", "parseBatchResponse",
      "buildBatchRequest", "expandBatch", "logicalExchanges", "parseGraphError", "parseWwwAuthenticate",
      "claimsChallenge", "parseAgsDiagnostic", "tokenHash", "DEFAULT_GRAPH_HOSTS",
    ]) {
      expect(graph, name).toHaveProperty(name);
    }
  });
});
