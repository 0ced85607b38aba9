// The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
// length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {string: string}},
// then the raw little-endian tensor bytes. Parsing validates everything against the size before
// allocating. From and to bytes here (a browser page downloads and uploads them); files in
// node/checkpoint/safetensors.ts.

/** An f32 tensor as stored on disk: shape and values. */
export interface StoredTensor {
  shape: number[];
  data: Float32Array;
}

/** A parsed safetensors file: tensors by name and the string metadata. */
export interface SafetensorsFile {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}

const BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const MAX_HEADER = 100 * 2 ** 20;

/** A checkpoint that cannot be read or does not fit; the message names the file and the problem. */
export class CheckpointError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

// Every f16 value as f32, made once: a lookup per value instead of arithmetic.
let f16Table: Float32Array | null = null;

/** Converts stored bytes of `dtype` to f32, in bulk over typed arrays (safetensors is little-endian, as are the hosts we run on). */
function toF32(dtype: string, raw: Uint8Array, count: number): Float32Array {
  // F32 data gets a buffer of its own (a copy); the others are read through a typed view, which
  // needs an aligned offset: where the file's layout gives none, through an aligned copy.
  if (dtype === 'F32') return new Float32Array(new Uint8Array(raw).buffer);
  const width = dtype === 'F64' ? 8 : 2;
  const bytes = raw.byteOffset % width === 0 ? raw : new Uint8Array(raw);
  const view = <T>(Kind: new (b: ArrayBufferLike, offset: number, length: number) => T) =>
    new Kind(bytes.buffer, bytes.byteOffset, count);
  const data = new Float32Array(count);
  if (dtype === 'F64') data.set(view(Float64Array));
  else if (dtype === 'BF16') {
    // A bfloat16 is the high half of an f32: shift it into place.
    const src = view(Uint16Array);
    const dst = new Uint32Array(data.buffer);
    for (let i = 0; i < count; i++) dst[i] = src[i] << 16;
  } else {
    f16Table ??= Float32Array.from({ length: 65536 }, (_, h) => f16ToF32(h));
    const src = view(Uint16Array);
    for (let i = 0; i < count; i++) data[i] = f16Table[src[i]];
  }
  return data;
}

/** Parses a safetensors file's bytes (`file` names it in errors), converting F16/BF16/F64 tensors to f32. */
export function parseSafetensors(buf: Uint8Array, file: string): SafetensorsFile {
  const size = buf.length;
  const fail = (why: string): never => {
    throw new CheckpointError(file, `not a valid safetensors file: ${why}`);
  };
  if (size < 8) fail(`only ${size} bytes`);
  const headerLen = Number(new DataView(buf.buffer, buf.byteOffset, 8).getBigUint64(0, true));
  if (headerLen > size - 8 || headerLen > MAX_HEADER)
    fail(`header claims ${headerLen} bytes but the file has ${size - 8} after the length`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) fail('header is not a JSON object');
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, StoredTensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (entry && typeof entry === 'object')
        for (const [k, v] of Object.entries(entry)) if (typeof v === 'string') metadata[k] = v;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bytes = typeof e?.dtype === 'string' ? BYTES[e.dtype] : undefined;
    if (!bytes)
      fail(`tensor '${name}' has unsupported dtype ${JSON.stringify(e?.dtype)} (F32, F16, BF16, F64 are read)`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0))
      fail(`tensor '${name}' has a bad shape`);
    const shape = e.shape as number[];
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0))
      fail(`tensor '${name}' has bad data_offsets`);
    const [begin, end] = offs as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end < begin || end > dataLen)
      fail(`tensor '${name}' claims bytes ${begin}–${end} but the data section has ${dataLen}`);
    if (end - begin !== count * bytes!)
      fail(`tensor '${name}' of shape [${shape}] needs ${count * bytes!} bytes, has ${end - begin}`);
    tensors.set(name, {
      shape,
      data: toF32(e.dtype as string, buf.subarray(dataStart + begin, dataStart + end), count),
    });
  }
  return { tensors, metadata };
}

/** The header (length + JSON, padded so the data stays 8-byte aligned) of a file of these f32 tensors. */
export function encodeHeader(tensors: Array<[string, StoredTensor]>, metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length)
      throw new Error(`writeSafetensors: tensor '${name}' has ${t.data.length} values for shape [${t.shape}]`);
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + n * 4] };
    offset += n * 4;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const json = new Uint8Array(text.length + ((8 - (text.length % 8)) % 8)).fill(0x20); // spaces pad
  json.set(text);
  const head = new Uint8Array(8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
  head.set(json, 8);
  return head;
}

/** The raw bytes of a stored tensor's values. */
export const bytesOf = (t: StoredTensor) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** A whole safetensors file of f32 tensors (in the order given) and string metadata, as bytes. */
export function serializeSafetensors(
  tensors: Array<[string, StoredTensor]>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const head = encodeHeader(tensors, metadata);
  const out = new Uint8Array(head.length + tensors.reduce((n, [, t]) => n + t.data.byteLength, 0));
  out.set(head);
  let at = head.length;
  for (const [, t] of tensors) {
    out.set(bytesOf(t), at);
    at += t.data.byteLength;
  }
  return out;
}
