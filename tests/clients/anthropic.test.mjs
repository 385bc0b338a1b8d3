// Anthropic conformance: @anthropic-ai/sdk 1.13 (Bearer, anthropic-version 2026-10-21) and
// 0.137 (x-api-key, 2023-06-01) against the gateway in front of lingma-sim
// (client-wire.md §1, §4.3 rows 1–10, §4.5).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import Anthropic1 from '@anthropic-ai/sdk';
import Anthropic0 from 'anthropic-sdk-0x';
import {
  API_KEY, SLOW, catchErr, parseSSE, postRaw, startGateway, startSim, stopAll, waitFor,
} from './harness.mjs';

let sim, gw, gwStrict;
const MAX_BODY = 16384;
const MODEL = 'claude-opus-5-5'; // Claude Code's default id; any unknown name maps to --default-model

before(async () => {
  sim = await startSim();
  gw = await startGateway(sim);
  // Unknown models 404; rate-limited accounts stay usable (cooldown 0) so the gateway itself
  // answers 429 after its retries; a small body limit for 413.
  gwStrict = await startGateway(sim, ['--default-model', '', '--cooldown-base-ms', '0',
    '--transient-threshold', '1000', '--max-body-bytes', String(MAX_BODY)]);
});

after(async () => {
  await stopAll();
});

const tag = (name) => `${name}-${randomUUID().slice(0, 8)}`;
const user = (content) => ({ role: 'user', content });
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

async function upstreamFor(marker) {
  return waitFor(async () => {
    const reqs = await sim.chatRequests();
    return reqs.filter((r) => JSON.stringify(r.body ?? '').includes(marker)).pop();
  }, { timeoutMs: 5000, what: `sim record for ${marker}` });
}
async function upstreamAll(marker) {
  return (await sim.chatRequests()).filter((r) => JSON.stringify(r.body ?? '').includes(marker));
}

const VARIANTS = [
  {
    name: 'sdk 1.13 (authToken → Bearer)',
    Anthropic: Anthropic1,
    make: (baseURL, key = API_KEY, fetchImpl) => new Anthropic1({
      apiKey: null, authToken: key, baseURL, maxRetries: 0, timeout: 30000 * SLOW, fetch: fetchImpl,
    }),
    version: '2026-10-21',
    checkAuth: (h) => {
      assert.equal(h.get('authorization'), `Bearer ${API_KEY}`);
      assert.equal(h.get('x-api-key'), null);
    },
    overloaded: (e) => e instanceof Anthropic1.OverloadedError,
    tooLarge: (e) => e instanceof Anthropic1.ContentTooLargeError,
  },
  {
    name: 'sdk 0.137 (apiKey → x-api-key)',
    Anthropic: Anthropic0,
    make: (baseURL, key = API_KEY, fetchImpl) => new Anthropic0({
      apiKey: key, authToken: null, baseURL, maxRetries: 0, timeout: 30000 * SLOW, fetch: fetchImpl,
    }),
    version: '2023-06-01',
    checkAuth: (h) => {
      assert.equal(h.get('x-api-key'), API_KEY);
      assert.equal(h.get('authorization'), null);
    },
    overloaded: (e) => e instanceof Anthropic0.InternalServerError,
    tooLarge: (e) => e instanceof Anthropic0.APIError,
  },
];

