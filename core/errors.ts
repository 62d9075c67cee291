/**
 * lb's error codes. Every error lb raises or answers with has a stable `code`;
 * retry and health decisions read `retryable` and `source`, never the message.
 * The core's own codes are in `ERRORS` below; each plugin declares its own with
 * `defineErrors` beside its code and lists them in its definition, so that codes
 * are unique across the plugins loaded (checked at start-up) and `docs/errors.md`
 * is generated from all of them (`npm run generate`; a test fails when they disagree).
 */

/** Where the fault lies: the backend, the client, or lb and its configuration. */
export type ErrorSource = 'upstream' | 'downstream' | 'internal';

/**
 * When sending the same request to another target is safe: `any` request (nothing
 * reached the backend), `idempotent` requests only (the backend may have acted on
 * it, so only a request that can be applied twice may go again), or `never`.
 */
export type Retryable = 'any' | 'idempotent' | 'never';

export interface ErrorSpec {
  /** Message template; `{name}` is replaced by the parameter of that name. */
  readonly message: string;
  /** HTTP status answered when the error ends a request (0: no response is possible). */
  readonly statusCode: number;
  readonly source: ErrorSource;
  readonly retryable: Retryable;
  /** What the error means, for docs/errors.md. */
  readonly meaning: string;
  /** How to fix it, for docs/errors.md and CLI output. */
  readonly fix: string;
}

/** A table of error codes: `LB_ERR_<AREA>_<WHAT>` to its spec. */
export type ErrorTable = Readonly<Record<string, ErrorSpec>>;

/** The shape every error code has. */
export const ERROR_CODE_PATTERN = /^LB_ERR_[A-Z0-9]+_[A-Z0-9_]+$/;

function spec(s: ErrorSpec): ErrorSpec {
  return Object.freeze(s);
}

