import type { AttributesJson, CloudEvent, DataKind } from '../../cloudevents/index.js';
import { attributesJsonLength, copyAttributesJson, storedAttributesJson } from '../../cloudevents/index.js';
import type { StoredEvent, TraceHeaders } from '../types.js';
import { DedupeWindow } from '../dedupe-window.js';

/**
 * The embedded store keeps events in blocks: one `event_blocks` row per group of events committed
 * together, holding their already-serialised attributes, data and trace in one length-prefixed payload.
 * An append then costs one SQLite statement per block instead of one per event.
 *
 * Payload (version 1): one version byte, then per event, in sequence order:
 *   u32 LE  attributes length (UTF-8 bytes of the JSON object)
 *   u32 LE  data length + 1 (0: no data)
 *   u8      data kind
 *   u32 LE  trace length + 1 (0: no trace; else UTF-8 bytes of the JSON object)
 *   the attributes, the data, the trace
 * Keys (`keys` column): per event the 32-bit dedupe hash of (source, id, publishing principal), LE, so
 * that the dedupe window is rebuilt on open without decoding a payload. The hash is `DedupeIndex.hashOf`,
 * which for the anonymous principal is the hash of (source, id) that blocks written before principals
 * were in the key hold; changing it otherwise needs a new format version.
 */
export const BLOCK_FORMAT = 1;
const EVENT_HEADER = 13;
/** A block is closed once its payload passes this size: a read of one event fetches at most this much. */
export const BLOCK_TARGET_BYTES = 64 * 1024;

/** The encoder's scratch buffer, reused from group to group. */
const SCRATCH_BYTES = 1 << 20;

/** One row of `event_blocks`, in column order (an array: cheap to post to the writer thread). */
export type EventBlockRow = [
  firstSeq: number,
  lastSeq: number,
  storedAt: number,
  bytes: number,
  keys: Uint8Array,
  payload: Uint8Array,
];

/**
 * The buffers a group's rows view (one for the payloads, one for the keys, from `BlockEncoder.finish`),
 * to transfer them to the writer thread and back instead of copying them.
 */
export function blockBuffers(blocks: readonly EventBlockRow[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const block of blocks) {
    buffers.add(block[4].buffer as ArrayBuffer);
    buffers.add(block[5].buffer as ArrayBuffer);
  }
  return [...buffers];
}

/**
 * The size an event counts for in the log's byte total and byte retention: the UTF-8 bytes of its
 * attributes' JSON and of its data, as the block holds them.
 *
 * @remarks Before the attributes could be written as the producer's own text (`AttributesJson`), this
 * counted the serialised attributes' UTF-16 length: the same for ASCII. Blocks written then keep the
 * sizes they were counted with (the `bytes` column); only a retention cut through such a block counts
 * the events it drops by bytes.
 */
function eventSizeAt(payload: Buffer, at: number): number {
  const dataField = payload.readUInt32LE(at + 4);
  return payload.readUInt32LE(at) + (dataField === 0 ? 0 : dataField - 1);
}

/**
 * Builds the blocks of one group commit in a reused scratch buffer; `finish` copies them out into one
 * compact buffer (so a block posted to the writer thread does not drag the scratch along).
 */
export class BlockEncoder {
  private payload = Buffer.allocUnsafe(SCRATCH_BYTES);
  private keys = Buffer.allocUnsafe(1 << 14);
  private offset = 0;
  private keyOffset = 0;
  /** [payload start, keys start, first sequence, last sequence, stored at, bytes] of each block. */
  private marks: number[][] = [];
  private current: number[] | undefined;

