// The recorder's thread: a CaptureWriter that runs beside the proxy's event loop, so
// JSON encoding, SQLite inserts and WAL checkpoints never delay a request.
import { parentPort, workerData } from "node:worker_threads";
import type { Exchange, TunnelRecord } from "../exchange/types.js";
import { UserError } from "../errors.js";
import { CaptureWriter, type SessionStart } from "./writer.js";
import type { ToWorker, FromWorker } from "./thread.js";

const port = parentPort;
if (!port) throw new Error("writer-worker must run in a worker thread");
const send = (msg: FromWorker) => port.postMessage(msg);
const data = workerData as { file: string; session: SessionStart };

// Structured clone turns a Buffer into a plain Uint8Array: make it a Buffer again.
function revive(ex: Exchange): Exchange {
  for (const body of [ex.requestBody, ex.responseBody]) {
    if (body && !Buffer.isBuffer(body.bytes)) {
      const u8 = body.bytes as Uint8Array;
      body.bytes = Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
    }
  }
  return ex;
}

let writer: CaptureWriter;
try {
  writer = CaptureWriter.open(data.file);
  send({ type: "ready", sessionId: writer.startSession(data.session) });
} catch (err) {
  send({ type: "failed", message: (err as Error).message, user: err instanceof UserError });
  process.exit(0);
}

port.on("message", (msg: ToWorker) => {
  if (msg.type === "batch") {
    for (const ex of msg.exchanges) writer.write(revive(ex));
    for (const t of msg.tunnels as TunnelRecord[]) writer.writeTunnel(t);
    writer.flush();
    send({ type: "progress", written: writer.written, tunnels: writer.tunnelsWritten, dropped: writer.dropped });
  } else if (msg.type === "close") {
    writer.close();
    send({ type: "closed", written: writer.written, tunnels: writer.tunnelsWritten, dropped: writer.dropped });
    port.close();
  }
});
