// A bounded copy of a body taken on the side of the stream: bytes flow on to the
// other end as they arrive; graphtap keeps at most `cap` of them for the capture.
import { brotliDecompressSync, constants, gunzipSync, inflateRawSync, inflateSync } from "node:zlib";
import type { CapturedBody } from "./types.js";

export const DEFAULT_MAX_BODY = 1024 * 1024;

export class BodyTap {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Every byte seen, kept or not. */
  wireSize = 0;

  constructor(private readonly cap: number) {}

  push(chunk: Buffer): void {
    this.wireSize += chunk.length;
    if (this.kept >= this.cap) return;
    const room = this.cap - this.kept;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.kept += part.length;
  }

  /** The captured body, decoded from its content-encoding; undefined when empty. */
  finish(encoding: string | undefined): CapturedBody | undefined {
    if (this.wireSize === 0) return undefined;
    const raw = Buffer.concat(this.chunks, this.kept);
    const wireTruncated = this.wireSize > this.kept;
    const enc = encoding?.trim().toLowerCase();
    if (!enc || enc === "identity") return { bytes: raw, wireSize: this.wireSize, truncated: wireTruncated };
    const decoded = decode(raw, enc, this.cap);
    if (!decoded) {
      // Unknown or broken encoding: keep the wire bytes as they were, say so.
      return { bytes: raw, wireSize: this.wireSize, truncated: wireTruncated, encoding: enc };
    }
    return {
      bytes: decoded.bytes,
      wireSize: this.wireSize,
      truncated: wireTruncated || decoded.capped,
      encoding: enc,
    };
  }
}

/**
 * Decodes at most `cap` bytes. A truncated stream is decoded as far as it goes
 * (sync flush), and the output is capped so a decompression bomb cannot grow it.
 */
function decode(raw: Buffer, enc: string, cap: number): { bytes: Buffer; capped: boolean } | undefined {
  const opts = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: cap };
  try {
    switch (enc) {
      case "gzip":
      case "x-gzip":
        return capped(gunzipSync(raw, opts), cap);
      case "deflate":
        // "deflate" is zlib-wrapped by the spec but raw deflate in the wild.
        try {
          return capped(inflateSync(raw, opts), cap);
        } catch {
          return capped(inflateRawSync(raw, opts), cap);
        }
      case "br":
        return capped(
          brotliDecompressSync(raw, { finishFlush: constants.BROTLI_OPERATION_FLUSH, maxOutputLength: cap }),
          cap,
        );
      default:
        return undefined;
    }
  } catch (err) {
    // ERR_BUFFER_TOO_LARGE: the decoded body is larger than the cap.
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") return decodeCapped(raw, enc, cap);
    return undefined;
  }
}

function capped(bytes: Buffer, cap: number): { bytes: Buffer; capped: boolean } {
  return { bytes, capped: bytes.length >= cap };
}

/** Streaming decode that stops at the cap, for bodies whose decoded size exceeds it. */
function decodeCapped(raw: Buffer, enc: string, cap: number): { bytes: Buffer; capped: boolean } | undefined {
  // Decode a prefix of the input that is small enough to stay under the cap;
  // halving converges quickly and keeps this synchronous and bounded.
  let len = raw.length;
  while (len > 16) {
    len = Math.floor(len / 2);
    const got = decode(raw.subarray(0, len), enc, cap);
    if (got) return { bytes: got.bytes.subarray(0, cap), capped: true };
  }
  return undefined;
}