  /**
   * Adds the next event of the group (sequences contiguous, all stored at the same time) and returns
   * the size it counts for (`size` when given: a legacy row's own).
   */
  add(
    sequence: number,
    storedAt: number,
    attrs: string | AttributesJson,
    data: Uint8Array | null | undefined,
    dataKind: number,
    trace: string | null,
    hash: number,
    size?: number,
  ): number {
    let block = this.current;
    if (
      block === undefined ||
      block[3] !== sequence - 1 ||
      block[4] !== storedAt ||
      this.offset - (block[0] as number) >= BLOCK_TARGET_BYTES
    ) {
      this.ensure(1);
      this.payload[this.offset++] = BLOCK_FORMAT;
      block = [this.offset - 1, this.keyOffset, sequence, sequence - 1, storedAt, 0];
      this.marks.push(block);
      this.current = block;
    }
    const dataLength = data?.byteLength ?? 0;
    const textual = typeof attrs === 'string';
    const attrsBound = textual ? attrs.length * 3 : attributesJsonLength(attrs);
    this.ensure(EVENT_HEADER + attrsBound + dataLength + (trace === null ? 0 : trace.length * 3));
    const buf = this.payload;
    const at = this.offset;
    let attrsLength: number;
    if (textual) attrsLength = buf.write(attrs, at + EVENT_HEADER, 'utf8');
    else attrsLength = copyAttributesJson(attrs, buf, at + EVENT_HEADER);
    buf.writeUInt32LE(attrsLength, at);
    buf.writeUInt32LE(data === null || data === undefined ? 0 : dataLength + 1, at + 4);
    buf[at + 8] = dataKind;
    let end = at + EVENT_HEADER + attrsLength;
    if (data !== null && data !== undefined) {
      buf.set(data, end);
      end += dataLength;
    }
    if (trace === null) buf.writeUInt32LE(0, at + 9);
    else {
      const traceLength = buf.write(trace, end, 'utf8');
      buf.writeUInt32LE(traceLength + 1, at + 9);
      end += traceLength;
    }
    this.offset = end;
    if (this.keyOffset + 4 > this.keys.length) {
      const grown = Buffer.allocUnsafe(this.keys.length * 2);
      this.keys.copy(grown, 0, 0, this.keyOffset);
      this.keys = grown;
    }
    this.keys.writeInt32LE(hash, this.keyOffset);
    this.keyOffset += 4;
    block[3] = sequence;
    const counted = size ?? attrsLength + dataLength;
    block[5] = (block[5] as number) + counted;
    return counted;
  }

  private ensure(extra: number): void {
    if (this.offset + extra <= this.payload.length) return;
    let size = this.payload.length * 2;
    while (size < this.offset + extra) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.payload.copy(grown, 0, 0, this.offset);
    this.payload = grown;
  }

  /** The group's blocks, and resets the encoder for the next group. */
  finish(): EventBlockRow[] {
    const marks = this.marks;
    const rows: EventBlockRow[] = [];
    if (marks.length > 0) {
      const payload = new Uint8Array(this.offset);
      payload.set(this.payload.subarray(0, this.offset));
      const keys = new Uint8Array(this.keyOffset);
      keys.set(this.keys.subarray(0, this.keyOffset));
      marks.forEach((mark, i) => {
        const [start, keyStart, first, last, storedAt, bytes] = mark as [
          number,
          number,
          number,
          number,
          number,
          number,
        ];
        const next = marks[i + 1];
        const end = next === undefined ? this.offset : (next[0] as number);
        const keyEnd = next === undefined ? this.keyOffset : (next[1] as number);
        rows.push([
          first,
          last,
          storedAt,
          bytes,
          keys.subarray(keyStart, keyEnd),
          payload.subarray(start, end),
        ]);
      });
    }
    this.reset();
    return rows;
  }

  /** Forgets the group being built (and a scratch buffer an unusually large group grew). */
  reset(): void {
    if (this.payload.length > SCRATCH_BYTES * 8) this.payload = Buffer.allocUnsafe(SCRATCH_BYTES);
    if (this.keys.length > SCRATCH_BYTES) this.keys = Buffer.allocUnsafe(1 << 14);
    this.offset = 0;
    this.keyOffset = 0;
    this.marks = [];
    this.current = undefined;
  }
}

/** Where each event of a block starts, and where the payload ends (the last entry). */
function eventOffsets(payload: Buffer): number[] {
  if (payload[0] !== BLOCK_FORMAT) throw new Error(`unknown event block format ${String(payload[0])}`);
  const offsets: number[] = [];
  let at = 1;
  while (at < payload.length) {
    offsets.push(at);
    at += EVENT_HEADER + eventBodyLength(payload, at);
  }
  offsets.push(at);
  return offsets;
}

function eventBodyLength(payload: Buffer, at: number): number {
  const data = payload.readUInt32LE(at + 4);
  const trace = payload.readUInt32LE(at + 9);
  return payload.readUInt32LE(at) + (data === 0 ? 0 : data - 1) + (trace === 0 ? 0 : trace - 1);
}

