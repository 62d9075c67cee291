import type { IncomingMessage } from 'node:http';

/** What `readAhead` saw of a request body. */
export interface ReadAhead {
  chunks: Buffer[];
  bytes: number;
  /** The body ended within what was read: `chunks` are all of it and `req` is spent. */
  ended: boolean;
  /** Neither enough bytes nor the end arrived within the wait. */
  timedOut: boolean;
}

/**
 * Reads the start of a request body until `enough(bytesSoFar, chunks)` says so, it
 * ends, fails or `waitMs` pass. Unless it ended, the chunks go back to the front of
 * `req` (a paused stream that still holds data cannot emit 'end'), so whatever reads
 * it next sees the whole body; `enough` answering "whole" (every byte of the body is
 * here) keeps them instead, and lets `req` run to its end.
 */
export function readAhead(req: IncomingMessage, enough: (bytes: number, chunks: Buffer[]) => boolean | 'whole', waitMs: number): Promise<ReadAhead> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    const done = (ended: boolean, timedOut = false, whole = false) => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onStop);
      req.off('close', onStop);
      if (whole) req.resume();
      else if (!ended) {
        req.pause();
        if (!req.destroyed) for (let i = chunks.length - 1; i >= 0; i--) req.unshift(chunks[i]);
      }
      resolve({ chunks, bytes, ended: ended || whole, timedOut });
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
      const verdict = enough(bytes, chunks);
      if (verdict === 'whole') done(false, false, true);
      else if (verdict) done(false);
    };
    const onEnd = () => done(true);
    const onStop = () => done(false);
    const timer = setTimeout(() => done(false, true), waitMs);
    if (req.readableEnded) {
      done(true);
      return;
    }
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onStop);
    req.once('close', onStop);
  });
}
