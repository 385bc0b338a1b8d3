// Raw-socket HTTP/1.1 client for the end-to-end shell tests: things curl cannot do (pipelining
// in one write, partial headers, abrupt disconnects). Prints one JSON object on stdout:
//   {"end":"closed"|"timeout"|"destroyed"|"error", "ms":N (connect to end), "raw":"...", "responses":[...],
//    "served_meanwhile":N}
// responses: [{status, headers:{lowercase name: value}, body}] parsed from what was received
// (Content-Length or chunked bodies; 1xx and HEAD-less bodies handled).
//
// usage: node rawhttp.mjs --port P [--host H] [--send DATA]... [--gap-ms N] [--timeout-ms N]
//                         [--wait-continue] [--destroy-after-ms N] [--half-close]
//                         [--probe-path PATH]
//   --send            bytes to write (repeatable: one write each, --gap-ms apart)
//   --wait-continue   after the first write, wait for "100 Continue" before the next ones
//   --destroy-after-ms  reset the connection this long after the last write
//   --probe-path      meanwhile, on a second keep-alive connection opened first, request PATH
//                     again and again until the main connection ends; "served_meanwhile"
//                     counts the responses that arrived before it ended
import net from 'node:net';

const args = { host: '127.0.0.1', send: [], gapMs: 0, timeoutMs: 10000, waitContinue: false,
               destroyAfterMs: -1, halfClose: false, probePath: null, port: 0 };
for (let i = 2; i < process.argv.length; i++) {
    const a = process.argv[i], v = () => process.argv[++i];
    if (a === '--port') args.port = Number(v());
    else if (a === '--host') args.host = v();
    else if (a === '--send') args.send.push(v());
    else if (a === '--gap-ms') args.gapMs = Number(v());
    else if (a === '--timeout-ms') args.timeoutMs = Number(v());
    else if (a === '--wait-continue') args.waitContinue = true;
    else if (a === '--destroy-after-ms') args.destroyAfterMs = Number(v());
    else if (a === '--half-close') args.halfClose = true;
    else if (a === '--probe-path') args.probePath = v();
    else { console.error(`rawhttp: unknown argument ${a}`); process.exit(2); }
}
if (!args.port) { console.error('rawhttp: --port is required'); process.exit(2); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Parses as many complete responses as `buf` holds. Returns {responses, rest}. */
function parseResponses(buf) {
    const out = [];
    let off = 0;
    for (;;) {
        const headEnd = buf.indexOf('\r\n\r\n', off, 'latin1');
        if (headEnd < 0) break;
        const lines = buf.subarray(off, headEnd).toString('latin1').split('\r\n');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
        if (!m) break;
        const status = Number(m[1]);
        const headers = {};
        for (const l of lines.slice(1)) {
            const i = l.indexOf(':');
            if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        let p = headEnd + 4, body = Buffer.alloc(0);
        if (status >= 200 && headers['transfer-encoding'] === 'chunked') {
            const parts = [];
            let done = false;
            for (;;) {
                const le = buf.indexOf('\r\n', p, 'latin1');
                if (le < 0) break;
                const n = parseInt(buf.subarray(p, le).toString('latin1'), 16);
                if (buf.length < le + 2 + n + 2) break;
                parts.push(buf.subarray(le + 2, le + 2 + n));
                p = le + 2 + n + 2;
                if (n === 0) { done = true; break; }
            }
            if (!done) break;
            body = Buffer.concat(parts);
        } else if (status >= 200) {
            const n = Number(headers['content-length'] || 0);
            if (buf.length < p + n) break;
            body = buf.subarray(p, p + n);
            p += n;
        }
        out.push({ status, headers, body: body.toString('utf8') });
        off = p;
    }
    return { responses: out, rest: buf.subarray(off) };
}

function connect() {
    return new Promise((resolve, reject) => {
        const s = net.connect({ host: args.host, port: args.port }, () => resolve(s));
        s.once('error', reject);
    });
}

/* A keep-alive connection that answers one GET at a time. */
async function probeConnection(path) {
    const s = await connect();
    s.setNoDelay(true);
    let pending = Buffer.alloc(0), waiter = null;
    s.on('data', (d) => {
        pending = Buffer.concat([pending, d]);
        const { responses, rest } = parseResponses(pending);
        if (responses.length && waiter) {
            pending = rest;
            const w = waiter;
            waiter = null;
            w.resolve(responses[0]);
        }
    });
    s.on('error', () => {});
    s.on('close', () => { if (waiter) waiter.reject(new Error('probe connection closed')); });
    return {
        get: () => new Promise((resolve, reject) => {
            waiter = { resolve, reject };
            s.write(`GET ${path} HTTP/1.1\r\nHost: probe\r\n\r\n`);
        }),
        close: () => s.destroy(),
    };
}

async function main() {
    let probe = null, served = 0;
    if (args.probePath) {
        probe = await probeConnection(args.probePath);
        const r = await probe.get(); /* warm: the connection is established and served once */
        if (r.status !== 200) throw new Error(`probe warm-up got ${r.status}`);
    }
    const s = await connect();
    const t0 = Date.now(); /* "ms" counts from the main connection's start */
    s.setNoDelay(true);
    const chunks = [];
    let end = null, endMs = 0;
    const ended = new Promise((resolve) => {
        const finish = (how) => { if (!end) { end = how; endMs = Date.now() - t0; resolve(); } };
        s.on('data', (d) => chunks.push(d));
        s.on('end', () => finish('closed'));
        s.on('close', () => finish('closed'));
        s.on('error', (e) => finish(e.code === 'ECONNRESET' ? 'closed' : 'error'));
        setTimeout(() => { finish('timeout'); s.destroy(); }, args.timeoutMs).unref();
        s.destroyNow = () => { finish('destroyed'); s.resetAndDestroy ? s.resetAndDestroy() : s.destroy(); };
    });
    const received = () => Buffer.concat(chunks).toString('latin1');

    for (let i = 0; i < args.send.length && !end; i++) {
        if (i > 0 && args.gapMs) await sleep(args.gapMs);
        if (i === 1 && args.waitContinue) {
            const deadline = Date.now() + args.timeoutMs;
            while (!/^HTTP\/1\.1 100 /.test(received()) && !end && Date.now() < deadline) await sleep(10);
        }
        s.write(Buffer.from(args.send[i], 'latin1'));
    }
    if (args.halfClose && !end) s.end();
    if (args.destroyAfterMs >= 0 && !end) { await sleep(args.destroyAfterMs); s.destroyNow(); }

    if (probe) {
        while (!end) {
            try {
                const r = await probe.get();
                if (!end && r.status === 200) served++;
            } catch { break; }
            await sleep(20);
        }
        probe.close();
    }
    await ended;
    const raw = Buffer.concat(chunks);
    const { responses } = parseResponses(raw);
    process.stdout.write(JSON.stringify({ end, ms: endMs, raw: raw.toString('latin1'), responses,
                                          served_meanwhile: served }) + '\n');
}

main().catch((e) => { console.error(`rawhttp: ${e.stack || e}`); process.exit(1); });
