import { expect } from 'chai';
import type http from 'node:http';
import net from 'node:net';
import { request, serversPerTest, type TestBackend } from '../support/servers.js';

interface RawResponse {
  statusLine: string;
  headers: string[];
  body: string;
}

/**
 * Writes `bytes` on a fresh connection (half-closing it after them when `halfClose`), and
 * resolves with what lb sent once it closes the connection. Rejects after a generous deadline.
 */
function sendRaw(port: number, bytes: string | Buffer[], options: { halfClose?: boolean } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const parts = typeof bytes === 'string' ? [Buffer.from(bytes, 'latin1')] : bytes;
    const socket = net.connect(port, '127.0.0.1', () => {
      for (const part of parts) socket.write(part);
      if (options.halfClose) socket.end();
    });
    const chunks: Buffer[] = [];
    const deadline = setTimeout(() => {
      socket.destroy();
      reject(new Error(`lb did not close the connection within 10 s; it sent: ${JSON.stringify(Buffer.concat(chunks).toString('latin1'))}`));
    }, 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    // lb may reset the connection after its answer; what it sent before counts.
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(deadline);
      resolve(parseRaw(Buffer.concat(chunks).toString('latin1')));
    });
  });
}

function parseRaw(text: string): RawResponse {
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return { statusLine: text, headers: [], body: '' };
  const [statusLine, ...headers] = text.slice(0, end).split('\r\n');
  return { statusLine, headers, body: text.slice(end + 4) };
}

/** A backend that reads the whole body and answers 200 `ok`; it remembers whether a request was cut short. */
interface RecordingBackend {
  backend: TestBackend;
  seen: Array<{ method: string; complete: boolean; aborted: boolean; bytes: number }>;
  /** Resolves when a request's head has arrived. */
  arrived: Promise<void>;
  /** Resolves when a request has ended, completely or not. */
  settled: Promise<void>;
}

async function recordingBackend(servers: ReturnType<typeof serversPerTest>): Promise<RecordingBackend> {
  const seen: RecordingBackend['seen'] = [];
  let onArrived!: () => void;
  let onSettled!: () => void;
  const arrived = new Promise<void>((r) => { onArrived = r; });
  const settled = new Promise<void>((r) => { onSettled = r; });
  const backend = await servers.backend('b', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const entry = { method: req.method ?? '', complete: false, aborted: false, bytes: 0 };
    seen.push(entry);
    onArrived();
    req.on('data', (c: Buffer) => { entry.bytes += c.length; });
    req.on('error', () => {});
    req.on('end', () => { entry.complete = true; res.end('ok'); });
    req.on('close', () => {
      if (!entry.complete) entry.aborted = true;
      onSettled();
    });
  });
  return { backend, seen, arrived, settled };
}

interface Case {
  name: string;
  bytes: string;
  halfClose?: boolean;
  status: string;
  code: string;
  /** The log line's whole message (with Node 20's parser's words where it quotes them). */
  message: string;
}

const LIMITS = { maxUrlBytes: 256, maxHeaderCount: 5, maxBodyBytes: 1000 };
const H = 'Host: lb.test\r\n';