export const ERRORS = Object.freeze({
  LB_ERR_CONFIG_NOT_FOUND: spec({
    message: 'No configuration found: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'No rc file was found, or the file given to --config does not exist.',
    fix: 'Create one with `lb init`, or pass `--config FILE` with an existing file.',
  }),
  LB_ERR_CONFIG_PARSE: spec({
    message: 'Cannot parse {file}: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The rc file is not valid JSON, YAML or JavaScript.',
    fix: 'Correct the syntax at the line and column given; `lb validate --config FILE` checks it without starting.',
  }),
  LB_ERR_CONFIG_INVALID: spec({
    message: 'Invalid configuration in {file}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The rc file parsed but breaks the schema: an unknown key, a wrong type, a value out of range.',
    fix: 'Each listed problem names the JSON path, what was expected and what was found; change that value.',
  }),
  LB_ERR_CONFIG_NO_BACKENDS: spec({
    message: 'No backends configured in {file}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: '`lb run` needs at least one backend to send requests to.',
    fix: 'Add `"backends": ["http://127.0.0.1:9001"]` to the rc file, or run with `--demo` to start example backends.',
  }),
  LB_ERR_PRESET_UNKNOWN: spec({
    message: 'Preset "{name}" is unknown.{suggestion}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The rc file or --preset names a preset that does not exist.',
    fix: 'Run `lb presets` to list the presets, and use one of those names.',
  }),
  LB_ERR_PLUGIN_UNKNOWN: spec({
    message: 'Plugin "{name}" is neither built in nor an installed package or file.{suggestion}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A plugin name could not be resolved.',
    fix: 'Use a built-in name (`lb presets` shows them), install the npm package, or give a path starting with ./ relative to the rc file.',
  }),
  LB_ERR_PLUGIN_DUPLICATE: spec({
    message: 'Plugin "{name}" is listed twice.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The same plugin appears twice in `plugins`, or both as the strategy and in `plugins`.',
    fix: 'Keep one entry and merge its options; to change a preset\'s plugin, list it once with the options to override.',
  }),
  LB_ERR_PLUGIN_SHAPE: spec({
    message: 'Module "{name}" does not export an lb plugin: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The module was found but its default export is not `{ name, schema, apply(pipeline, options) }`.',
    fix: 'Export a plugin object as the module\'s default export (see docs/plugins.md).',
  }),
  LB_ERR_PLUGIN_API_VERSION: spec({
    message: 'Plugin "{name}" targets plugin API {wanted}; this lb provides {provided}.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The plugin was written for another version of the plugin contract.',
    fix: 'Upgrade lb or the plugin so that their plugin API versions match.',
  }),
  LB_ERR_PLUGIN_WRONG_SLOT: spec({
    message: 'Plugin "{name}" is a {kind}, so it belongs in "{slot}".',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The `strategy` slot takes exactly one plugin of kind "strategy"; `plugins` takes every other kind.',
    fix: 'Name the strategy in `"strategy": "NAME"` and list other plugins under `plugins`.',
  }),
  LB_ERR_PLUGIN_HOOK_FAILED: spec({
    message: 'Plugin "{plugin}" failed in hook {hook}: {detail}',
    statusCode: 500, source: 'internal', retryable: 'never',
    meaning: 'A plugin threw or rejected while handling a hook.',
    fix: 'The log line names the plugin and the hook; report it to the plugin\'s author with the request that caused it.',
  }),
  LB_ERR_PIPELINE_SEALED: spec({
    message: 'Cannot tap hook {hook} as "{plugin}": the pipeline is sealed once lb starts.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A plugin tried to add a tap after start-up; every tap recompiles the hook, so taps belong in apply().',
    fix: 'Move the tap into the plugin\'s apply() method.',
  }),
  LB_ERR_PIPELINE_CALLBACK_TAP: spec({
    message: 'Hook {hook} was tapped with tapAsync by "{plugin}"; lb accepts tap and tapPromise only.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'Callback-style taps are not supported, so that every plugin uses one async style.',
    fix: 'Use tapPromise with an async function.',
  }),
  LB_ERR_TARGET_NONE_AVAILABLE: spec({
    message: 'No backend is available to serve this request.',
    statusCode: 503, source: 'upstream', retryable: 'any',
    meaning: 'Every backend is down, or the strategy chose none.',
    fix: 'Check the backends: `lb` logs each one that goes down with the reason. The response carries Retry-After.',
  }),
  LB_ERR_UPSTREAM_CONNECT: spec({
    message: 'Could not connect to backend {target}: {detail}',
    statusCode: 502, source: 'upstream', retryable: 'any',
    meaning: 'The backend refused the connection or could not be reached; nothing was sent.',
    fix: 'Check that the backend is running and listens on the configured address.',
  }),
  LB_ERR_UPSTREAM_CONNECT_TIMEOUT: spec({
    message: 'Connecting to backend {target} took longer than {timeoutMs} ms.',
    statusCode: 504, source: 'upstream', retryable: 'any',
    meaning: 'The TCP connection to the backend was not established within timeouts.connectMs.',
    fix: 'Check the backend\'s network and load, or raise timeouts.connectMs.',
  }),
  LB_ERR_UPSTREAM_TIMEOUT: spec({
    message: 'Backend {target} sent nothing for {timeoutMs} ms.',
    statusCode: 504, source: 'upstream', retryable: 'never',
    meaning: 'The backend accepted the request but stayed silent longer than timeouts.upstreamMs.',
    fix: 'Find out why the backend is slow, or raise timeouts.upstreamMs for slow endpoints.',
  }),
  LB_ERR_UPSTREAM_RESET: spec({
    message: 'Backend {target} closed the connection: {detail}',
    statusCode: 502, source: 'upstream', retryable: 'idempotent',
    meaning: 'The backend reset or closed the connection before the response was complete.',
    fix: 'Check the backend\'s logs for a crash or a closed keep-alive connection; its keep-alive timeout should exceed lb\'s idle timeout.',
  }),
  LB_ERR_UPSTREAM_BAD_RESPONSE: spec({
    message: 'Backend {target} sent a malformed response: {detail}',
    statusCode: 502, source: 'upstream', retryable: 'never',
    meaning: 'The backend\'s response could not be parsed as HTTP/1.1.',
    fix: 'Fix the backend so that it answers with valid HTTP.',
  }),
  LB_ERR_CLIENT_HEADER_TIMEOUT: spec({
    message: 'The client did not send complete request headers within {timeoutMs} ms.',
    statusCode: 408, source: 'downstream', retryable: 'never',
    meaning: 'A client was too slow sending headers (as in a slowloris attack) and was cut off.',
    fix: 'Nothing, if the client was hostile; raise timeouts.headerMs for clients on very slow links.',
  }),
  LB_ERR_CLIENT_BAD_REQUEST: spec({
    message: 'Malformed request: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'The request could not be parsed as HTTP/1.1.',
    fix: 'Fix the client; the log line gives the parser\'s reason.',
  }),
  LB_ERR_CLIENT_HEADERS_TOO_LARGE: spec({
    message: 'Request headers exceed {limit} bytes.',
    statusCode: 431, source: 'downstream', retryable: 'never',
    meaning: 'The request\'s headers are larger than limits.maxHeaderBytes.',
    fix: 'Send fewer or smaller headers (often: too many cookies), or raise limits.maxHeaderBytes.',
  }),
  LB_ERR_CLIENT_BAD_FRAMING: spec({
    message: 'Malformed request: its length is ambiguous or invalid ({detail}).',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'Content-Length and Transfer-Encoding together, two Content-Length fields, an invalid Content-Length, or a Transfer-Encoding that does not end in chunked: the framing request smuggling relies on (RFC 9112 §6.3). Nothing was forwarded.',
    fix: 'Fix the client: send one Content-Length, or Transfer-Encoding: chunked alone.',
  }),
  LB_ERR_CLIENT_BAD_CHUNK: spec({
    message: 'Malformed chunked request body: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'A chunk size that is not hexadecimal or overflows, junk in a chunk extension, or a line not ended by CRLF (RFC 9112 §7.1). lb stopped reading and aborted the request to the backend.',
    fix: 'Fix the client\'s chunked encoding.',
  }),
  LB_ERR_CLIENT_BAD_HEADER: spec({
    message: 'Malformed request header: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'A header name with invalid characters, a value with control characters, whitespace before the colon, or an obsolete line folding (RFC 9112 §5). Nothing was forwarded.',
    fix: 'Fix the client: one field per line, name: value, visible ASCII or tab in values.',
  }),
  LB_ERR_CLIENT_BAD_HOST: spec({
    message: 'Bad Host: {detail}.',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'The request has more than one Host field, or a Host that differs from the host of an absolute-form target (RFC 9112 §3.2). Nothing was forwarded.',
    fix: 'Fix the client: one Host field, the same as the URL\'s host.',
  }),
  LB_ERR_CLIENT_TRANSFER_ENCODING: spec({
    message: 'Transfer-Encoding "{encoding}" is not supported; lb accepts chunked only.',
    statusCode: 501, source: 'downstream', retryable: 'never',
    meaning: 'The request uses a transfer coding other than chunked (gzip, say), which lb does not decode, as nginx answers 501 to it. Nothing was forwarded.',
    fix: 'Send the body with Transfer-Encoding: chunked, or with Content-Length; compress it with Content-Encoding instead.',
  }),
  LB_ERR_CLIENT_HTTP_VERSION: spec({
    message: 'HTTP version not supported: {detail}',
    statusCode: 505, source: 'downstream', retryable: 'never',
    meaning: 'The request line names an HTTP version other than 1.0 and 1.1.',
    fix: 'Speak HTTP/1.1 to lb.',
  }),
  LB_ERR_CLIENT_INCOMPLETE_BODY: spec({
    message: 'The request body ended before its declared length: {detail}',
    statusCode: 400, source: 'downstream', retryable: 'never',
    meaning: 'The client closed its side of the connection before sending the whole body. The request to the backend was aborted.',
    fix: 'Fix the client so that it sends the whole body, or no Content-Length larger than it.',
  }),
  LB_ERR_CLIENT_URI_TOO_LONG: spec({
    message: 'The request target is longer than {limit} bytes.',
    statusCode: 414, source: 'downstream', retryable: 'never',
    meaning: 'The URL exceeds limits.maxUrlBytes. Nothing was forwarded.',
    fix: 'Send a shorter URL (move data into the body), or raise limits.maxUrlBytes.',
  }),
  LB_ERR_CLIENT_TOO_MANY_HEADERS: spec({
    message: 'The request has more than {limit} header fields.',
    statusCode: 431, source: 'downstream', retryable: 'never',
    meaning: 'The request exceeds limits.maxHeaderCount. Nothing was forwarded.',
    fix: 'Send fewer header fields, or raise limits.maxHeaderCount.',
  }),
  LB_ERR_CLIENT_BODY_TOO_LARGE: spec({
    message: 'The request body is larger than {limit} bytes.',
    statusCode: 413, source: 'downstream', retryable: 'never',
    meaning: 'A declared Content-Length above limits.maxBodyBytes (refused before anything reached a backend), or a chunked body that grew past it (the request to the backend was aborted).',
    fix: 'Send a smaller body, or raise limits.maxBodyBytes (0 turns the limit off).',
  }),
  LB_ERR_CLIENT_ABORTED: spec({
    message: 'The client closed the connection before the response was complete.',
    statusCode: 499, source: 'downstream', retryable: 'never',
    meaning: 'The client went away; lb aborted the upstream request. No response is sent (499 appears in logs only, as in nginx).',
    fix: 'Nothing to fix in lb; frequent aborts may mean clients time out before slow backends answer.',
  }),
  LB_ERR_RESPONSE_BODY_TOO_LARGE: spec({
    message: 'The response body from {target} is larger than the {limit} bytes a plugin reads into memory.',
    statusCode: 502, source: 'upstream', retryable: 'never',
    meaning: 'A plugin read a whole response body into memory (`response.readBody`) and the backend sent more than the plugin\'s limit. Built-in plugins only do this for bodies whose Content-Length is under their limit.',
    fix: 'If the plugin is yours, check the declared length before calling readBody, or stream the body through a stage instead.',
  }),
  LB_ERR_PLUGIN_CODE_DUPLICATE: spec({
    message: 'Error code {code} is declared by both {first} and {second}.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'Error codes are unique across lb and every plugin loaded, so that a code names one failure.',
    fix: 'Rename the code in one of the plugins (use the plugin\'s own area, as LB_ERR_<AREA>_<WHAT>), or load only one of them.',
  }),
  LB_ERR_PLUGIN_CODE_INVALID: spec({
    message: 'Plugin "{plugin}" declares an invalid error code {code}: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A plugin\'s error table has a code that is not LB_ERR_<AREA>_<WHAT> in capitals, or a spec without a message, status, source, retryable, meaning or fix.',
    fix: 'Correct the plugin\'s `defineErrors` table (see docs/plugins.md, "Error codes").',
  }),
  LB_ERR_SERVICE_MISSING: spec({
    message: 'Plugin "{plugin}" requires the service "{service}", which no loaded plugin provides.{providers}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A plugin declared in `requires` a service that none of the configured plugins declares in `provides`.',
    fix: 'Add a plugin that provides the service to `plugins` in the rc file.',
  }),
  LB_ERR_SERVICE_AMBIGUOUS: spec({
    message: 'The service "{service}" is provided by {providers}; choose one.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'Several loaded plugins provide the same service and the rc does not say which one serves.',
    fix: 'Name the provider in the rc: `"services": { "SERVICE": "PLUGIN" }`, or drop the other plugins.',
  }),
  LB_ERR_SERVICE_UNKNOWN_PROVIDER: spec({
    message: 'services.{service} names "{plugin}", which is not a loaded plugin providing "{service}".{providers}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The rc\'s `services` chooses a provider that is not loaded or does not declare that service.',
    fix: 'Name one of the loaded plugins that provide the service, or add the plugin to `plugins`.',
  }),
  LB_ERR_SERVICE_NOT_PROVIDED: spec({
    message: 'Plugin "{plugin}" declares that it provides "{service}" but did not provide it in apply().',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A plugin listed a service in `provides` and then did not call `pipeline.services.provide` for it.',
    fix: 'Report it to the plugin\'s author; the plugin must provide what it declares.',
  }),
  LB_ERR_SERVICE_UNDECLARED: spec({
    message: 'Plugin "{plugin}" used the service "{service}" without declaring it in {field}.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'Services are resolved before plugins are applied, from what each plugin declares; a service a plugin provides or requires must be in its `provides` or `requires`.',
    fix: 'Add the service to the plugin\'s `provides` (or `requires`) list.',
  }),
  LB_ERR_SERVICE_CYCLE: spec({
    message: 'Plugins require each other\'s services in a cycle: {cycle}.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'Providers are applied before the plugins that require them, which a cycle makes impossible.',
    fix: 'Break the cycle: one of the plugins must not require the other\'s service.',
  }),
  LB_ERR_ROUTE_CONFLICT: spec({
    message: 'Plugins "{first}" and "{second}" both claim {path}.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'Each path (or prefix) under /.lb/ belongs to one plugin; two plugins claimed the same one, or one claimed a path inside another\'s prefix.',
    fix: 'Load only one of the two plugins, or configure one of them to use another path.',
  }),
  LB_ERR_ROUTE_INVALID: spec({
    message: 'Plugin "{plugin}" claims {path}: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A reserved route must be an absolute path under /.lb/ without a query, dot segments or percent-escapes.',
    fix: 'Claim a path such as /.lb/NAME, or a prefix ending in /.',
  }),
  LB_ERR_ROUTE_NOT_FOUND: spec({
    message: 'No lb route at {path}.',
    statusCode: 404, source: 'downstream', retryable: 'never',
    meaning: 'Paths under /.lb/ belong to lb and its plugins and are never sent to a backend; no loaded plugin serves this one.',
    fix: 'Check the path, and that the plugin that serves it is in the rc; paths of a backend\'s own /.lb/ routes are not reachable through lb.',
  }),
  LB_ERR_ROUTE_METHOD: spec({
    message: 'Method {method} is not allowed on {path}; it serves {allowed}.',
    statusCode: 405, source: 'downstream', retryable: 'never',
    meaning: 'A reserved route answers only the methods its plugin lists; the response carries them in Allow.',
    fix: 'Use one of the methods in the Allow header.',
  }),
  LB_ERR_ROUTE_TIMEOUT: spec({
    message: 'Plugin "{plugin}" did not answer {path} within {timeoutMs} ms.',
    statusCode: 504, source: 'internal', retryable: 'never',
    meaning: 'A reserved route\'s handler neither answered nor started its response in time.',
    fix: 'Report it to the plugin\'s author with the request; a handler that waits on a service (Redis, say) should fail fast instead.',
  }),
  LB_ERR_ROUTE_BODY_TOO_LARGE: spec({
    message: 'The request body for {path} is larger than the {limit} bytes its handler accepts.',
    statusCode: 413, source: 'downstream', retryable: 'never',
    meaning: 'Reserved routes read bodies into memory, bounded per route.',
    fix: 'Send a smaller body; the limit is the plugin\'s.',
  }),
  LB_ERR_RELOAD_LISTEN_CHANGED: spec({
    message: 'Cannot reload: {field} changed from {from} to {to}; the listener stays where it is.',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A reload replaces plugins, backends and settings, but not the address lb listens on (nginx needs a restart for that too when it cannot bind both).',
    fix: 'Put listen back as it was and reload again, or restart lb to listen elsewhere.',
  }),
  LB_ERR_RELOAD_FAILED: spec({
    message: 'Cannot reload: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'A reload failed for a reason other than the configuration (lb is shutting down, or an unexpected error while loading).',
    fix: 'The running configuration keeps serving; read the detail, and reload again once it is fixed.',
  }),
  LB_ERR_LISTEN_FAILED: spec({
    message: 'Cannot listen on {address}: {detail}',
    statusCode: 0, source: 'internal', retryable: 'never',
    meaning: 'The listening socket could not be opened (the port is taken, or needs privileges).',
    fix: 'Choose another port with --port or listen.port, or stop the process holding it.',
  }),
});

