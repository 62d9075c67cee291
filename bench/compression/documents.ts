// The three documents of the compression bench, generated deterministically (same bytes on every run
// and machine): a ~1.3 KB JSON API response, a 100 KB HTML page and a 1 MB JSON export.

/** A seeded PRNG (mulberry32): the same seed gives the same sequence everywhere. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ('the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were '
  + 'her she there one all we their been has when who will more no if out so said what up its about into than them can only other new '
  + 'some could time these two may then do first any my now such like our over man me even most made after also did many before must '
  + 'through back years where much your way well down should because each just those people how too little state good very make world '
  + 'still own see men work long get here between both life being under never day same another know while last might us great old year '
  + 'off come since against go came right used take three states himself few house use during without again place american around '
  + 'however home small found thought went say part once general high upon school every does got united left number course war until '
  + 'always away something fact though water less public put think almost hand enough far took head yet government system better set '
  + 'told nothing night end why called did eyes find going look asked later knew point next program city business give group toward '
  + 'young days let room president side social given present several order national possible rather second face per among form often '
  + 'important things looked early white case john become large big need four within felt along children saw best church ever least '
  + 'power development light thing seemed family interest want members mind country area others done turned although open god service '
  + 'problem certain kind different thus began door help means sense whole matter perhaps itself york times law human line above name '
  + 'example action company hands local show whether five history gave today either act feet across taken past quite anything having seen '
  + 'death experience body word half really week field car words already themselves information tell together college shall money period '
  + 'held keep sure probably free seems political real behind cannot miss question air office making brought whose special major heard '
  + 'problems federal became study ago moment available known result street economic boy reason change position south board individual '
  + 'job areas society west close turn love community true court force full seem am wife age policy').split(' ');

const SYLLABLES = ['ka', 'lo', 'mi', 'ter', 'san', 'dre', 'vo', 'pli', 'nor', 'gu', 'xen', 'bra', 'ti', 'mon', 'ex', 'qua', 'rel', 'dis', 'pen', 'sto'];

/**
 * Words with a Zipf-like skew over a vocabulary the size of real prose (common English words
 * plus ~2,000 made-up ones), so match lengths and entropy resemble real text.
 */
function wordPicker(random: () => number): () => string {
  const vocabulary = [...WORDS];
  const seen = new Set(vocabulary);
  while (vocabulary.length < 2400) {
    const n = 2 + Math.floor(random() * 3);
    const word = Array.from({ length: n }, () => SYLLABLES[Math.floor(random() * SYLLABLES.length)]).join('');
    if (!seen.has(word)) {
      seen.add(word);
      vocabulary.push(word);
    }
  }
  // Rank r is picked with probability ~ 1/r (Zipf's law), by inverting the harmonic CDF approximately.
  return () => vocabulary[Math.min(vocabulary.length - 1, Math.floor(Math.exp(random() * Math.log(vocabulary.length + 1))) - 1)];
}

function sentence(random: () => number, pick: () => string, min: number, max: number): string {
  const n = min + Math.floor(random() * (max - min + 1));
  const words = Array.from({ length: n }, pick);
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  return `${words.join(' ')}.`;
}

const FIRST = ['Ada', 'Alan', 'Grace', 'Linus', 'Barbara', 'Ken', 'Dennis', 'Margaret', 'Edsger', 'Donald', 'Frances', 'John', 'Radia', 'Tim'];
const LAST = ['Lovelace', 'Turing', 'Hopper', 'Torvalds', 'Liskov', 'Thompson', 'Ritchie', 'Hamilton', 'Dijkstra', 'Knuth', 'Allen', 'McCarthy', 'Perlman', 'Lee'];
const ROLES = ['admin', 'editor', 'viewer', 'owner'];
const CITIES = ['Lisbon', 'Oslo', 'Kyoto', 'Austin', 'Nairobi', 'Lyon', 'Porto', 'Quito', 'Perth', 'Tallinn'];

