// Shared harness for the client conformance suites (tests/clients/*.test.mjs).
//
//   const sim = await startSim();
//   const gw = await startGateway(sim, ['--default-model', '']);   // extra flags
//   gw.url            http://127.0.0.1:PORT   (Anthropic SDK baseURL, Claude Code)
//   gw.url + '/v1'    OpenAI SDK baseURL
//   await sim.chatRequests(since)            upstream chat requests with seq > since (bodies)
//   await stopAll()                          SIGTERM everything started here; throws if a
//                                            process crashed, hung or printed a sanitizer report
//
// Binaries come from LGW_BIN / LGW_SIM (set by ctest; the same files run against ASan builds),
// defaulting to build/ in the source tree. Every wait is bounded; timeouts are generous.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SRC = process.env.LGW_SRC || path.resolve(HERE, '../..');
export const GW_BIN = process.env.LGW_BIN || path.join(SRC, 'build/lingma-gateway');
export const SIM_BIN = process.env.LGW_SIM || path.join(SRC, 'build/lingma-sim');
export const API_KEY = 'test-key';
export const CHAT_PATH = '/algo/api/v2/service/pro/sse/agent_chat_generation';
export const ACCOUNTS = [
  { name: 'a1', user_id: '1001' },
  { name: 'a2', user_id: '1002' },
];
/** Sanitizer builds are several times slower: scale the bounded waits (LGW_SLOW overrides). */
export const SLOW = Number(process.env.LGW_SLOW) || (/asan|ubsan|sanitiz/i.test(GW_BIN) ? 3 : 1);

