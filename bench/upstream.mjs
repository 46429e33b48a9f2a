// A small HTTPS Graph stand-in for the benchmarks: keep-alive, tiny JSON answers.
// Runs in its own process so it does not share a core's event loop with the load.
import https from "node:https";
import { writeFileSync } from "node:fs";
import { createAuthority, LeafFactory } from "../dist/tls/authority.js";

const caFile = process.argv[2];
const ca = createAuthority({ commonName: "bench upstream CA", permitted: ["127.0.0.1", "localhost"] });
const leaf = new LeafFactory(ca).issue(["127.0.0.1", "localhost"]);
writeFileSync(caFile, ca.certPem);
const body = JSON.stringify({ "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users/$entity", id: "1", displayName: "Bench" });
const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem, keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "request-id": "00000000-0000-0000-0000-000000000000" });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening ${server.address().port}\n`));
process.on("SIGTERM", () => process.exit(0));