const cases: Case[] = [
  {
    name: 'a URL longer than limits.maxUrlBytes',
    bytes: `GET /${'a'.repeat(300)} HTTP/1.1\r\n${H}\r\n`,
    status: '414 URI Too Long', code: 'LB_ERR_CLIENT_URI_TOO_LONG',
    message: 'The request target is longer than 256 bytes.',
  },
  {
    name: 'more header fields than limits.maxHeaderCount',
    bytes: `GET / HTTP/1.1\r\n${H}${[1, 2, 3, 4, 5].map((i) => `X-H${i}: v\r\n`).join('')}\r\n`,
    status: '431 Request Header Fields Too Large', code: 'LB_ERR_CLIENT_TOO_MANY_HEADERS',
    message: 'The request has more than 5 header fields.',
  },
  {
    name: 'two Host fields',
    bytes: `GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_HOST',
    message: 'Bad Host: 2 Host header fields; exactly one is allowed.',
  },
  {
    name: 'an HTTP/1.1 request without Host',
    bytes: `GET / HTTP/1.1\r\nAccept: */*\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_HOST',
    message: 'Bad Host: an HTTP/1.1 request needs a Host header field.',
  },
  {
    name: 'a Host differing from an absolute-form target',
    bytes: `GET http://a.test/x HTTP/1.1\r\nHost: b.test\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_HOST',
    message: 'Bad Host: Host "b.test" differs from the request target\'s host "a.test".',
  },
  {
    name: 'Transfer-Encoding "gzip, chunked"',
    bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: '501 Not Implemented', code: 'LB_ERR_CLIENT_TRANSFER_ENCODING',
    message: 'Transfer-Encoding "gzip, chunked" is not supported; lb accepts chunked only.',
  },
  {
    name: 'a declared Content-Length above limits.maxBodyBytes',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 2000\r\n\r\n${'x'.repeat(100)}`,
    status: '413 Payload Too Large', code: 'LB_ERR_CLIENT_BODY_TOO_LARGE',
    message: 'The request body is larger than 1000 bytes.',
  },
  {
    name: 'Content-Length 10000000000000000000',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 10000000000000000000\r\n\r\nxyz`,
    status: '413 Payload Too Large', code: 'LB_ERR_CLIENT_BODY_TOO_LARGE',
    message: 'The request body is larger than 1000 bytes.',
  },
  {
    name: 'Content-Length with Transfer-Encoding',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_FRAMING',
    message: "Malformed request: its length is ambiguous or invalid (HPE_INVALID_TRANSFER_ENCODING Parse Error: Transfer-Encoding can't be present with Content-Length).",
  },
  {
    name: 'two Content-Length fields',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_FRAMING',
    message: 'Malformed request: its length is ambiguous or invalid (HPE_UNEXPECTED_CONTENT_LENGTH Parse Error: Duplicate Content-Length).',
  },
  {
    name: 'a chunk size that overflows (FFFFFFFFFFFFFFFFF)',
    bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_CHUNK',
    message: 'Malformed chunked request body: HPE_INVALID_CHUNK_SIZE Parse Error: Chunk size overflow',
  },
  {
    name: 'junk in a chunk extension',
    bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a"b\x01\r\nhello\r\n0\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_CHUNK',
    message: 'Malformed chunked request body: HPE_STRICT Parse Error: Invalid character in chunk extensions name',
  },
  {
    name: 'chunk lines ended by a bare LF',
    bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_CHUNK',
    message: 'Malformed chunked request body: HPE_CR_EXPECTED Parse Error: Missing expected CR after chunk size',
  },
  {
    name: 'an obs-fold header line',
    bytes: `GET / HTTP/1.1\r\n${H}X-Folded: a\r\n b\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_HEADER',
    message: 'Malformed request header: HPE_INVALID_HEADER_TOKEN Parse Error: Unexpected whitespace after header value',
  },
  {
    name: 'a control character in a header value',
    bytes: `GET / HTTP/1.1\r\n${H}X-Ctl: a\x01b\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_HEADER',
    message: 'Malformed request header: HPE_INVALID_HEADER_TOKEN Parse Error: Invalid header value char',
  },
  {
    name: 'whitespace before a header\'s colon',
    bytes: `GET / HTTP/1.1\r\n${H}X-Space : v\r\n\r\n`,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_BAD_HEADER',
    message: 'Malformed request header: HPE_INVALID_HEADER_TOKEN Parse Error: Invalid header token',
  },
  {
    name: 'HTTP version 1.2',
    bytes: `GET / HTTP/1.2\r\n${H}\r\n`,
    status: '505 HTTP Version Not Supported', code: 'LB_ERR_CLIENT_HTTP_VERSION',
    message: 'HTTP version not supported: HPE_INVALID_VERSION Parse Error: Invalid HTTP version',
  },
  {
    name: 'a body cut short by a half-close',
    bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nonly twenty bytes...`,
    halfClose: true,
    status: '400 Bad Request', code: 'LB_ERR_CLIENT_INCOMPLETE_BODY',
    message: 'The request body ended before its declared length: HPE_INVALID_EOF_STATE Parse Error',
  },
];

function expectLbRefusal(response: RawResponse, status: string, code: string): void {
  expect(response.statusLine).to.equal(`HTTP/1.1 ${status}`);
  expect(response.body).to.equal(`${status} (${code})\n`);
  expect(response.headers.map((h) => h.toLowerCase())).to.include('connection: close');
}

/** The message of a text log line: `<time> warn  [lb] <message> code=…`. */
function logMessage(line: string): string {
  return line.match(/\[lb\] (.*?) code=/)?.[1] ?? line;
}

function logLinesWith(lines: string[], code: string): string[] {
  return lines.filter((l) => l.includes(code));
}

describe('lb refusing malformed client requests', () => {
  const servers = serversPerTest();

  for (const c of cases) {
    it(`answers ${c.name} with ${c.status} (${c.code}), one log line, and closes, forwarding nothing`, async () => {
      const { backend } = await recordingBackend(servers);
      const lb = await servers.lb({ backends: [backend.url], limits: LIMITS });

      const response = await sendRaw(lb.port, c.bytes, { halfClose: c.halfClose });

      expectLbRefusal(response, c.status, c.code);
      expect(backend.hits).to.equal(0);
      const lines = logLinesWith(lb.log.lines, c.code);
      expect(lines).to.have.length(1);
      expect(logMessage(lines[0])).to.equal(c.message);
      expect(lines[0]).to.include(` status=${c.status.slice(0, 3)}`);

      const next = await request(lb.url);
      expect(next.status).to.equal(200);
      expect(next.body).to.equal('ok');
      expect(backend.hits).to.equal(1);
    });
  }

  it('answers a chunked body growing past limits.maxBodyBytes with 413 and aborts the request to the backend', async () => {
    const rec = await recordingBackend(servers);
    const lb = await servers.lb({ backends: [rec.backend.url], limits: LIMITS });
    const chunk = (n: number) => `${n.toString(16)}\r\n${'y'.repeat(n)}\r\n`;
    const socket = net.connect(lb.port, '127.0.0.1');
    const closed = new Promise<RawResponse>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const deadline = setTimeout(() => { socket.destroy(); reject(new Error('lb did not close the connection within 10 s')); }, 10_000);
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', () => {});
      socket.on('close', () => { clearTimeout(deadline); resolve(parseRaw(Buffer.concat(chunks).toString('latin1'))); });
    });
    socket.write(`POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${chunk(600)}`);
    // The backend has the request (and the first 600 bytes are on their way) before the limit is passed.
    await rec.arrived;
    socket.write(chunk(600) + chunk(600) + '0\r\n\r\n');

    const response = await closed;
    await rec.settled;

    expectLbRefusal(response, '413 Payload Too Large', 'LB_ERR_CLIENT_BODY_TOO_LARGE');
    expect(rec.backend.hits).to.equal(1);
    expect(rec.seen).to.have.length(1);
    expect(rec.seen[0].aborted, 'the backend saw a complete request').to.equal(true);
    expect(rec.seen[0].complete).to.equal(false);
    expect(rec.seen[0].bytes).to.be.at.most(LIMITS.maxBodyBytes);
    const lines = logLinesWith(lb.log.lines, 'LB_ERR_CLIENT_BODY_TOO_LARGE');
    expect(lines).to.have.length(1);
    expect(logMessage(lines[0])).to.equal('The request body is larger than 1000 bytes.');

    const next = await request(lb.url);
    expect(next.status).to.equal(200);
    expect(next.body).to.equal('ok');
  });
});
