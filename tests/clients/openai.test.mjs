// OpenAI conformance: the official `openai` 7.57 Node SDK against the gateway in front of
// lingma-sim (client-wire.md §2, §4.3 rows 12–17).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import {
  API_KEY, SLOW, catchErr, parseSSE, postRaw, startGateway, startSim, stopAll, waitFor,
} from './harness.mjs';

let sim, gw, gwStrict, oa, oaStrict;

before(async () => {
  sim = await startSim();
  gw = await startGateway(sim);
  // Unknown models 404; a rate-limited account stays usable (cooldown 0) so the gateway answers
  // 429 itself after its retries; transient upstream errors never cool an account down.
  gwStrict = await startGateway(sim, ['--default-model', '', '--cooldown-base-ms', '0',
    '--transient-threshold', '1000']);
  oa = new OpenAI({ apiKey: API_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0, timeout: 30000 * SLOW });
  oaStrict = new OpenAI({ apiKey: API_KEY, baseURL: `${gwStrict.url}/v1`, maxRetries: 0, timeout: 30000 * SLOW });
});

after(async () => {
  await stopAll();
});

const tag = (name) => `${name}-${randomUUID().slice(0, 8)}`;
const user = (content) => ({ role: 'user', content });
const headerOf = (h, name) => (h && typeof h.get === 'function' ? h.get(name) : h?.[name]);

/** The sim's record of the upstream chat request whose messages contain marker. */
async function upstreamFor(marker, s = sim) {
  return waitFor(async () => {
    const reqs = await s.chatRequests();
    return reqs.filter((r) => JSON.stringify(r.body ?? '').includes(marker)).pop();
  }, { timeoutMs: 5000, what: `sim record for ${marker}` });
}

test('non-streaming create: chat.completion shape, echo text, usage, request id', async () => {
  const m = tag('oa-plain');
  const { data, response, request_id } = await oa.chat.completions
    .create({ model: 'gpt-4o', messages: [user(`hello ${m}`)] })
    .withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  assert.match(data.id, /^chatcmpl-/);
  assert.ok(Number.isInteger(data.created) && data.created > 1.6e9, `created ${data.created}`);
  assert.equal(data.model, 'gpt-4o');
  assert.equal(data.choices.length, 1);
  assert.equal(data.choices[0].index, 0);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, `echo: hello ${m}`);
  assert.equal(data.choices[0].finish_reason, 'stop');
  const u = data.usage;
  assert.ok(u.prompt_tokens > 0 && u.completion_tokens > 0, JSON.stringify(u));
  assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  assert.ok(request_id, 'x-request-id header');
  assert.equal(request_id, response.headers.get('x-request-id'));
  const up = await upstreamFor(m);
  assert.equal(up.status, 200);
  assert.equal(up.verified, true);
  assert.ok(['1001', '1002'].includes(up.account));
});

for (const includeUsage of [true, false]) {
  test(`stream().finalChatCompletion() include_usage=${includeUsage}`, async () => {
    const m = tag('oa-stream');
    const stream = oa.chat.completions.stream({
      model: 'gpt-4o',
      messages: [user(`stream me ${m}\n@sim chunks=5`)],
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
    });
    const deltas = [];
    stream.on('content', (delta) => deltas.push(delta));
    const final = await stream.finalChatCompletion();
    assert.equal(final.object, 'chat.completion');
    assert.match(final.id, /^chatcmpl-/);
    assert.equal(final.choices[0].message.role, 'assistant');
    assert.equal(final.choices[0].message.content, `echo: stream me ${m}`);
    assert.equal(final.choices[0].finish_reason, 'stop');
    assert.ok(deltas.length >= 2, `content arrived in pieces (${deltas.length})`);
    assert.equal(deltas.join(''), `echo: stream me ${m}`);
    if (includeUsage) {
      assert.ok(final.usage, 'usage from the usage chunk');
      assert.ok(final.usage.prompt_tokens > 0 && final.usage.completion_tokens > 0);
      assert.equal(final.usage.total_tokens, final.usage.prompt_tokens + final.usage.completion_tokens);
    } else {
      assert.ok(final.usage == null, `no usage without include_usage: ${JSON.stringify(final.usage)}`);
    }
  });
}