export type ErrorCode = keyof typeof ERRORS;

const LB_ERROR = Symbol.for('lb.error');

/** Fallback for a code found in no table: a bug in whoever raised it, reported as such. */
const UNKNOWN_CODE: ErrorSpec = spec({
  message: 'Error {code} is raised without a spec.',
  statusCode: 500, source: 'internal', retryable: 'never',
  meaning: 'A plugin raised a code it did not declare with defineErrors.', fix: 'Create plugin errors with the table\'s create().',
});

export interface LbErrorOptions {
  cause?: unknown;
  /** Further lines (one problem per line), as for config validation. */
  details?: readonly string[];
  /** Seconds the client should wait before trying again (sent as Retry-After on 429 and 503). */
  retryAfter?: number;
}

/** An lb error: branded so that copies of lb from other packages still recognise it. */
export class LbError extends Error {
  readonly [LB_ERROR] = true;
  readonly code: string;
  readonly statusCode: number;
  readonly source: ErrorSource;
  readonly retryable: Retryable;
  readonly fix: string;
  /** Further lines (one problem per line), as for config validation. */
  readonly details: readonly string[];
  /** Seconds before a retry makes sense, when the error says so (Retry-After). */
  readonly retryAfter: number | undefined;

  /** A core error; plugins create theirs with their table's `create()` (see `defineErrors`). */
  constructor(code: ErrorCode, params?: Record<string, string | number>, options?: LbErrorOptions);
  /** @internal a plugin's error, with the spec from its table. */
  constructor(code: string, params: Record<string, string | number>, options: LbErrorOptions, spec: ErrorSpec);
  constructor(code: string, params: Record<string, string | number> = {}, options: LbErrorOptions = {}, given?: ErrorSpec) {
    const s = given ?? (ERRORS as ErrorTable)[code] ?? UNKNOWN_CODE;
    const values = s === UNKNOWN_CODE ? { code } : params;
    super(s.message.replace(/\{(\w+)\}/g, (_m, key: string) => String(values[key] ?? '')), { cause: options.cause });
    this.name = 'LbError';
    this.code = code;
    this.statusCode = s.statusCode;
    this.source = s.source;
    this.retryable = s.retryable;
    this.fix = s.fix;
    this.details = options.details ?? [];
    this.retryAfter = options.retryAfter;
  }
}