for (const V of VARIANTS) {
  describe(V.name, () => {
    const { Anthropic } = V;
    let seen, client, strict;
    /** fetch that records what the SDK sent (URL + headers). */
    const recordingFetch = (url, init) => {
      seen.push({ url: String(url), headers: new Headers(init?.headers) });
      return fetch(url, init);
    };
    before(() => {
      seen = [];
      client = V.make(gw.url, API_KEY, recordingFetch);
      strict = V.make(gwStrict.url, API_KEY, recordingFetch);
    });

    test('messages.create: message shape, usage, request id, auth style', async () => {
      const m = tag('an-create');
      seen.length = 0;
      const { data, response, request_id: rid } = await client.messages
        .create({ model: MODEL, max_tokens: 256, messages: [user(`hello ${m}`)] })
        .withResponse();
      assert.equal(response.status, 200);
      assert.equal(data.type, 'message');
      assert.equal(data.role, 'assistant');
      assert.match(data.id, /^msg_/);
      assert.equal(data.model, MODEL);
      assert.equal(data.stop_reason, 'end_turn');
      assert.equal(data.content.length, 1);
      assert.equal(data.content[0].type, 'text');
      assert.equal(data.content[0].text, `echo: hello ${m}`);
      assert.ok(Number.isInteger(data.usage.input_tokens) && data.usage.input_tokens > 0);
      assert.ok(Number.isInteger(data.usage.output_tokens) && data.usage.output_tokens > 0);
      assert.match(rid, /^req_/);
      assert.equal(rid, response.headers.get('request-id'));
      assert.equal(seen.length, 1);
      assert.match(seen[0].url, /\/v1\/messages(\?|$)/);
      V.checkAuth(seen[0].headers);
      assert.equal(seen[0].headers.get('anthropic-version'), V.version);
      const up = await upstreamFor(m);
      assert.equal(up.status, 200);
    });

    test('messages.stream(): on("text") concatenation equals finalMessage()', async () => {
      const m = tag('an-stream');
      seen.length = 0;
      const stream = client.messages.stream({
        model: MODEL, max_tokens: 256, messages: [user(`stream me ${m}\n@sim chunks=6`)],
      });
      const pieces = [];
      stream.on('text', (t) => pieces.push(t));
      const final = await stream.finalMessage();
      assert.ok(pieces.length >= 3, `text arrived in pieces (${pieces.length})`);
      assert.equal(pieces.join(''), `echo: stream me ${m}`);
      assert.equal(final.content.length, 1);
      assert.equal(final.content[0].text, pieces.join(''));
      assert.equal(final.stop_reason, 'end_turn');
      assert.match(final.id, /^msg_/);
      assert.ok(final.usage.output_tokens > 0, JSON.stringify(final.usage));
      assert.equal(seen[0].headers.get('x-stainless-helper-method'), 'stream');
      V.checkAuth(seen[0].headers);
    });

    test('tool use round trip: input_json_delta → input object, tool_result → final answer', async () => {
      const m = tag('an-tool');
      const tools = [{
        name: 'get_weather',
        description: 'Weather for a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      }];
      const first = user(`weather please ${m}\n@sim tool=get_weather args={"city":"Paris","days":[1,2]} arg_chunk=4 after_tool="It is sunny in Paris."`);
      const stream = client.messages.stream({
        model: MODEL, max_tokens: 256, tools,
        tool_choice: { type: 'tool', name: 'get_weather' }, messages: [first],
      });
      const jsonPieces = [];
      stream.on('inputJson', (partial) => jsonPieces.push(partial));
      const final = await stream.finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      const tu = final.content.find((b) => b.type === 'tool_use');
      assert.ok(tu, JSON.stringify(final.content));
      assert.match(tu.id, /^toolu_/);
      assert.equal(tu.name, 'get_weather');
      assert.deepEqual(tu.input, { city: 'Paris', days: [1, 2] });
      assert.ok(jsonPieces.length >= 2, `input arrived as several input_json_delta (${jsonPieces.length})`);

      const answer = await client.messages.create({
        model: MODEL, max_tokens: 256, tools,
        messages: [
          first,
          { role: 'assistant', content: final.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: '{"temp_c":21}' }] },
        ],
      });
      assert.equal(answer.stop_reason, 'end_turn');
      assert.equal(answer.content[0].type, 'text');
      assert.equal(answer.content[0].text, 'It is sunny in Paris.');
      const ups = await upstreamAll(m);
      assert.equal(ups.length, 2, 'two upstream turns');
      assert.ok(JSON.stringify(ups[1].body.messages).includes('temp_c'), 'the tool result reached the upstream');
      assert.equal(ups[1].roles.at(-1), 'tool');

      // Non-streaming tool use.
      const ns = await client.messages.create({ model: MODEL, max_tokens: 256, tools, messages: [first] });
      assert.equal(ns.stop_reason, 'tool_use');
      const nt = ns.content.find((b) => b.type === 'tool_use');
      assert.match(nt.id, /^toolu_/);
      assert.deepEqual(nt.input, { city: 'Paris', days: [1, 2] });
    });

    test('parallel tool calls interleaved upstream: every tool_use whole (D34)', async () => {
      const m = tag('an-par');
      const tools = ['read_file', 'grep', 'list_dir'].map((name) => ({
        name, description: name, input_schema: { type: 'object' },
      }));
      const want = [
        ['read_file', { path: 'src/main.c', lines: [1, 40] }],
        ['grep', { pattern: 'TODO', paths: ['src', 'tests'], ignore_case: true }],
        ['list_dir', { dir: '.' }],
      ];
      // Heads of all three calls first, then argument fragments of 5 bytes round-robin.
      const first = user(`look around ${m}\n@sim tool=read_file args=${JSON.stringify(want[0][1])} `
        + `tool2=grep args2=${JSON.stringify(want[1][1])} tool3=list_dir args3=${JSON.stringify(want[2][1])} `
        + 'arg_chunk=5 interleave=1');
      const stream = client.messages.stream({ model: MODEL, max_tokens: 256, tools, messages: [first] });
      const events = [];
      stream.on('streamEvent', (e) => events.push(e));
      const final = await stream.finalMessage();
      assert.equal(final.stop_reason, 'tool_use');
      assert.deepEqual(final.content.map((b) => [b.type, b.name, b.input]),
        want.map(([name, input]) => ['tool_use', name, input]));
      assert.equal(new Set(final.content.map((b) => b.id)).size, 3);
      for (const b of final.content) assert.match(b.id, /^toolu_/);
      // One block open at a time, indexes in order, every delta inside its block.
      let open = -1, next = 0, deltas = 0;
      for (const e of events) {
        if (e.type === 'content_block_start') {
          assert.equal(open, -1); assert.equal(e.index, next); open = next++;
        } else if (e.type === 'content_block_delta') {
          assert.equal(e.index, open); deltas++;
        } else if (e.type === 'content_block_stop') {
          assert.equal(e.index, open); open = -1;
        }
      }
      assert.equal(next, 3);
      assert.ok(deltas > 3, `the first call streamed live (${deltas} deltas)`);

      const ns = await client.messages.create({ model: MODEL, max_tokens: 256, tools, messages: [first] });
      assert.equal(ns.stop_reason, 'tool_use');
      assert.deepEqual(ns.content.map((b) => [b.type, b.name, b.input]),
        want.map(([name, input]) => ['tool_use', name, input]));
      const ups = await upstreamAll(m);
      assert.equal(ups.length, 2);
    });

    test('thinking: reasoning becomes a thinking block that round-trips', async () => {
      const m = tag('an-think');
      const first = user(`think first ${m}\n@sim reasoning="Let me consider the options carefully." chunks=3`);
      const stream = client.messages.stream({
        model: MODEL, max_tokens: 4096,
        thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [first],
      });
      let thinkingText = '';
      stream.on('thinking', (delta) => { thinkingText += delta; });
      const final = await stream.finalMessage();
      assert.equal(final.content.length, 2, JSON.stringify(final.content));
      assert.equal(final.content[0].type, 'thinking');
      assert.equal(final.content[0].thinking, 'Let me consider the options carefully.');
      assert.equal(thinkingText, final.content[0].thinking);
      assert.equal(typeof final.content[0].signature, 'string');
      assert.equal(final.content[1].type, 'text');
      assert.equal(final.content[1].text, `echo: think first ${m}`);
      assert.equal(final.stop_reason, 'end_turn');
      // The thinking block goes back unmodified in the next turn.
      const next = await client.messages.create({
        model: MODEL, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 },
        messages: [first, { role: 'assistant', content: final.content }, user(`and then ${m}`)],
      });
      assert.equal(next.content.at(-1).text, `echo: and then ${m}`);
    });

    test('image input (base64) reaches the upstream as is_vl + image_urls', async () => {
      const m = tag('an-image');
      const r = await client.messages.create({
        model: MODEL, max_tokens: 256,
        messages: [{ role: 'user', content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
          { type: 'text', text: `what is in this picture ${m}` },
        ] }],
      });
      assert.equal(r.content[0].text, `echo: what is in this picture ${m}`);
      const up = await upstreamFor(m);
      assert.deepEqual(up.body.image_urls, [`data:image/png;base64,${PNG}`]);
      assert.equal(up.body.model_config.is_vl, true);
    });

    test('system string / blocks, role:"system" message, unknown fields and betas accepted', async () => {
      const m = tag('an-system');
      const r1 = await client.messages.create({
        model: MODEL, max_tokens: 256, system: `You are terse ${m}-S1.`,
        messages: [user(`one ${m}`)],
      });
      assert.equal(r1.content[0].text, `echo: one ${m}`);
      assert.ok(JSON.stringify((await upstreamFor(`${m}-S1`)).body.messages).includes(`You are terse ${m}-S1.`));

      const r2 = await client.messages.create({
        model: MODEL, max_tokens: 256,
        system: [
          { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.331; cc_entrypoint=sdk-cli;' },
          { type: 'text', text: `Block system ${m}-S2.`, cache_control: { type: 'ephemeral' } },
        ],
        messages: [
          { role: 'system', content: [{ type: 'text', text: `# Environment ${m}-S3`, cache_control: { type: 'ephemeral' } }] },
          user([{ type: 'text', text: `two ${m}`, cache_control: { type: 'ephemeral' } }]),
        ],
        // Fields a strict gateway would reject ("Extra inputs are not permitted").
        context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
        output_config: { effort: 'high' },
        cache_control: { type: 'ephemeral' },
        metadata: { user_id: JSON.stringify({ device_id: 'd', account_uuid: '', session_id: m }) },
        some_future_field: { nested: [1, 2, 3] },
      }, {
        headers: { 'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,totally-unknown-beta-2099-01-01' },
      });
      assert.equal(r2.content[0].text, `echo: two ${m}`);
      const body2 = JSON.stringify((await upstreamFor(`${m}-S2`)).body.messages);
      assert.ok(body2.includes(`Block system ${m}-S2.`), 'system blocks reach the upstream');
      assert.ok(body2.includes(`# Environment ${m}-S3`), 'the role:"system" message reaches the upstream');

      // ?beta=true query (0.x beta resource sends it; raw fetch for both).
      const r3 = await client.beta.messages.create({
        model: MODEL, max_tokens: 256, betas: ['another-unknown-beta-2099-02-02'],
        messages: [user(`three ${m}`)],
      });
      assert.equal(r3.content[0].text, `echo: three ${m}`);
      const raw = await postRaw(`${gw.url}/v1/messages?beta=true`, {
        model: MODEL, max_tokens: 64, messages: [user(`four ${m}`)],
      }, { 'x-api-key': API_KEY, 'anthropic-version': V.version, 'anthropic-beta': 'zzz-unknown-2099-03-03' });
      assert.equal(raw.status, 200, raw.text);
      assert.equal(JSON.parse(raw.text).content[0].text, `echo: four ${m}`);
    });

    test('count_tokens → {input_tokens:int}', async () => {
      const small = await client.messages.countTokens({ model: MODEL, messages: [user('hi')] });
      assert.deepEqual(Object.keys(small), ['input_tokens']);
      assert.ok(Number.isInteger(small.input_tokens) && small.input_tokens > 0, JSON.stringify(small));
      const big = await client.messages.countTokens({
        model: MODEL, system: 'You are a careful assistant.',
        tools: [{ name: 'read', description: 'Read a file', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }],
        messages: [user('lorem ipsum dolor sit amet '.repeat(200))],
      });
      assert.ok(Number.isInteger(big.input_tokens) && big.input_tokens > small.input_tokens + 100,
        `${big.input_tokens} vs ${small.input_tokens}`);
      const raw = await postRaw(`${gw.url}/v1/messages/count_tokens?beta=true`, {
        model: MODEL, messages: [user('hello there')],
      }, { 'x-api-key': API_KEY, 'anthropic-version': V.version, 'anthropic-beta': 'token-counting-2024-11-01' });
      assert.equal(raw.status, 200, raw.text);
      assert.ok(Number.isInteger(JSON.parse(raw.text).input_tokens));
    });

    test('models.list() pages (Anthropic shape) and models.retrieve()', async () => {
      seen.length = 0;
      const all = [];
      for await (const mdl of client.models.list({ limit: 4 })) all.push(mdl);
      assert.ok(all.length > 4, `several pages (${all.length} models)`);
      assert.ok(seen.length >= 2, 'the SDK followed has_more/last_id');
      assert.ok(seen.slice(1).every((s) => /after_id=/.test(s.url)), seen.map((s) => s.url).join(' '));
      const ids = all.map((x) => x.id);
      assert.equal(new Set(ids).size, ids.length, `no duplicates across pages: ${ids}`);
      assert.ok(ids.includes('kmodel'));
      for (const x of all) {
        assert.equal(x.type, 'model');
        assert.ok(typeof x.display_name === 'string' && x.display_name.length > 0);
        assert.match(x.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      }
      const page = await client.models.list();
      assert.equal(typeof page.has_more, 'boolean');
      assert.equal(page.first_id, page.data[0].id);
      assert.equal(page.last_id, page.data.at(-1).id);
      // Raw: query string + both Anthropic headers (regression: the query split in the request
      // parser once read a freed buffer for requests of this size).
      for (const q of ['limit=20', 'limit=2', 'limit=1000&after_id=kmodel']) {
        const r = await fetch(`${gw.url}/v1/models?${q}`, {
          headers: { 'x-api-key': API_KEY, 'anthropic-version': V.version, 'anthropic-beta': 'x-2099' },
        });
        const body = await r.text();
        assert.equal(r.status, 200, `${q}: ${body}`);
        const j = JSON.parse(body);
        assert.ok(Array.isArray(j.data) && j.data.length > 0 && j.data.every((x) => x.type === 'model'), q);
        if (q === 'limit=2') assert.equal(j.data.length, 2);
        if (q.includes('after_id=kmodel')) assert.ok(!j.data.some((x) => x.id === 'kmodel'));
      }
      const one = await client.models.retrieve('kmodel');
      assert.equal(one.id, 'kmodel');
      assert.equal(one.type, 'model');
      const e = await catchErr(() => client.models.retrieve('no-such-model-x'));
      assert.ok(e instanceof Anthropic.NotFoundError, e.constructor.name);
      assert.equal(e.type, 'not_found_error');
    });

    test('401 bad key → AuthenticationError authentication_error', async () => {
      const bad = V.make(gw.url, 'wrong-key');
      const e = await catchErr(() => bad.messages.create({ model: MODEL, max_tokens: 16, messages: [user('hi')] }));
      assert.ok(e instanceof Anthropic.AuthenticationError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 401);
      assert.equal(e.type, 'authentication_error');
      assert.match(e.requestID ?? '', /^req_/);
    });

    test('400 missing max_tokens → BadRequestError invalid_request_error', async () => {
      const e = await catchErr(() => client.messages.create({ model: MODEL, messages: [user('hi')] }));
      assert.ok(e instanceof Anthropic.BadRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.type, 'invalid_request_error');
      assert.match(e.message, /max_tokens/);
    });

    test('404 unknown model (--default-model "") → NotFoundError not_found_error', async () => {
      const seq = await sim.lastSeq();
      const e = await catchErr(() => strict.messages.create({ model: 'no-such-model-x', max_tokens: 16, messages: [user('hi')] }));
      assert.ok(e instanceof Anthropic.NotFoundError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 404);
      assert.equal(e.type, 'not_found_error');
      assert.equal((await sim.chatRequests(seq)).length, 0, 'nothing went upstream');
    });

    test('429 from the upstream → RateLimitError with retry-after', async () => {
      const m = tag('an-429');
      const e = await catchErr(() => strict.messages.create({
        model: 'kmodel', max_tokens: 16, messages: [user(`${m}\n@sim error=429 retry_after=1`)],
      }));
      assert.ok(e instanceof Anthropic.RateLimitError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 429);
      assert.equal(e.type, 'rate_limit_error');
      assert.match(e.headers.get('retry-after') ?? '', /^\d+$/);
      const ups = await upstreamAll(m);
      assert.ok(ups.length >= 1 && ups.every((r) => r.status === 429));
      await gwStrict.resetPool();
    });

    test('no usable account (both scripted to 429) → 529 overloaded_error', async () => {
      try {
        await sim.scriptAccount('1001', { error: '429' });
        await sim.scriptAccount('1002', { error: '429' });
        const e = await catchErr(() => client.messages.create({ model: 'kmodel', max_tokens: 16, messages: [user('busy?')] }));
        assert.ok(V.overloaded(e), `${e.constructor.name}: ${e.message}`);
        assert.equal(e.status, 529);
        assert.equal(e.type, 'overloaded_error');
        assert.match(e.headers.get('retry-after') ?? '', /^\d+$/);
        // Both accounts are cooling down now: the next request is refused without an upstream call.
        const seq = await sim.lastSeq();
        const e2 = await catchErr(() => client.messages.create({ model: 'kmodel', max_tokens: 16, messages: [user('still busy?')] }));
        assert.equal(e2.status, 529);
        assert.equal((await sim.chatRequests(seq)).length, 0, 'no upstream call while all accounts cool down');
        assert.ok((await gw.pool()).every((a) => a.state === 'cooling'));
      } finally {
        await sim.clearScripts();
        await gw.resetPool();
      }
    });

    test('413 body over --max-body-bytes → request_too_large', async () => {
      const e = await catchErr(() => strict.messages.create({
        model: 'kmodel', max_tokens: 16, messages: [user('x'.repeat(MAX_BODY * 2))],
      }));
      assert.ok(V.tooLarge(e), `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 413);
      assert.equal(e.type, 'request_too_large');
    });

    test('mid-stream error → APIError with error.type', async () => {
      const m = tag('an-midstream');
      const stream = client.messages.stream({
        model: MODEL, max_tokens: 256, messages: [user(`partial answer ${m}\n@sim truncate=1 chunks=4`)],
      });
      let text = '';
      stream.on('text', (t) => { text += t; });
      const e = await catchErr(() => stream.finalMessage());
      assert.ok(e instanceof Anthropic.APIError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, undefined, 'an in-stream error has no HTTP status');
      assert.equal(e.type, 'api_error');
      assert.match(e.message, /truncated/);
      assert.ok(text.startsWith('echo: partial'), `text before the error: ${JSON.stringify(text)}`);
    });

    test('abort mid-stream → APIUserAbortError and the upstream connection closes', async () => {
      const m = tag('an-abort');
      const stream = client.messages.stream({
        model: MODEL, max_tokens: 256, messages: [user(`a slow answer ${m}\n@sim chunks=50 delay_ms=200`)],
      });
      let abortedAt = 0;
      let texts = 0;
      stream.on('text', () => {
        texts++;
        if (!abortedAt) {
          abortedAt = Date.now();
          stream.abort();
        }
      });
      const e = await catchErr(() => stream.finalMessage());
      assert.ok(e instanceof Anthropic.APIUserAbortError, `${e.constructor.name}: ${e.message}`);
      assert.equal(texts, 1);
      const rec = await waitFor(async () => {
        const r = (await sim.chatRequests()).find((q) => JSON.stringify(q.body).includes(m));
        return r && r.closed_at_ms ? r : null;
      }, { timeoutMs: 5000, what: 'the upstream request to close' });
      assert.equal(rec.client_closed, true, 'the gateway closed the upstream connection');
      assert.equal(rec.finished, false);
      assert.ok(rec.closed_at_ms - abortedAt < 2000 * SLOW, `closed ${rec.closed_at_ms - abortedAt} ms after the abort`);
    });
  });
}

// Raw bytes: the event framing both SDK generations depend on (§1.5, §1.6).
const ORDER = /^message_start content_block_start (ping )*(content_block_delta )+content_block_stop message_delta message_stop$/;
for (const [auth, version] of [[{ 'x-api-key': API_KEY }, '2023-06-01'], [{ authorization: `Bearer ${API_KEY}` }, '2026-10-21']]) {
  test(`raw SSE event framing and order (fetch, ${Object.keys(auth)[0]}, ${version})`, async () => {
    const m = tag('an-raw');
    const r = await postRaw(`${gw.url}/v1/messages?beta=true`, {
      model: MODEL, max_tokens: 256, stream: true, messages: [user(`raw bytes ${m}\n@sim chunks=4`)],
    }, { ...auth, 'anthropic-version': version });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    const frames = parseSSE(r.text);
    const types = [];
    let text = '';
    let start, delta;
    for (const f of frames) {
      assert.ok(f.event, `every frame is named: ${JSON.stringify(f.lines)}`);
      const d = JSON.parse(f.data);
      assert.equal(d.type, f.event, 'event: line equals data.type');
      types.push(d.type);
      if (d.type === 'message_start') start = d.message;
      if (d.type === 'message_delta') delta = d;
      if (d.type === 'content_block_delta') {
        assert.equal(d.index, 0);
        assert.equal(d.delta.type, 'text_delta');
        text += d.delta.text;
      }
      if (d.type === 'content_block_start') assert.deepEqual(d.content_block, { type: 'text', text: '' });
    }
    assert.match(types.join(' '), ORDER);
    assert.ok(types.filter((t) => t === 'content_block_delta').length >= 2);
    assert.equal(text, `echo: raw bytes ${m}`);
    assert.match(start.id, /^msg_/);
    assert.equal(start.role, 'assistant');
    assert.deepEqual(start.content, []);
    assert.ok(Number.isInteger(start.usage.input_tokens) && Number.isInteger(start.usage.output_tokens));
    assert.equal(delta.delta.stop_reason, 'end_turn');
    assert.ok(Number.isInteger(delta.usage.output_tokens) && delta.usage.output_tokens > 0);
  });
}