test('tool call round trip (stream + non-stream follow-up with role:"tool")', async () => {
  const m = tag('oa-tool');
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  }];
  const first = user(`weather please ${m}\n@sim tool=get_weather args={"city":"Paris","days":[1,2]} arg_chunk=5 after_tool="It is sunny in Paris."`);
  const final = await oa.chat.completions
    .stream({ model: 'gpt-4o', messages: [first], tools, tool_choice: 'required', parallel_tool_calls: false })
    .finalChatCompletion();
  const choice = final.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.ok(typeof call.id === 'string' && call.id.length > 0, 'tool call id');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', days: [1, 2] });

  const second = await oa.chat.completions.create({
    model: 'gpt-4o',
    tools,
    messages: [
      first,
      { role: 'assistant', content: null, tool_calls: choice.message.tool_calls },
      { role: 'tool', tool_call_id: call.id, content: '{"temp_c":21}' },
    ],
  });
  assert.equal(second.choices[0].finish_reason, 'stop');
  assert.equal(second.choices[0].message.content, 'It is sunny in Paris.');
  const ups = (await sim.chatRequests()).filter((r) => JSON.stringify(r.body).includes(m));
  assert.equal(ups.length, 2, 'two upstream turns');
  assert.deepEqual(ups[1].roles.slice(-2), ['assistant', 'tool']);
  assert.ok(JSON.stringify(ups[1].body).includes('temp_c'), 'the tool result reached the upstream');

  // The same tool call, non-streaming.
  const ns = await oa.chat.completions.create({ model: 'gpt-4o', messages: [first], tools });
  assert.equal(ns.choices[0].finish_reason, 'tool_calls');
  assert.equal(ns.choices[0].message.tool_calls[0].function.name, 'get_weather');
  assert.deepEqual(JSON.parse(ns.choices[0].message.tool_calls[0].function.arguments), { city: 'Paris', days: [1, 2] });
});

test('image input (data URL) reaches the upstream as is_vl + image_urls', async () => {
  const m = tag('oa-image');
  const dataUrl = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const r = await oa.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: [
      { type: 'text', text: `what is in this picture ${m}` },
      { type: 'image_url', image_url: { url: dataUrl, detail: 'low' } },
    ] }],
  });
  assert.equal(r.choices[0].message.content, `echo: what is in this picture ${m}`);
  const up = await upstreamFor(m);
  assert.deepEqual(up.body.image_urls, [dataUrl]);
  assert.equal(up.body.model_config.is_vl, true);
});

test('401 bad key → AuthenticationError code invalid_api_key', async () => {
  const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const e = await catchErr(() => bad.chat.completions.create({ model: 'gpt-4o', messages: [user('hi')] }));
  assert.ok(e instanceof OpenAI.AuthenticationError, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.status, 401);
  assert.equal(e.code, 'invalid_api_key');
  assert.equal(e.type, 'invalid_request_error');
});

test('400 messages not an array → BadRequestError with param', async () => {
  const e = await catchErr(() => oa.chat.completions.create({ model: 'gpt-4o', messages: 'not an array' }));
  assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.status, 400);
  assert.equal(e.param, 'messages');
  assert.equal(e.type, 'invalid_request_error');
});

test('404 unknown model (--default-model "") → NotFoundError model_not_found', async () => {
  const seq = await sim.lastSeq();
  const e = await catchErr(() => oaStrict.chat.completions.create({ model: 'no-such-model-x', messages: [user('hi')] }));
  assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.status, 404);
  assert.equal(e.code, 'model_not_found');
  assert.match(e.message, /no-such-model-x/);
  assert.equal((await sim.chatRequests(seq)).length, 0, 'nothing went upstream');
});

test('429 from the upstream → RateLimitError with retry-after', async () => {
  const m = tag('oa-429');
  const e = await catchErr(() => oaStrict.chat.completions.create({
    model: 'kmodel', messages: [user(`${m}\n@sim error=429 retry_after=1`)],
  }));
  assert.ok(e instanceof OpenAI.RateLimitError, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.status, 429);
  const ra = headerOf(e.headers, 'retry-after');
  assert.ok(ra !== null && ra !== undefined && /^\d+$/.test(ra), `retry-after: ${ra}`);
  const ups = (await sim.chatRequests()).filter((r) => JSON.stringify(r.body).includes(m));
  assert.ok(ups.length >= 1 && ups.every((r) => r.status === 429), 'the sim answered 429');
  await gwStrict.resetPool();
});

