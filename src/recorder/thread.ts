// The recorder on its own thread. The proxy's event loop only queues exchanges and
// posts them in batches; the worker (writer-worker.ts) owns the SQLite connection.
// Same contract as CaptureWriter: attach to the proxy's events, close() flushes all.
import type { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Exchange, TunnelRecord } from "../exchange/types.js";
import { UserError } from "../errors.js";
import { subscribe, type SessionStart } from "./writer.js";

export type ToWorker =
  | { type: "batch"; exchanges: Exchange[]; tunnels: TunnelRecord[] }
  | { type: "close" };

export type FromWorker =
  | { type: "ready"; sessionId: string }
  | { type: "failed"; message: string; user: boolean }
  | { type: "progress" | "closed"; written: number; tunnels: number; dropped: number };

const WORKER = new URL("./writer-worker.js", import.meta.url);
const BATCH = 128;
const DELAY_MS = 10;

export class ThreadedCaptureWriter {
  sessionId: string | undefined;
  written = 0;
  tunnelsWritten = 0;
  dropped = 0;
  private exchanges: Exchange[] = [];
  private tunnels: TunnelRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  private readonly detachers: Array<() => void> = [];

  private constructor(
    readonly file: string,
    private readonly worker: Worker,
  ) {
    worker.on("message", (msg: FromWorker) => {
      if (msg.type === "progress" || msg.type === "closed") {
        this.written = msg.written;
        this.tunnelsWritten = msg.tunnels;
        this.dropped = msg.dropped;
      }
    });
  }

  /** True when the compiled worker script is there (running from dist, not from sources). */
  static available(): boolean {
    return existsSync(fileURLToPath(WORKER));
  }

  /** Starts the thread, opens the capture and starts a session in it. */
  static async open(file: string, session: SessionStart): Promise<ThreadedCaptureWriter> {
    const worker = new Worker(WORKER, { workerData: { file, session } });
    const first = await new Promise<FromWorker>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    if (first.type === "failed") {
      await worker.terminate();
      throw first.user ? new UserError(first.message) : new Error(first.message);
    }
    const writer = new ThreadedCaptureWriter(file, worker);
    if (first.type === "ready") writer.sessionId = first.sessionId;
    worker.on("error", (err) => process.stderr.write(`graphtap: the recorder thread failed: ${err.message}\n`));
    return writer;
  }

  write(ex: Exchange): void {
    if (this.closing) {
      this.dropped++;
      return;
    }
    this.exchanges.push(ex);
    this.queued();
  }

  writeTunnel(t: TunnelRecord): void {
    if (this.closing) {
      this.dropped++;
      return;
    }
    this.tunnels.push(t);
    this.queued();
  }

  attach(source: EventEmitter): () => void {
    const detach = subscribe(source, this);
    this.detachers.push(detach);
    return detach;
  }

  /** Posts what is queued to the thread (one structured clone per batch). */
  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.exchanges.length === 0 && this.tunnels.length === 0) return;
    const msg: ToWorker = { type: "batch", exchanges: this.exchanges, tunnels: this.tunnels };
    this.exchanges = [];
    this.tunnels = [];
    this.worker.postMessage(msg);
  }

  /** Posts the rest, lets the thread flush and close the file, and waits for it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const detach of this.detachers.splice(0)) detach();
      this.flush();
      const closed = new Promise<void>((resolve) => {
        const onMessage = (msg: FromWorker) => {
          if (msg.type === "closed") resolve();
        };
        this.worker.on("message", onMessage);
        this.worker.once("exit", () => resolve());
      });
      this.worker.postMessage({ type: "close" } satisfies ToWorker);
      await closed;
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private queued(): void {
    if (this.exchanges.length + this.tunnels.length >= BATCH) this.flush();
    else if (this.timer === undefined) this.timer = setTimeout(() => this.flush(), DELAY_MS);
  }
}
