// Record layer micro-bench: sealing and opening one AES-256-GCM record of 1 KB and 64 KB with
// node:crypto (the proxy's node-records.ts), native WebCrypto and @peculiar/webcrypto (the SDK's
// primitives.ts), one record at a time as each side runs them, interleaved rounds, medians.
import { randomBytes } from 'node:crypto';
import { Crypto as PeculiarCrypto } from '@peculiar/webcrypto';
import { aesGcmOpen, aesGcmSeal, importAesKey, type CryptoLike } from '../../plugins/handshake/protocol/primitives.js';
import { bindingAad, nonceFor, TAG_BYTES } from '../../plugins/handshake/protocol/records.js';
import { openRecord, sealRecord, type NodeRecordKeys } from '../../plugins/handshake/node-records.js';
import { median } from '../lib/stats.js';

export const RECORD_IMPLS = ['node', 'native', 'peculiar'] as const;
export type RecordImpl = (typeof RECORD_IMPLS)[number];
export const RECORD_IMPL_LABELS: Record<RecordImpl, string> = { node: 'node:crypto', native: 'native WebCrypto', peculiar: '@peculiar/webcrypto' };
export const RECORD_SIZES = [1024, 65536] as const;
export type RecordOp = 'seal' | 'open';

/** One cell: an implementation sealing or opening records of one size. */
export interface RecordFigure {
  impl: RecordImpl;
  op: RecordOp;
  /** Record size rs on the wire (data, delimiter and tag), bytes. */
  size: number;
  /** Median over rounds of wall time per record, µs. */
  usPerRecord: number;
  /** Median CPU time per record (all threads of this process), µs. */
  cpuUsPerRecord: number;
  /** Plaintext throughput at the median, MB/s. */
  mbPerS: number;
  rounds: number;
}

type Op = (seq: number) => unknown;

interface Cell {
  impl: RecordImpl;
  op: RecordOp;
  size: number;
  run: Op;
  walls: number[];
  cpus: number[];
}

async function makeCells(): Promise<Cell[]> {
  const k = randomBytes(32);
  const nonceBase = new Uint8Array(randomBytes(12));
  const aad = bindingAad({ direction: 'response', sessionId: randomBytes(16), requestId: randomBytes(24), method: 'POST', path: '/orders?id=12345', status: 200 });
  const nodeKeys: NodeRecordKeys = { cek: k, nonceBase };
  const webs: Record<'native' | 'peculiar', CryptoLike> = { native: globalThis.crypto, peculiar: new PeculiarCrypto() };
  const cells: Cell[] = [];
  for (const size of RECORD_SIZES) {
    // A full record: rs - 16 bytes of data and delimiter, sealed to exactly rs.
    const plain = new Uint8Array(randomBytes(size - TAG_BYTES));
    const sealed = sealRecord(nodeKeys, 0, plain, aad);
    const add = (impl: RecordImpl, op: RecordOp, run: Op) => cells.push({ impl, op, size, run, walls: [], cpus: [] });
    add('node', 'seal', (seq) => sealRecord(nodeKeys, seq, plain, aad));
    add('node', 'open', () => {
      if (!openRecord(nodeKeys, 0, sealed, aad)) throw new Error('node:crypto failed to open its own record');
    });
    for (const impl of ['native', 'peculiar'] as const) {
      const c = webs[impl];
      const key = await importAesKey(c, k);
      add(impl, 'seal', (seq) => aesGcmSeal(c, key, nonceFor(nonceBase, seq), plain, aad));
      add(impl, 'open', async () => {
        if (!(await aesGcmOpen(c, key, nonceFor(nonceBase, 0), sealed, aad))) throw new Error(`${impl} failed to open node:crypto's record`);
      });
    }
  }
  // Interop first: each WebCrypto opens what node:crypto sealed (checked in every call above), and the reverse.
  for (const impl of ['native', 'peculiar'] as const) {
    const c = webs[impl];
    const plain = new Uint8Array(randomBytes(100));
    const web = await aesGcmSeal(c, await importAesKey(c, k), nonceFor(nonceBase, 7), plain, aad);
    if (!openRecord(nodeKeys, 7, web, aad)?.equals(plain)) throw new Error(`node:crypto does not open a record sealed by ${impl}`);
  }
  return cells;
}

/** Runs `cell` for about `ms`, one record after another; [wall µs, CPU µs] per record. */
async function timeCell(cell: Cell, ms: number): Promise<[number, number]> {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ms;
  while (performance.now() < end) {
    // The proxy calls node:crypto synchronously; the SDK awaits each WebCrypto call.
    for (let i = 0; i < 8; i++) {
      const r = cell.run(n++);
      if (r instanceof Promise) await r;
    }
  }
  const wall = (performance.now() - t0) * 1000;
  const cpu = process.cpuUsage(cpu0);
  return [wall / n, (cpu.user + cpu.system) / n];
}

/** Every cell, `rounds` interleaved rounds of `cellMs` each (after one warm-up pass), medians. */
export async function measureRecords(cellMs: number, rounds: number, log: (line: string) => void): Promise<RecordFigure[]> {
  const cells = await makeCells();
  for (const cell of cells) await timeCell(cell, Math.max(20, cellMs / 3));
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < cells.length; i++) {
      const cell = cells[(i + round * 3) % cells.length];
      const [wall, cpu] = await timeCell(cell, cellMs);
      cell.walls.push(wall);
      cell.cpus.push(cpu);
    }
    log(`  records: round ${round + 1}/${rounds} done`);
  }
  return cells.map((c) => {
    const us = median(c.walls);
    return { impl: c.impl, op: c.op, size: c.size, usPerRecord: us, cpuUsPerRecord: median(c.cpus), mbPerS: (c.size - TAG_BYTES - 1) / us, rounds };
  });
}