function isoDate(random: () => number): string {
  const ms = Date.UTC(2023, 0, 1) + Math.floor(random() * 700 * 86_400_000);
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function user(random: () => number, id: number): Record<string, unknown> {
  const first = FIRST[Math.floor(random() * FIRST.length)];
  const last = LAST[Math.floor(random() * LAST.length)];
  return {
    id,
    name: `${first} ${last}`,
    email: `${first}.${last}${id}@example.com`.toLowerCase(),
    role: ROLES[Math.floor(random() * ROLES.length)],
    active: random() > 0.2,
    city: CITIES[Math.floor(random() * CITIES.length)],
    createdAt: isoDate(random),
  };
}

/** A paginated API response of users, about 1.3 KB (the original design's 1,275-byte example size). */
export function smallJson(): Buffer {
  const random = seededRandom(1275);
  const users = Array.from({ length: 7 }, (_, i) => user(random, 1001 + i));
  const doc = { status: 'ok', data: { users }, meta: { page: 1, perPage: 7, total: 418, next: '/api/v1/users?page=2&perPage=7' }, requestId: 'c0ffee42-1275-4d1e-9b3a-5e2f7a9d0b61' };
  return Buffer.from(JSON.stringify(doc));
}

/** A 100 KB article page: head with CSS, navigation, sections of prose, a table, a script. */
export function mediumHtml(targetBytes = 100 * 1024): Buffer {
  const random = seededRandom(100);
  const pick = wordPicker(random);
  const head = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Quarterly engineering report</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1f2328;line-height:1.6}
header,footer{background:#f6f8fa;padding:16px 32px;border-bottom:1px solid #d0d7de}
nav a{margin-right:16px;color:#0969da;text-decoration:none}
main{max-width:880px;margin:0 auto;padding:24px 32px}
h2{border-bottom:1px solid #d8dee4;padding-bottom:4px}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #d0d7de;padding:6px 12px}
.note{background:#fff8c5;border-left:4px solid #d4a72c;padding:8px 16px}
</style>
</head>
<body>
<header><nav>${['Home', 'Reports', 'Teams', 'Roadmap', 'Incidents', 'Contact'].map((n) => `<a href="/${n.toLowerCase()}">${n}</a>`).join('')}</nav></header>
<main>
`;
  const tail = `</main>
<footer><p>Generated for the lb compression benchmark.</p></footer>
<script>document.querySelectorAll('table tr').forEach(function(r,i){if(i%2)r.style.background='#f6f8fa'});</script>
</body>
</html>
`;
  let body = '';
  let section = 0;
  while (Buffer.byteLength(head + body + tail) < targetBytes) {
    section++;
    body += `<section id="s${section}">\n<h2>${sentence(random, pick, 3, 6).slice(0, -1)}</h2>\n`;
    for (let p = 0; p < 3; p++) body += `<p>${Array.from({ length: 4 }, () => sentence(random, pick, 8, 20)).join(' ')}</p>\n`;
    if (section % 3 === 0) {
      body += '<table>\n<tr><th>Team</th><th>Deploys</th><th>Incidents</th><th>Latency p99</th></tr>\n';
      for (let r = 0; r < 5; r++) {
        body += `<tr><td>${LAST[Math.floor(random() * LAST.length)]}</td><td>${Math.floor(random() * 400)}</td><td>${Math.floor(random() * 9)}</td><td>${(random() * 300).toFixed(1)} ms</td></tr>\n`;
      }
      body += '</table>\n';
    }
    if (section % 4 === 0) body += `<p class="note">${sentence(random, pick, 10, 18)}</p>\n`;
    body += '</section>\n';
  }
  return trimHtml(Buffer.from(head + body + tail), targetBytes);
}

/** Cuts the page to exactly `bytes` at a section boundary, then pads with a comment so the size is exact. */
function trimHtml(page: Buffer, bytes: number): Buffer {
  const text = page.toString();
  const tailStart = text.lastIndexOf('</main>');
  const tail = text.slice(tailStart);
  let body = text.slice(0, tailStart);
  while (Buffer.byteLength(body + tail) > bytes) body = body.slice(0, body.lastIndexOf('<section'));
  const pad = bytes - Buffer.byteLength(body + tail) - '<!--  -->\n'.length;
  return Buffer.from(`${body}<!-- ${'.'.repeat(Math.max(0, pad))} -->\n${tail}`);
}

/** A 1 MB JSON export of orders: nested objects, numbers, dates, free text. */
export function largeJson(targetBytes = 1024 * 1024): Buffer {
  const random = seededRandom(1_048_576);
  const pick = wordPicker(random);
  const orders: unknown[] = [];
  let size = 2;
  for (let id = 50_000; size < targetBytes; id++) {
    const items = Array.from({ length: 1 + Math.floor(random() * 4) }, () => ({
      sku: `SKU-${(100_000 + Math.floor(random() * 900_000)).toString(36).toUpperCase()}`,
      quantity: 1 + Math.floor(random() * 5),
      unitPrice: Math.round(random() * 20_000) / 100,
    }));
    const order = {
      id,
      customer: user(random, 10_000 + Math.floor(random() * 5000)),
      items,
      total: Math.round(items.reduce((n, i) => n + i.quantity * i.unitPrice, 0) * 100) / 100,
      currency: 'EUR',
      status: ['paid', 'shipped', 'delivered', 'refunded'][Math.floor(random() * 4)],
      note: sentence(random, pick, 4, 14),
      placedAt: isoDate(random),
    };
    const text = JSON.stringify(order);
    if (size + text.length + 1 > targetBytes) break;
    orders.push(order);
    size += text.length + 1;
  }
  const json = JSON.stringify(orders);
  const pad = targetBytes - Buffer.byteLength(json);
  // Pad inside the array with spaces (valid JSON) so the document is exactly targetBytes.
  return Buffer.from(pad > 0 ? `${json.slice(0, -1)}${' '.repeat(pad)}]` : json);
}

export interface BenchDocument {
  id: 'json-1k' | 'html-100k' | 'json-1m';
  label: string;
  contentType: string;
  body: Buffer;
}

/** The three documents, in order of size. */
export function benchDocuments(): BenchDocument[] {
  return [
    { id: 'json-1k', label: '1.3 KB JSON', contentType: 'application/json', body: smallJson() },
    { id: 'html-100k', label: '100 KB HTML', contentType: 'text/html; charset=utf-8', body: mediumHtml() },
    { id: 'json-1m', label: '1 MB JSON', contentType: 'application/json', body: largeJson() },
  ];
}
