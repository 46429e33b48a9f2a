// Sortable ids (ULID layout): 48-bit millisecond timestamp + 80 random bits, in
// Crockford base32, 26 characters. Sorting ids as strings sorts them by creation time,
// so exchanges and sessions can be ordered and paged without a second column.
import { randomFillSync } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_CHARS = 10;
const RANDOM_CHARS = 16;

let lastTime = -1;
/** The random part of the last id, one base32 digit (0..31) per entry. */
const lastRandom = new Uint8Array(RANDOM_CHARS);

// randomFillSync per id is a syscall; a pool amortises it for bursts of ids.
const pool = new Uint8Array(RANDOM_CHARS * 256);
let poolOffset = pool.length;

function fillRandom(): void {
  if (poolOffset + RANDOM_CHARS > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  for (let i = 0; i < RANDOM_CHARS; i++) lastRandom[i] = pool[poolOffset + i]! & 31;
  poolOffset += RANDOM_CHARS;
}

/** Adds one to the random part; false when it wrapped around (2^80 ids in one ms). */
function incrementRandom(): boolean {
  for (let i = RANDOM_CHARS - 1; i >= 0; i--) {
    if (lastRandom[i]! < 31) {
      lastRandom[i]! += 1;
      return true;
    }
    lastRandom[i] = 0;
  }
  return false;
}

function encodeTime(ms: number): string {
  let out = "";
  for (let i = 0; i < TIME_CHARS; i++) {
    out = ALPHABET[ms % 32]! + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/**
 * A new id, strictly greater than every id this process made before. Within one
 * millisecond (or if the clock steps back) the random part is incremented instead of
 * redrawn, so ids stay unique and ordered however many are made per millisecond.
 */
export function newId(now: number = Date.now()): string {
  if (now > lastTime) {
    lastTime = now;
    fillRandom();
  } else if (!incrementRandom()) {
    // 2^80 ids in one millisecond cannot happen in practice; borrow the next ms anyway.
    lastTime += 1;
    fillRandom();
  }
  let random = "";
  for (let i = 0; i < RANDOM_CHARS; i++) random += ALPHABET[lastRandom[i]!]!;
  return encodeTime(lastTime) + random;
}

/** The creation time (epoch ms) encoded in an id made by newId, or undefined. */
export function idTime(id: string): number | undefined {
  if (id.length !== TIME_CHARS + RANDOM_CHARS) return undefined;
  let ms = 0;
  for (let i = 0; i < TIME_CHARS; i++) {
    const digit = ALPHABET.indexOf(id[i]!.toUpperCase());
    if (digit < 0) return undefined;
    ms = ms * 32 + digit;
  }
  return ms;
}
