// A blind tunnel for hosts graphtap does not intercept: bytes are copied both ways,
// nothing is decrypted; only the envelope (host, port, bytes, duration) is recorded.
import net from "node:net";
import { newId } from "../exchange/id.js";
import type { TunnelRecord } from "../exchange/types.js";

export function openTunnel(
  client: net.Socket,
  head: Buffer,
  target: { host: string; port: number },
  sessionId: string,
  clientAddress: string | undefined,
  onClose: (record: TunnelRecord) => void,
): void {
  const startedAt = Date.now();
  const t0 = performance.now();
  let connected = false;
  let error: TunnelRecord["error"];
  const upstream = net.connect({ host: target.host, port: target.port });
  upstream.setNoDelay(true);
  client.setNoDelay(true);

  upstream.once("connect", () => {
    connected = true;
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.on("error", (err: NodeJS.ErrnoException) => {
    error ??= { code: err.code ?? "UPSTREAM_ERROR", message: err.message, phase: connected ? "response" : "connect" };
    if (!connected && client.writable) {
      client.end(
        `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n` +
          `graphtap: cannot reach ${target.host}:${target.port}: ${err.code ?? err.message}\n`,
      );
    } else {
      client.destroy();
    }
  });
  client.on("error", () => upstream.destroy());
  client.on("close", () => upstream.destroy());
  upstream.on("close", () => {
    client.destroy();
    const record: TunnelRecord = {
      id: newId(),
      sessionId,
      host: target.host,
      port: target.port,
      startedAt,
      durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
      bytesUp: upstream.bytesWritten,
      bytesDown: upstream.bytesRead,
    };
    if (error) record.error = error;
    if (clientAddress) record.clientAddress = clientAddress;
    onClose(record);
  });
}
