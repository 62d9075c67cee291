// The page of test/browser/handshake.test.ts, served in clear by its backend through lb:
// it imports the browser bundle of lb/client and exposes one function per scenario on
// window.scenarios. The pin comes in the query (?pin=SHA256:…). Plain JS on purpose:
// Chromium runs it as it is.
import * as lb from '/lb-client.js';

const pin = new URLSearchParams(location.search).get('pin');

const connect = (options = {}) => lb.connect(location.origin, { pin, ...options });

async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function within(promise, ms, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The page's own fetch, counting each response's bytes as they come off the wire (still encrypted). */
function countingFetch(seen) {
  return async (url, init) => {
    const res = await fetch(url, init);
    const entry = { path: new URL(url).pathname, lbContentEncoding: res.headers.get('lb-content-encoding'), contentEncoding: res.headers.get('content-encoding'), wireBytes: 0 };
    seen.push(entry);
    if (!res.body) return res;
    const counted = res.body.pipeThrough(new TransformStream({
      transform(chunk, controller) {
        entry.wireBytes += chunk.length;
        controller.enqueue(chunk);
      },
    }));
    return new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

window.scenarios = {
  async roundTrips() {
    const session = await connect();
    const get = await session.fetch('/api/echo?empty=1');
    const getBody = await get.json();
    const post = await session.fetch('/api/echo?small=1', { method: 'POST', body: 'hello from chromium', headers: { 'content-type': 'text/plain;charset=utf-8' } });
    const postBody = await post.json();
    const bodiless = await session.fetch('/api/nothing', { method: 'DELETE' });
    const expiresInMs = session.expires - Date.now();
    await session.close();
    return {
      id: session.id,
      expiresInMs,
      get: { status: get.status, xEcho: get.headers.get('x-echo'), body: getBody },
      post: { status: post.status, body: postBody },
      bodiless: { status: bodiless.status, body: await bodiless.text() },
    };
  },

  async bigUpload(size) {
    const body = new Uint8Array(size);
    // getRandomValues fills at most 65536 bytes per call.
    for (let at = 0; at < size; at += 65536) crypto.getRandomValues(body.subarray(at, Math.min(size, at + 65536)));
    const local = await sha256(body);
    const session = await connect();
    const res = await session.fetch('/api/echo?big=1', { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } });
    return { local, status: res.status, echoed: await res.json() };
  },

  async streamedDownload() {
    const session = await connect();
    const res = await session.fetch('/api/stream');
    const reader = res.body.getReader();
    const parts = [];
    // The backend holds the rest until /api/release: bytes here prove the response streams.
    const first = await within(reader.read(), 15000, 'no decrypted bytes arrived while the backend held the rest of the stream');
    parts.push(first.value);
    const release = await session.fetch('/api/release', { method: 'POST' });
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
    }
    const all = concat(parts);
    return { status: res.status, firstRead: first.value.length, reads: parts.length, bytes: all.length, sha256: await sha256(all), releaseStatus: release.status };
  },

  async compressed() {
    const seen = [];
    const session = await connect({ fetch: countingFetch(seen) });
    const res = await session.fetch('/api/text');
    const text = await res.text();
    return { status: res.status, contentType: res.headers.get('content-type'), length: text.length, sha256: await sha256(new TextEncoder().encode(text)), wire: seen.find((s) => s.path === '/api/text') };
  },

  async x25519() {
    const keys = lb.prepare('x25519');
    const session = await connect({ keys });
    const res = await session.fetch('/api/echo?suite=x25519', { method: 'POST', body: 'over x25519' });
    return { status: res.status, body: await res.json() };
  },

  async wrongPin(wrong) {
    try {
      await lb.connect(location.origin, { pin: wrong });
      return { connected: true };
    } catch (e) {
      return { name: e.name, code: e.code, status: e.status, fromServer: e.fromServer, isLbClientError: e instanceof lb.LbClientError, message: e.message };
    }
  },
};
document.body.dataset.ready = 'yes';
