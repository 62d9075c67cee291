/**
 * The one table of lb's error codes. Every error lb raises or answers with has
 * a stable `code`; retry and health decisions read `retryable` and `source`,
 * never the message. `docs/errors.md` is generated from this table
 * (`npm run generate`) and a test fails when the two disagree.
 */

/** Where the fault lies: the backend, the client, or lb and its configuration. */
export type ErrorSource = 'upstream' | 'downstream' | 'internal';

export interface ErrorSpec {
  /** Message template; `{name}` is replaced by the parameter of that name. */
  readonly message: string;
  /** HTTP status answered when the error ends a request (0: no response is possible). */
  readonly statusCode: number;
  readonly source: ErrorSource;
  /** Whether sending the same request to another target is safe. */
  readonly retryable: boolean;
  /** What the error means, for docs/errors.md. */
  readonly meaning: string;
  /** How to fix it, for docs/errors.md and CLI output. */
  readonly fix: string;
}

function spec(s: ErrorSpec): ErrorSpec {
  return Object.freeze(s);
}

export const ERRORS = Object.freeze({
  LB_ERR_CONFIG_NOT_FOUND: spec({
    message: 'No configuration found: {detail}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'No rc file was found, or the file given to --config does not exist.',
    fix: 'Create one with `lb init`, or pass `--config FILE` with an existing file.',
  }),
  LB_ERR_CONFIG_PARSE: spec({
    message: 'Cannot parse {file}: {detail}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The rc file is not valid JSON, YAML or JavaScript.',
    fix: 'Correct the syntax at the line and column given; `lb validate --config FILE` checks it without starting.',
  }),
  LB_ERR_CONFIG_INVALID: spec({
    message: 'Invalid configuration in {file}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The rc file parsed but breaks the schema: an unknown key, a wrong type, a value out of range.',
    fix: 'Each listed problem names the JSON path, what was expected and what was found; change that value.',
  }),
  LB_ERR_CONFIG_NO_BACKENDS: spec({
    message: 'No backends configured in {file}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: '`lb run` needs at least one backend to send requests to.',
    fix: 'Add `"backends": ["http://127.0.0.1:9001"]` to the rc file, or run with `--demo` to start example backends.',
  }),
  LB_ERR_PRESET_UNKNOWN: spec({
    message: 'Preset "{name}" is unknown.{suggestion}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The rc file or --preset names a preset that does not exist.',
    fix: 'Run `lb presets` to list the presets, and use one of those names.',
  }),
  LB_ERR_PLUGIN_UNKNOWN: spec({
    message: 'Plugin "{name}" is neither built in nor an installed package or file.{suggestion}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'A plugin name could not be resolved.',
    fix: 'Use a built-in name (`lb presets` shows them), install the npm package, or give a path starting with ./ relative to the rc file.',
  }),
  LB_ERR_PLUGIN_DUPLICATE: spec({
    message: 'Plugin "{name}" is listed twice.',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The same plugin appears twice in `plugins`, or both as the strategy and in `plugins`.',
    fix: 'Keep one entry and merge its options; to change a preset\'s plugin, list it once with the options to override.',
  }),
  LB_ERR_PLUGIN_SHAPE: spec({
    message: 'Module "{name}" does not export an lb plugin: {detail}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The module was found but its default export is not `{ name, schema, apply(pipeline, options) }`.',
    fix: 'Export a plugin object as the module\'s default export (see docs/plugins.md).',
  }),
  LB_ERR_PLUGIN_API_VERSION: spec({
    message: 'Plugin "{name}" targets plugin API {wanted}; this lb provides {provided}.',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The plugin was written for another version of the plugin contract.',
    fix: 'Upgrade lb or the plugin so that their plugin API versions match.',
  }),
  LB_ERR_PLUGIN_WRONG_SLOT: spec({
    message: 'Plugin "{name}" is a {kind}, so it belongs in "{slot}".',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The `strategy` slot takes exactly one plugin of kind "strategy"; `plugins` takes every other kind.',
    fix: 'Name the strategy in `"strategy": "NAME"` and list other plugins under `plugins`.',
  }),
  LB_ERR_PLUGIN_HOOK_FAILED: spec({
    message: 'Plugin "{plugin}" failed in hook {hook}: {detail}',
    statusCode: 500, source: 'internal', retryable: false,
    meaning: 'A plugin threw or rejected while handling a hook.',
    fix: 'The log line names the plugin and the hook; report it to the plugin\'s author with the request that caused it.',
  }),
  LB_ERR_PIPELINE_SEALED: spec({
    message: 'Cannot tap hook {hook} as "{plugin}": the pipeline is sealed once lb starts.',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'A plugin tried to add a tap after start-up; every tap recompiles the hook, so taps belong in apply().',
    fix: 'Move the tap into the plugin\'s apply() method.',
  }),
  LB_ERR_PIPELINE_CALLBACK_TAP: spec({
    message: 'Hook {hook} was tapped with tapAsync by "{plugin}"; lb accepts tap and tapPromise only.',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'Callback-style taps are not supported, so that every plugin uses one async style.',
    fix: 'Use tapPromise with an async function.',
  }),
  LB_ERR_TARGET_NONE_AVAILABLE: spec({
    message: 'No backend is available to serve this request.',
    statusCode: 503, source: 'upstream', retryable: true,
    meaning: 'Every backend is down, or the strategy chose none.',
    fix: 'Check the backends: `lb` logs each one that goes down with the reason. The response carries Retry-After.',
  }),
  LB_ERR_UPSTREAM_CONNECT: spec({
    message: 'Could not connect to backend {target}: {detail}',
    statusCode: 502, source: 'upstream', retryable: true,
    meaning: 'The backend refused the connection or could not be reached; nothing was sent.',
    fix: 'Check that the backend is running and listens on the configured address.',
  }),
  LB_ERR_UPSTREAM_CONNECT_TIMEOUT: spec({
    message: 'Connecting to backend {target} took longer than {timeoutMs} ms.',
    statusCode: 504, source: 'upstream', retryable: true,
    meaning: 'The TCP connection to the backend was not established within timeouts.connectMs.',
    fix: 'Check the backend\'s network and load, or raise timeouts.connectMs.',
  }),
  LB_ERR_UPSTREAM_TIMEOUT: spec({
    message: 'Backend {target} sent nothing for {timeoutMs} ms.',
    statusCode: 504, source: 'upstream', retryable: false,
    meaning: 'The backend accepted the request but stayed silent longer than timeouts.upstreamMs.',
    fix: 'Find out why the backend is slow, or raise timeouts.upstreamMs for slow endpoints.',
  }),
  LB_ERR_UPSTREAM_RESET: spec({
    message: 'Backend {target} closed the connection: {detail}',
    statusCode: 502, source: 'upstream', retryable: false,
    meaning: 'The backend reset or closed the connection before the response was complete.',
    fix: 'Check the backend\'s logs for a crash or a closed keep-alive connection; its keep-alive timeout should exceed lb\'s idle timeout.',
  }),
  LB_ERR_UPSTREAM_BAD_RESPONSE: spec({
    message: 'Backend {target} sent a malformed response: {detail}',
    statusCode: 502, source: 'upstream', retryable: false,
    meaning: 'The backend\'s response could not be parsed as HTTP/1.1.',
    fix: 'Fix the backend so that it answers with valid HTTP.',
  }),
  LB_ERR_CLIENT_HEADER_TIMEOUT: spec({
    message: 'The client did not send complete request headers within {timeoutMs} ms.',
    statusCode: 408, source: 'downstream', retryable: false,
    meaning: 'A client was too slow sending headers (as in a slowloris attack) and was cut off.',
    fix: 'Nothing, if the client was hostile; raise timeouts.headerMs for clients on very slow links.',
  }),
  LB_ERR_CLIENT_BAD_REQUEST: spec({
    message: 'Malformed request: {detail}',
    statusCode: 400, source: 'downstream', retryable: false,
    meaning: 'The request could not be parsed as HTTP/1.1.',
    fix: 'Fix the client; the log line gives the parser\'s reason.',
  }),
  LB_ERR_CLIENT_HEADERS_TOO_LARGE: spec({
    message: 'Request headers exceed {limit} bytes.',
    statusCode: 431, source: 'downstream', retryable: false,
    meaning: 'The request\'s headers are larger than limits.maxHeaderBytes.',
    fix: 'Send fewer or smaller headers (often: too many cookies), or raise limits.maxHeaderBytes.',
  }),
  LB_ERR_CLIENT_ABORTED: spec({
    message: 'The client closed the connection before the response was complete.',
    statusCode: 499, source: 'downstream', retryable: false,
    meaning: 'The client went away; lb aborted the upstream request. No response is sent (499 appears in logs only, as in nginx).',
    fix: 'Nothing to fix in lb; frequent aborts may mean clients time out before slow backends answer.',
  }),
  LB_ERR_RESPONSE_BODY_TOO_LARGE: spec({
    message: 'The response body from {target} is larger than the {limit} bytes a plugin reads into memory.',
    statusCode: 502, source: 'upstream', retryable: false,
    meaning: 'A plugin read a whole response body into memory (`response.readBody`) and the backend sent more than the plugin\'s limit. Built-in plugins only do this for bodies whose Content-Length is under their limit.',
    fix: 'If the plugin is yours, check the declared length before calling readBody, or stream the body through a stage instead.',
  }),
  LB_ERR_COMPRESSION_BOMB: spec({
    message: 'Request body expands past {limit} when decompressed: {detail}',
    statusCode: 413, source: 'downstream', retryable: false,
    meaning: 'A compressed request body decompressed past request.maxSize, or past request.maxRatio once larger than request.ratioAfter (a decompression bomb). lb stopped reading it.',
    fix: 'Send a smaller body, or raise the compression plugin\'s request.maxSize (or a route\'s maxRequestSize) or request.maxRatio for that path.',
  }),
  LB_ERR_COMPRESSION_CORRUPT: spec({
    message: 'Request body is not valid {encoding}: {detail}',
    statusCode: 400, source: 'downstream', retryable: false,
    meaning: 'A request body labelled with Content-Encoding could not be decoded: corrupt or truncated data.',
    fix: 'Fix the client so that the body matches its Content-Encoding and is sent whole.',
  }),
  LB_ERR_COMPRESSION_UNSUPPORTED: spec({
    message: 'Request body has Content-Encoding "{encoding}", which lb cannot decode.',
    statusCode: 415, source: 'downstream', retryable: false,
    meaning: 'The request body uses a coding other than br, gzip and deflate, or more than two stacked codings. The response lists the accepted codings in Accept-Encoding.',
    fix: 'Send the body as br, gzip or deflate, or set the compression plugin\'s request.unknownEncoding to "pass" to let the backend decide.',
  }),
  LB_ERR_COMPRESSION_UPSTREAM_MISLABELED: spec({
    message: 'Backend {target} labels its body Content-Encoding {encoding}, but the body is not: {detail}',
    statusCode: 502, source: 'upstream', retryable: false,
    meaning: 'The first bytes of a backend response do not decode in the coding its Content-Encoding names, so clients could not read it.',
    fix: 'Fix the backend: send Content-Encoding only for bodies it actually encoded (often a cached or double-compressed response).',
  }),
  LB_ERR_LISTEN_FAILED: spec({
    message: 'Cannot listen on {address}: {detail}',
    statusCode: 0, source: 'internal', retryable: false,
    meaning: 'The listening socket could not be opened (the port is taken, or needs privileges).',
    fix: 'Choose another port with --port or listen.port, or stop the process holding it.',
  }),
});

export type ErrorCode = keyof typeof ERRORS;

const LB_ERROR = Symbol.for('lb.error');

/** An lb error: branded so that copies of lb from other packages still recognise it. */
export class LbError extends Error {
  readonly [LB_ERROR] = true;
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly source: ErrorSource;
  readonly retryable: boolean;
  readonly fix: string;
  /** Further lines (one problem per line), as for config validation. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, params: Record<string, string | number> = {}, options: { cause?: unknown; details?: readonly string[] } = {}) {
    const s = ERRORS[code];
    super(s.message.replace(/\{(\w+)\}/g, (_m, key: string) => String(params[key] ?? '')), { cause: options.cause });
    this.name = 'LbError';
    this.code = code;
    this.statusCode = s.statusCode;
    this.source = s.source;
    this.retryable = s.retryable;
    this.fix = s.fix;
    this.details = options.details ?? [];
  }
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
