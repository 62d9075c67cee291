import type { Readable, Writable } from 'node:stream';

/** What `peek` read from the start of a stream. */
export interface Peeked {
  chunks: Buffer[];
  bytes: number;
  /** The stream ended within the bytes read. */
  ended: boolean;
}

/**
 * Reads from `stream` until `bytes` have arrived, it ends or fails, or `waitMs` pass;
 * then pauses it. The chunks read must be written to the first body stage before the
 * core pipes the rest (see `replay`). Holds at most `bytes` plus one chunk.
 */
export function peek(stream: Readable, bytes: number, waitMs: number): Promise<Peeked> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timer: NodeJS.Timeout | undefined;
    const done = (ended: boolean) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onStop);
      stream.off('close', onStop);
      if (!ended) stream.pause();
      resolve({ chunks, bytes: size, ended });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= bytes) done(false);
    };
    const onEnd = () => done(true);
    // An aborted backend response: the core cuts the client's response when it sees the close.
    const onStop = () => done(false);
    if (stream.readableEnded) {
      resolve({ chunks, bytes: 0, ended: true });
      return;
    }
    timer = setTimeout(() => done(false), waitMs);
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onStop);
    stream.once('close', onStop);
  });
}

/** Writes the peeked chunks into the first stage, ahead of what the core will pipe into it. */
export function replay(peeked: Peeked, first: Writable): void {
  for (const chunk of peeked.chunks) first.write(chunk);
}
