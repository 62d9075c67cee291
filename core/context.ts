import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Duplex } from 'node:stream';
import type { LbError } from './errors.js';
import type { Target } from './target-pool.js';

/** A streaming body change: a Node Duplex/Transform or a web TransformStream. */
export type BodyStage = Duplex | TransformStream<Uint8Array, Uint8Array>;

function toDuplex(stage: BodyStage): Duplex {
  return stage instanceof Duplex ? stage : Duplex.fromWeb(stage as unknown as Parameters<typeof Duplex.fromWeb>[0]);
}

/** @internal the engine serving a request. */
export interface RequestOwner {
  finish(ctx: RequestContext, completed: boolean): void;
}

/**
 * One request's state as it moves through the pipeline. Created once per request
 * with a fixed shape; plugins keep their own per-request data in `locals`.
 */
export class RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** `performance.now()` when the request arrived. */
  readonly startedAt: number;
  /** The target chosen for the current attempt. */
  target: Target | undefined = undefined;
  /** Targets tried and failed before the current attempt (retries exclude them). */
  tried: Target[] | undefined = undefined;
  /** The cipher the encrypt hook resolved for this request's session, if any. */
  cipher: BodyCipher | undefined = undefined;
  /** Set when the request ended in an error. */
  error: LbError | undefined = undefined;
  /** Body stages for the request, applied in order (the core puts decryption first). */
  requestStages: Duplex[] | undefined = undefined;
  /** @internal the target whose in-flight count this request holds. */
  held: Target | undefined = undefined;
  /** @internal the request to the backend, once created. */
  upstreamRequest: ClientRequest | undefined = undefined;
  /** Attempts made so far: 1 for the first, more after retries. */
  attempts = 0;
  /** @internal whether any request body byte may have reached a backend (then no retry may replay it). */
  bodySent = false;
  /** @internal whether a backend's response headers arrived. */
  responded = false;
  /** @internal who is told when the response closes. */
  readonly owner: RequestOwner;
  private localsMap: Map<string | symbol, unknown> | undefined = undefined;

  constructor(req: IncomingMessage, res: ServerResponse, startedAt: number, owner: RequestOwner) {
    this.req = req;
    this.res = res;
    this.startedAt = startedAt;
    this.owner = owner;
  }

  /** Lower-cased names of backend response headers not to pass to the client. */
  hiddenResponseHeaders: string[] | undefined = undefined;

  /** Keeps a backend response header (say, an in-band load report) from reaching the client. */
  hideResponseHeader(name: string): void {
    (this.hiddenResponseHeaders ??= []).push(name.toLowerCase());
  }

  /** Adds a streaming stage to the request body on its way to the backend. */
  addRequestStage(stage: BodyStage): void {
    (this.requestStages ??= []).push(toDuplex(stage));
  }

  /** Per-request storage for plugins; key by your plugin's name or a symbol. */
  get locals(): Map<string | symbol, unknown> {
    return (this.localsMap ??= new Map());
  }
}

/**
 * The backend's response before it is sent to the client: status and headers are
 * mutable (hop-by-hop headers already removed); body changes are streaming stages.
 */
export class ResponseContext {
  readonly request: RequestContext;
  /** The backend's response stream. */
  readonly upstream: IncomingMessage;
  statusCode: number;
  headers: OutgoingHttpHeaders;
  /** Body stages for the response, applied in order (the core puts encryption last). */
  stages: Duplex[] | undefined = undefined;

  constructor(request: RequestContext, upstream: IncomingMessage, headers: OutgoingHttpHeaders) {
    this.request = request;
    this.upstream = upstream;
    this.statusCode = upstream.statusCode ?? 502;
    this.headers = headers;
  }

  /** Adds a streaming stage to the response body on its way to the client. */
  addStage(stage: BodyStage): void {
    (this.stages ??= []).push(toDuplex(stage));
  }
}

/**
 * What the encrypt hook resolves for a request whose session is encrypted.
 * The core, not the plugin, decides where the stages go: decryption before every
 * request transform, encryption after every response transform.
 */
export interface BodyCipher {
  /** Stage that turns the client's ciphertext into the plaintext the backend reads. */
  decryptRequest(ctx: RequestContext): BodyStage | undefined;
  /** Stage that turns the backend's plaintext into ciphertext; may also edit `response.headers`. */
  encryptResponse(response: ResponseContext): BodyStage | undefined;
}
