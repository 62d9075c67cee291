import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, PassThrough, Readable } from 'node:stream';
import { RequestContext } from '../context.js';
import type { Target } from '../target-pool.js';

/** The engine a request belongs to: told once when its response closes. */
export interface RequestOwner {
  finish(ctx: EngineContext, completed: boolean): void;
  failMidRequest(ctx: EngineContext, error: import('../errors.js').LbError): void;
}

/**
 * A request body held back until the backend's connection is established, so that a
 * connection failure has consumed nothing and the request can go elsewhere.
 */
export interface GatedBody {
  source: Readable;
  gate: PassThrough;
}

/**
 * The engine's own per-request state, beside the public RequestContext that plugins
 * see. One object per request with a fixed shape: no side tables on the hot path.
 */
export class EngineContext extends RequestContext {
  /** The target whose in-flight count this request holds. */
  held: Target | undefined = undefined;
  /** The request to the backend, once created. */
  upstreamRequest: ClientRequest | undefined = undefined;
  /** Whether any request body byte may have reached a backend (then no retry may replay it). */
  bodySent = false;
  /** Whether a backend's response headers arrived. */
  responded = false;
  /** The held-back body, once a body is sent. */
  gated: GatedBody | undefined = undefined;
  /** For a WebSocket upgrade: the client's socket, once the request is a tunnel. */
  tunnel: Duplex | undefined = undefined;
  /** Who is told when the response closes. */
  readonly owner: RequestOwner;

  constructor(req: IncomingMessage, res: ServerResponse, startedAt: number, owner: RequestOwner) {
    super(req, res, startedAt);
    this.owner = owner;
  }
}