function attrsAt(payload: Buffer, at: number): string {
  return payload.toString('utf8', at + EVENT_HEADER, at + EVENT_HEADER + payload.readUInt32LE(at));
}

/**
 * Decodes the events of a block with `sequence >= from` into `out`, until `out` holds `limit`. Data and
 * the attributes' text are copied out of the payload, so a kept event never pins the whole block.
 */
export function decodeBlock(
  payload: Buffer,
  firstSeq: number,
  storedAt: number,
  from: number,
  limit: number,
  out: StoredEvent[],
): void {
  if (payload[0] !== BLOCK_FORMAT) throw new Error(`unknown event block format ${String(payload[0])}`);
  let at = 1;
  for (let sequence = firstSeq; at < payload.length && out.length < limit; sequence++) {
    const attrsLength = payload.readUInt32LE(at);
    const dataField = payload.readUInt32LE(at + 4);
    const traceField = payload.readUInt32LE(at + 9);
    const bodyStart = at + EVENT_HEADER;
    const dataStart = bodyStart + attrsLength;
    const traceStart = dataStart + (dataField === 0 ? 0 : dataField - 1);
    const end = traceStart + (traceField === 0 ? 0 : traceField - 1);
    if (sequence >= from) {
      // The attributes' text and the data in one copy: the event keeps its attributes' JSON text, so
      // delivering it in JSON copies these bytes instead of serialising the attributes again.
      const body = Buffer.from(payload.subarray(bodyStart, traceStart));
      const attributes = JSON.parse(body.toString('utf8', 0, attrsLength)) as CloudEvent['attributes'];
      const event: CloudEvent = {
        attributes,
        data: dataField === 0 ? undefined : body.subarray(attrsLength),
        dataKind: payload[at + 8] as DataKind,
        attributesJson: storedAttributesJson(attributes, body, attrsLength),
      };
      out.push({
        sequence,
        storedAt,
        event,
        trace:
          traceField === 0
            ? undefined
            : (JSON.parse(payload.toString('utf8', traceStart, end)) as TraceHeaders),
      });
    }
    at = end;
  }
}

/** The dedupe key of the event at `index` in a block, or undefined when the block has no such event. */
export function keyInBlock(payload: Buffer, index: number): string | undefined {
  const offsets = eventOffsets(payload);
  const at = offsets[index];
  if (at === undefined || index >= offsets.length - 1) return undefined;
  const attributes = JSON.parse(attrsAt(payload, at)) as Record<string, unknown>;
  return DedupeWindow.key(attributes['source'] as string, attributes['id'] as string);
}

/** The dedupe keys (`DedupeWindow.key(source, id)`) of a block's events, in order (retention keeping them). */
export function keysOfBlock(payload: Buffer): string[] {
  const offsets = eventOffsets(payload);
  const keys: string[] = [];
  for (let i = 0; i < offsets.length - 1; i++) {
    const attributes = JSON.parse(attrsAt(payload, offsets[i] as number)) as Record<string, unknown>;
    keys.push(DedupeWindow.key(attributes['source'] as string, attributes['id'] as string));
  }
  return keys;
}

/**
 * The block without its first `drop` events (retention cutting through a block): the kept events'
 * bytes are copied as they are, and the byte count of the dropped ones is returned with them.
 */
export function dropFromBlock(
  payload: Buffer,
  keys: Buffer,
  drop: number,
): { payload: Buffer; keys: Buffer; droppedBytes: number } {
  const offsets = eventOffsets(payload);
  let droppedBytes = 0;
  for (let i = 0; i < drop; i++) {
    droppedBytes += eventSizeAt(payload, offsets[i] as number);
  }
  const cut = offsets[drop] as number;
  const kept = Buffer.allocUnsafe(1 + payload.length - cut);
  kept[0] = BLOCK_FORMAT;
  payload.copy(kept, 1, cut);
  return { payload: kept, keys: Buffer.from(keys.subarray(drop * 4)), droppedBytes };
}

/** Per-event sizes of a block, oldest first (byte retention finding where to cut). */
export function eventSizes(payload: Buffer): number[] {
  const offsets = eventOffsets(payload);
  const sizes: number[] = [];
  for (let i = 0; i < offsets.length - 1; i++) sizes.push(eventSizeAt(payload, offsets[i] as number));
  return sizes;
}
