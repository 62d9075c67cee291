import type { Readable } from 'node:stream';

/** What `peek` saw at the start of a stream. */
export interface Peeked {
  /** The chunks seen; unless `ended`, they are also back at the front of the stream. */
  chunks: Buffer[];
  bytes: number;
  /** The stream ended within the bytes read: `chunks` are the whole body, and the stream is spent. */
  ended: boolean;
}

/**
 * Looks at the start of `stream` until `bytes` have arrived, it ends or fails, or
 * `waitMs` pass. Unless the stream ended, the chunks are put back at its front before
 * anything else can run (a paused stream that still holds data cannot emit 'end'), so
 * whatever reads it next sees the whole body. Holds at most `bytes` plus one chunk.
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
      if (!ended) {
        stream.pause();
        if (!stream.destroyed) for (let i = chunks.length - 1; i >= 0; i--) stream.unshift(chunks[i]);
      }
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

/** The peeked bytes as one buffer. */
export function peekedBody(peeked: Peeked): Buffer {
  return peeked.chunks.length === 1 ? peeked.chunks[0] : Buffer.concat(peeked.chunks, peeked.bytes);
}