/** A plugin's error table, with a typed way to raise its codes. */
export interface PluginErrors<T extends ErrorTable> {
  /** The codes and their specs, for the plugin definition's `errors` and the docs. */
  readonly specs: T;
  /** An LbError of one of this table's codes. */
  create(code: keyof T & string, params?: Record<string, string | number>, options?: LbErrorOptions): LbError;
}

/**
 * Declares a plugin's own error codes (`LB_ERR_<AREA>_<WHAT>`), in the manner of
 * Fastify's `createError`: list the result in the plugin's `errors`, and raise them
 * with `create(code, params)`.
 */
export function defineErrors<const T extends Record<string, ErrorSpec>>(specs: T): PluginErrors<T> {
  const frozen = Object.freeze(Object.fromEntries(Object.entries(specs).map(([k, v]) => [k, spec(v)]))) as unknown as T;
  return Object.freeze({
    specs: frozen,
    create: (code: keyof T & string, params: Record<string, string | number> = {}, options: LbErrorOptions = {}) =>
      new LbError(code, params, options, frozen[code]),
  });
}

/** Why a spec is unusable, or undefined when it is fine. */
export function specProblem(code: string, s: Partial<ErrorSpec> | undefined): string | undefined {
  if (!ERROR_CODE_PATTERN.test(code)) return 'codes are LB_ERR_<AREA>_<WHAT> in capitals, digits and underscores';
  if (!s || typeof s !== 'object') return 'the spec is not an object';
  if (typeof s.message !== 'string' || !s.message) return 'the spec has no message';
  if (!Number.isInteger(s.statusCode) || (s.statusCode !== 0 && (s.statusCode! < 400 || s.statusCode! > 599))) return 'statusCode must be 0 or 400..599';
  if (!['upstream', 'downstream', 'internal'].includes(s.source as string)) return 'source must be upstream, downstream or internal';
  if (!['any', 'idempotent', 'never'].includes(s.retryable as string)) return 'retryable must be "any", "idempotent" or "never"';
  if (typeof s.meaning !== 'string' || !s.meaning || typeof s.fix !== 'string' || !s.fix) return 'the spec needs a meaning and a fix';
  return undefined;
}
/** True for an lb error from any copy of the package (matches the brand, not the class). */
export function isLbError(value: unknown): value is LbError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[LB_ERROR] === true;
}

/** Formats an error for a terminal: message, details, and the fix, without a stack trace. */
export function formatError(error: LbError): string {
  const lines = [`${error.message} (${error.code})`];
  for (const d of error.details) lines.push(d);
  if (error.fix) lines.push(`  -> ${error.fix}`);
  return lines.join('\n');
}
