import type { Socket } from 'node:net';
import type { EngineContext } from './engine-context.js';

/** A body this small (declared) is read and dropped after an early response, keeping the connection alive. */
const DISCARD_KEEP_ALIVE_MAX = 1024 * 1024;

/**
 * The backend answered before the client finished sending its body (a 401, 413 or
 * redirect sent before reading the upload). The client must not be left pushing its
 * body into a backend that will never read it: lb stops forwarding it, and once the
 * response is sent, reads and discards the rest. A small declared body is simply
 * drained and the connection stays alive for the next request, as Node does itself;
 * anything else gets `Connection: close` and nginx's lingering close: the rest is read
 * and dropped for up to `lingerMs`, so the client sees the response rather than a
 * reset, then the connection is closed. The backend's connection, which still expects
 * the rest of the body, is never reused (the engine destroys the upstream request).
 * With `forward` (a 2xx: a backend that streams its answer while it reads, such as
 * an echo) the body keeps flowing to the backend; the rest applies all the same.
 */
export function handleEarlyResponse(ctx: EngineContext, lingerMs: number, forward = false): void {
  const { req, res } = ctx;
  if (!forward) {
    // Stop forwarding: the client's body no longer flows into the gate, nor into request stages.
    ctx.gated?.source.unpipe();
    req.unpipe();
  }
  const declared = Number(req.headers['content-length']);
  if (!(declared <= DISCARD_KEEP_ALIVE_MAX)) {
    res.shouldKeepAlive = false;
    const socket = req.socket as Socket & { destroySoon(): void };
    // Node ends and destroys the socket as soon as a last response is written: linger instead.
    socket.destroySoon = function lingeringClose(this: Socket) {
      if (this.writable) this.end();
      const timer = setTimeout(() => this.destroy(), lingerMs);
      timer.unref();
      this.once('close', () => clearTimeout(timer));
      req.once('end', () => this.destroy());
    };
  }
  res.once('finish', () => req.resume());
}
