// Claude Code end to end: the real `claude` 2.1.331 CLI (tests/clients/node_modules/.bin/claude)
// in print mode against the gateway in front of lingma-sim (client-wire.md §3.1, §4.2,
// §4.3 rows 18–21). We run as root in CI, so tools are allowed with --allowedTools, not
// --dangerously-skip-permissions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { API_KEY, makeTmpDir, startGateway, startSim, stopAll } from './harness.mjs';

const CLAUDE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'node_modules/.bin/claude');
const RUN_TIMEOUT_MS = 120000;

let sim, gw;

before(async () => {
  assert.ok(existsSync(CLAUDE), `${CLAUDE} is missing: run scripts/node-deps.sh`);
  sim = await startSim();
  gw = await startGateway(sim);
});

after(async () => {
  await stopAll();
});

/**
 * Runs `claude -p PROMPT --output-format stream-json --verbose ARGS` with a clean environment
 * (like `env -i`), a fresh HOME and a temp work directory; kills it after RUN_TIMEOUT_MS.
 * Returns {code, lines (parsed JSONL), result (the result line), stdout, stderr, cwd}.
 */
async function runClaude(prompt, { args = [], auth = { ANTHROPIC_AUTH_TOKEN: API_KEY }, cwd } = {}) {
  const home = makeTmpDir('cc-home');
  cwd = cwd ?? makeTmpDir('cc-work');
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    ANTHROPIC_BASE_URL: gw.url,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    ...auth,
  };
  const child = spawn(CLAUDE, ['-p', prompt, '--output-format', 'stream-json', '--verbose', ...args], {
    cwd, env, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
  let timedOut = false;
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, RUN_TIMEOUT_MS);
  const code = await new Promise((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);
  assert.ok(!timedOut, `claude did not finish within ${RUN_TIMEOUT_MS / 1000} s\n${stdout.slice(-3000)}\n${stderr.slice(-3000)}`);
  const lines = stdout.split('\n').filter((l) => l.trim()).map((l) => {
    try {
      return JSON.parse(l);
    } catch {
      return { unparsed: l };
    }
  });
  const result = lines.filter((l) => l.type === 'result').pop();
  return { code, lines, result, stdout, stderr, cwd };
}

const describeRun = (r) => `exit ${r.code}\nstdout: ${r.stdout.slice(-3000)}\nstderr: ${r.stderr.slice(-3000)}`;

async function upstreamWith(marker, since) {
  return (await sim.chatRequests(since)).filter((q) => JSON.stringify(q.body ?? '').includes(marker));
}

for (const [label, auth] of [
  ['ANTHROPIC_AUTH_TOKEN (Bearer)', { ANTHROPIC_AUTH_TOKEN: API_KEY }],
  ['ANTHROPIC_API_KEY (x-api-key)', { ANTHROPIC_API_KEY: API_KEY }],
]) {
  test(`plain prompt returns the simulated echo (${label})`, async () => {
    const marker = `cc-plain-${randomUUID().slice(0, 8)}`;
    const since = await sim.lastSeq();
    const r = await runClaude(`Reply with the marker ${marker}`, { auth });
    assert.equal(r.code, 0, describeRun(r));
    const init = r.lines.find((l) => l.type === 'system' && l.subtype === 'init');
    assert.ok(init, 'a system/init line');
    assert.ok(r.lines.some((l) => l.type === 'assistant'), 'an assistant line');
    assert.ok(r.result, `a result line\n${describeRun(r)}`);
    assert.equal(r.result.subtype, 'success', describeRun(r));
    assert.equal(r.result.is_error, false);
    assert.match(r.result.result, /^echo: /);
    assert.ok(r.result.result.includes(`Reply with the marker ${marker}`), r.result.result);
    const ups = await upstreamWith(marker, since);
    assert.equal(ups.length, 1, 'one upstream chat request for one turn');
    assert.equal(ups[0].status, 200);
    assert.ok(ups[0].roles.includes('user'));
  });
}

test('Write tool round trip: the sim calls Write, Claude Code writes the file, then the answer', async () => {
  const marker = `cc-write-${randomUUID().slice(0, 8)}`;
  const work = makeTmpDir('cc-work');
  const file = path.join(work, 'hello.txt');
  const args = JSON.stringify({ file_path: file, content: 'hello from lingma' });
  const prompt = `Create the greeting file (${marker}).\n@sim tool=Write args=${args} after_tool="Done: the file is written (${marker})."`;
  const since = await sim.lastSeq();
  const r = await runClaude(prompt, { args: ['--allowedTools', 'Write'], cwd: work });
  assert.equal(r.code, 0, describeRun(r));
  assert.ok(existsSync(file), `${file} was not created\n${describeRun(r)}`);
  assert.equal(readFileSync(file, 'utf8'), 'hello from lingma');
  // The transcript: a tool_use for Write, its tool_result, then the final text.
  const toolUse = r.lines.flatMap((l) => (l.type === 'assistant' ? l.message.content : []))
    .find((b) => b.type === 'tool_use');
  assert.ok(toolUse, describeRun(r));
  assert.equal(toolUse.name, 'Write');
  assert.match(toolUse.id, /^toolu_/);
  assert.deepEqual(toolUse.input, { file_path: file, content: 'hello from lingma' });
  const toolResult = r.lines.flatMap((l) => (l.type === 'user' ? l.message.content : []))
    .find((b) => b.type === 'tool_result');
  assert.ok(toolResult && toolResult.tool_use_id === toolUse.id && !toolResult.is_error, JSON.stringify(toolResult));
  assert.ok(r.result, describeRun(r));
  assert.equal(r.result.subtype, 'success', describeRun(r));
  assert.equal(r.result.is_error, false);
  assert.equal(r.result.result, `Done: the file is written (${marker}).`);
  assert.equal(r.result.num_turns, 2);
  // What reached the upstream: two chat turns, the second carrying the tool call and its result.
  const ups = await upstreamWith(marker, since);
  assert.equal(ups.length, 2, `two upstream chat requests, got ${ups.map((u) => JSON.stringify(u.roles))}`);
  assert.ok(ups.every((u) => u.status === 200));
  assert.equal(ups[0].directive?.tool, 'Write', 'the first turn was scripted by the prompt');
  assert.deepEqual(ups[1].roles.slice(-2), ['assistant', 'tool']);
  const second = JSON.stringify(ups[1].body.messages);
  assert.ok(second.includes('hello.txt') && /File created successfully/.test(second),
    'the second request carries the Write tool result');
  assert.equal(ups[1].account, ups[0].account, 'the conversation stays on one account');
  assert.equal(ups[1].session_id, ups[0].session_id, 'and on one upstream session');
});

test('bad token → Claude Code reports the 401 and exits non-zero', async () => {
  const since = await sim.lastSeq();
  const r = await runClaude('Reply with OK', {
    auth: { ANTHROPIC_AUTH_TOKEN: 'wrong-key', CLAUDE_CODE_MAX_RETRIES: '0' },
  });
  assert.notEqual(r.code, 0, describeRun(r));
  assert.ok(r.result, describeRun(r));
  assert.equal(r.result.is_error, true);
  assert.equal(r.result.api_error_status, 401, describeRun(r));
  assert.equal((await sim.chatRequests(since)).length, 0, 'nothing went upstream');
});
