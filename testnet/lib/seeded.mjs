// Deterministic byte source for the recorders.
//
// Every "random" byte string in a vector file comes from here, so re-running a
// recorder yields byte-identical output. Bytes for (seed, label) are the
// concatenation of SHA-256(`${seed}/${label}/${counter}`) for counter = 0, 1, ...
// truncated to the requested length. Using a label per call site means adding a
// vector never changes the bytes of an existing one.

import { createHash } from 'node:crypto'

export function seededBytes (seed, label, length) {
  const out = Buffer.alloc(length)
  let filled = 0
  for (let counter = 0; filled < length; counter++) {
    const block = createHash('sha256').update(`${seed}/${label}/${counter}`).digest()
    filled += block.copy(out, filled, 0, Math.min(block.length, length - filled))
  }
  return out
}
