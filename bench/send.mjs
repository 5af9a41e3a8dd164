// Sends N requests one after another on one keep-alive connection and exits 0
// when every answer was 200 (for instruction counts under callgrind, where
// the request count must be exact).
//
//   node bench/send.mjs --url URL --body FILE --count N
import fs from 'node:fs';
import http from 'node:http';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, v, i, all) => (i % 2 ? pairs : [...pairs, [all[i], all[i + 1]]]), []),
);
const url = new URL(args['--url']);
const body = fs.readFileSync(args['--body']);
const count = Number(args['--count'] || 1000);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function once() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

let failed = 0;
for (let i = 0; i < count; i++) if ((await once()) !== 200) failed++;
agent.destroy();
if (failed) {
  console.error(`send: ${failed} of ${count} answers were not 200`);
  process.exit(1);
}
