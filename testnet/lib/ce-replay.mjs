// Re-runs a compact-encoding vector against the installed JS packages and returns
// what the JS code produces now, in the same shape as the vector's expectation:
// { hex } for a successful encode, { output: { value } } or { output: { error } }.
//
// It reads nothing but the vector's `fn` and `input`, i.e. exactly what a checker
// in another language gets, so it doubles as a test that the file format is
// complete and unambiguous.

import { c, parseFn, fromJSONValue, toJSONValue, hexToBytes } from './ce-codecs.mjs'

export function replay (vector) {
  const { op, codec } = parseFn(vector.fn)
  if (op === 'encode') {
    const value = fromJSONValue(codec.kind, vector.input.value)
    try {
      return { hex: Buffer.from(c.encode(codec.enc, value)).toString('hex') }
    } catch (err) {
      return { output: { error: err.message } }
    }
  }
  const bytes = hexToBytes(vector.input.hex)
  try {
    return { output: { value: toJSONValue(c.decode(codec.enc, bytes)) } }
  } catch (err) {
    return { output: { error: err.message } }
  }
}

// The expectation part of a vector in the same shape replay() returns.
export function expectation (vector) {
  return 'hex' in vector ? { hex: vector.hex } : { output: vector.output }
}