for (const err of ['500', '503', 'login', 'env500']) {
  test(`upstream error=${err} → InternalServerError (5xx)`, async () => {
    const m = tag(`oa-${err}`);
    const e = await catchErr(() => oaStrict.chat.completions.create({
      model: 'kmodel', messages: [user(`${m}\n@sim error=${err}`)],
    }));
    assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name}: ${e.message}`);
    assert.ok(e.status >= 500 && e.status <= 599, `status ${e.status}`);
    assert.equal(e.type, 'server_error');
    const ups = (await sim.chatRequests()).filter((r) => JSON.stringify(r.body).includes(m));
    assert.ok(ups.length >= 1, 'the error came from the upstream');
    await gwStrict.resetPool();
  });
}

test('mid-stream error after content → APIError from the stream', async () => {
  const m = tag('oa-midstream');
  const stream = oa.chat.completions.stream({
    model: 'gpt-4o', messages: [user(`partial answer ${m}\n@sim truncate=1 chunks=4`)],
  });
  let content = '';
  const e = await catchErr(async () => {
    for await (const chunk of stream) content += chunk.choices[0]?.delta?.content ?? '';
  });
  assert.ok(e instanceof OpenAI.APIError, `${e.constructor.name}: ${e.message}`);
  assert.equal(e.status, undefined, 'an in-stream error has no HTTP status');
  assert.equal(e.type, 'server_error');
  assert.match(e.message, /truncated/);
  assert.ok(content.startsWith('echo: partial'), `content before the error: ${JSON.stringify(content)}`);
  await assert.rejects(stream.finalChatCompletion(), OpenAI.APIError);
});

test('abort mid-stream → APIUserAbortError and the upstream connection closes promptly', async () => {
  const m = tag('oa-abort');
  const stream = oa.chat.completions.stream({
    model: 'gpt-4o', messages: [user(`a slow answer ${m}\n@sim chunks=50 delay_ms=200`)],
  });
  let abortedAt = 0;
  let chunks = 0;
  const e = await catchErr(async () => {
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta?.content) {
        chunks++;
        abortedAt = Date.now();
        stream.controller.abort();
      }
    }
  });
  assert.ok(e instanceof OpenAI.APIUserAbortError, `${e.constructor.name}: ${e.message}`);
  assert.equal(chunks, 1);
  const rec = await waitFor(async () => {
    const r = (await sim.chatRequests()).find((q) => JSON.stringify(q.body).includes(m));
    return r && r.closed_at_ms ? r : null;
  }, { timeoutMs: 5000, what: 'the upstream request to close' });
  assert.equal(rec.client_closed, true, 'the gateway closed the upstream connection');
  assert.equal(rec.finished, false);
  assert.ok(rec.closed_at_ms - abortedAt < 2000 * SLOW, `closed ${rec.closed_at_ms - abortedAt} ms after the abort`);
});

for (const includeUsage of [true, false]) {
  test(`raw SSE framing (fetch) include_usage=${includeUsage}`, async () => {
    const m = tag('oa-raw');
    const r = await postRaw(`${gw.url}/v1/chat/completions`, {
      model: 'gpt-4o',
      stream: true,
      ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      messages: [user(`raw bytes ${m}\n@sim chunks=3`)],
    }, { authorization: `Bearer ${API_KEY}` });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/event-stream/);
    assert.ok(!/^event:/m.test(r.text), 'no event: lines');
    const frames = parseSSE(r.text);
    for (const f of frames) {
      assert.equal(f.event, null);
      assert.equal(f.lines.length, 1, `one data line per frame: ${JSON.stringify(f.lines)}`);
      assert.match(f.lines[0], /^data: /);
    }
    assert.equal(frames.at(-1).data, '[DONE]', 'last frame is data: [DONE]');
    assert.ok(r.text.endsWith('data: [DONE]\n\n'), 'the body ends with data: [DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f.data));
    assert.ok(chunks.length >= 4);
    const { id, created, model } = chunks[0];
    assert.match(id, /^chatcmpl-/);
    assert.equal(model, 'gpt-4o');
    for (const c of chunks) {
      assert.equal(c.object, 'chat.completion.chunk');
      assert.equal(c.id, id);
      assert.equal(c.created, created);
      assert.equal(c.model, model);
    }
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    const finishIdx = chunks.findIndex((c) => c.choices[0]?.finish_reason);
    assert.ok(finishIdx > 0, 'a finish_reason chunk');
    assert.equal(chunks[finishIdx].choices[0].finish_reason, 'stop');
    assert.equal(chunks.filter((c) => c.choices[0]?.finish_reason).length, 1);
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    assert.equal(text, `echo: raw bytes ${m}`);
    const usageChunks = chunks.filter((c) => c.usage);
    if (includeUsage) {
      assert.equal(usageChunks.length, 1);
      const u = chunks.at(-1);
      assert.equal(u, usageChunks[0], 'the usage chunk comes last, right before [DONE]');
      assert.deepEqual(u.choices, []);
      assert.ok(u.usage.prompt_tokens > 0 && u.usage.completion_tokens > 0);
      assert.equal(u.usage.total_tokens, u.usage.prompt_tokens + u.usage.completion_tokens);
      assert.ok(finishIdx < chunks.length - 1);
    } else {
      assert.equal(usageChunks.length, 0, 'no usage without include_usage');
      assert.ok(chunks.every((c) => c.choices.length === 1), 'no choices:[] chunk');
      assert.equal(finishIdx, chunks.length - 1);
    }
  });
}

test('models.list() and models.retrieve()', async () => {
  const ids = [];
  for await (const mdl of oa.models.list()) {
    assert.equal(mdl.object, 'model');
    assert.ok(typeof mdl.id === 'string' && mdl.id.length > 0);
    assert.ok(Number.isInteger(mdl.created), `created ${mdl.created}`);
    assert.ok(typeof mdl.owned_by === 'string' && mdl.owned_by.length > 0);
    ids.push(mdl.id);
  }
  assert.ok(ids.includes('kmodel'), ids.join(','));
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
  const one = await oa.models.retrieve('kmodel');
  assert.equal(one.id, 'kmodel');
  assert.equal(one.object, 'model');
  const e = await catchErr(() => oa.models.retrieve('no-such-model-x'));
  assert.ok(e instanceof OpenAI.NotFoundError, `${e.constructor.name}`);
});