const started = []; // every child process, for cleanup
const tmpDirs = [];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value; throws after timeoutMs. */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs * SLOW;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}` + (last instanceof Error ? `: ${last.message}` : ''));
    }
    await sleep(intervalMs);
  }
}

export function makeTmpDir(tag) {
  const d = mkdtempSync(path.join(tmpdir(), `lgw-clients-${tag}-`));
  tmpDirs.push(d);
  return d;
}

/** A clean environment: nothing from the developer's shell (API_KEYS, LINGMA_*) leaks in. */
function cleanEnv(home) {
  const env = { PATH: process.env.PATH || '/usr/bin:/bin', HOME: home };
  for (const k of ['ASAN_OPTIONS', 'UBSAN_OPTIONS', 'LSAN_OPTIONS', 'TMPDIR']) {
    if (process.env[k] !== undefined) env[k] = process.env[k];
  }
  return env;
}

/** Spawns bin and waits for its `listening on HOST:PORT` line. */
async function spawnListening(name, bin, args, cwd) {
  const child = spawn(bin, args, { cwd, env: cleanEnv(cwd), stdio: ['ignore', 'pipe', 'pipe'] });
  const proc = { name, child, stdout: '', stderr: '', exited: null };
  started.push(proc);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    proc.stderr += d;
    if (proc.stderr.length > 4 << 20) proc.stderr = proc.stderr.slice(-(2 << 20));
  });
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      proc.exited = { code, signal };
      resolve(proc.exited);
    });
    child.on('error', (err) => {
      proc.exited = { code: null, signal: null, error: err };
      resolve(proc.exited);
    });
  });
  proc.exitedPromise = exited;
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not print "listening on" within ${30 * SLOW} s\n${proc.stderr.slice(-4000)}`)), 30000 * SLOW);
    child.stdout.on('data', (d) => {
      proc.stdout += d;
      const m = /^listening on (\S+)$/m.exec(proc.stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then((e) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited at startup (${JSON.stringify(e)}):\n${proc.stderr.slice(-4000)}`));
    });
  });
  proc.addr = addr;
  return proc;
}

/** Starts lingma-sim on 127.0.0.1:0. */
export async function startSim(extraArgs = []) {
  const dir = makeTmpDir('sim');
  const proc = await spawnListening('lingma-sim', SIM_BIN, ['--listen', '127.0.0.1:0', ...extraArgs], dir);
  const url = `http://${proc.addr}`;
  const sim = {
    proc,
    url,
    /** GET /_sim/requests?since=SEQ[&full=1] → array of records. */
    async requests(since = 0, full = true) {
      const r = await fetch(`${url}/_sim/requests?since=${since}${full ? '&full=1' : ''}`);
      if (r.status !== 200) throw new Error(`/_sim/requests → ${r.status}`);
      return (await r.json()).requests;
    },
    /** Upstream chat requests only (not the model-list fetches). */
    async chatRequests(since = 0) {
      return (await sim.requests(since)).filter((q) => q.path === CHAT_PATH);
    },
    /** The highest seq logged so far (0 if none): pass to requests() to see only newer ones. */
    async lastSeq() {
      const all = await sim.requests(0, false);
      return all.length ? all[all.length - 1].seq : 0;
    },
    /** Scripts one account (POST /_sim/accounts/{user_id}); {} clears it. */
    async scriptAccount(userId, script) {
      const r = await fetch(`${url}/_sim/accounts/${userId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(script),
      });
      if (r.status !== 200) throw new Error(`/_sim/accounts/${userId} → ${r.status} ${await r.text()}`);
    },
    async clearScripts() {
      for (const a of ACCOUNTS) await sim.scriptAccount(a.user_id, {});
    },
  };
  return sim;
}

function writeAccounts(dir) {
  const b64 = (n) => randomBytes(n).toString('base64');
  const accounts = ACCOUNTS.map((a) => ({
    name: a.name,
    user_id: a.user_id,
    machine_id: randomUUID(),
    cosy_key: b64(128),
    encrypt_user_info: b64(480),
  }));
  const file = path.join(dir, 'accounts.json');
  writeFileSync(file, JSON.stringify({ accounts }), { mode: 0o600 });
  return file;
}

/** Starts the gateway in front of sim with a fresh accounts file; waits for the model catalog. */
export async function startGateway(sim, extraArgs = []) {
  const dir = makeTmpDir('gw');
  const accounts = writeAccounts(dir);
  const args = ['--listen', '127.0.0.1:0', '--upstream-url', sim.url, '--accounts', accounts,
    '--api-keys', API_KEY, ...extraArgs];
  const proc = await spawnListening('lingma-gateway', GW_BIN, args, dir);
  const url = `http://${proc.addr}`;
  const gw = {
    proc,
    url,
    dir,
    /** Every account back to ready (admin API; any API key is admin when ADMIN_TOKEN is unset). */
    async resetPool() {
      for (const a of ACCOUNTS) {
        const r = await fetch(`${url}/internal/pool/${a.name}/reset`, {
          method: 'POST',
          headers: { authorization: `Bearer ${API_KEY}` },
        });
        if (r.status !== 200) throw new Error(`pool reset ${a.name} → ${r.status} ${await r.text()}`);
      }
    },
    async pool() {
      const r = await fetch(`${url}/internal/pool`, { headers: { authorization: `Bearer ${API_KEY}` } });
      return (await r.json()).accounts;
    },
  };
  // The catalog is fetched right after start; requests resolve model names against it.
  await waitFor(async () => {
    const r = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${API_KEY}` } });
    const j = await r.json();
    return r.status === 200 && j.data.some((m) => m.id === 'kmodel');
  }, { timeoutMs: 15000, what: 'the gateway model catalog' });
  return gw;
}

const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:|AddressSanitizer|LeakSanitizer/;

/** SIGTERM every process started here (gateways first), wait for exit, report problems. */
export async function stopAll() {
  const problems = [];
  const order = [...started].reverse(); // gateways were started after their sim
  started.length = 0;
  for (const p of order) {
    if (!p.exited) p.child.kill('SIGTERM');
    let timer;
    const res = await Promise.race([p.exitedPromise,
      new Promise((r) => { timer = setTimeout(() => r(null), 15000 * SLOW); })]);
    clearTimeout(timer);
    if (!res) {
      p.child.kill('SIGKILL');
      await p.exitedPromise;
      problems.push(`${p.name} did not exit within ${15 * SLOW} s of SIGTERM`);
    } else if (res.code !== 0 && !(res.code === null && res.signal === 'SIGTERM')) {
      problems.push(`${p.name} exited with ${JSON.stringify(res)}`);
    }
    if (SANITIZER.test(p.stderr)) problems.push(`${p.name} printed a sanitizer report`);
    if (problems.length && p.stderr) {
      problems.push(`--- ${p.name} stderr tail ---\n${p.stderr.slice(-6000)}`);
    }
  }
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
  if (problems.length) throw new Error(problems.join('\n'));
}

// A test process that dies must not leave binaries behind.
process.on('exit', () => {
  for (const p of started) if (!p.exited) p.child.kill('SIGKILL');
});

// ------------------------------------------------------------------ SSE on the raw bytes

/** Splits an SSE body into frames: [{event, data, lines}] (comments dropped). */
export function parseSSE(text) {
  const frames = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    if (!block.trim()) continue;
    const lines = block.split(/\r?\n/).filter((l) => !l.startsWith(':'));
    if (!lines.length) continue;
    let event = null;
    const data = [];
    for (const l of lines) {
      if (l.startsWith('event:')) event = l.slice(6).trim();
      else if (l.startsWith('data:')) data.push(l.slice(5).replace(/^ /, ''));
    }
    frames.push({ event, data: data.join('\n'), lines });
  }
  return frames;
}

/** POST JSON with fetch; returns {status, headers, text}. */
export async function postRaw(url, body, headers = {}, { signal } = {}) {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
  return { status: r.status, headers: r.headers, text: await r.text() };
}

/** Asserts fn() rejects; returns the error (for class/field assertions). */
export async function catchErr(fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, got success');
}
