#!/usr/bin/env bash
# /metrics: the four gating cases (public, METRICS_TOKEN, any API key, nothing → 503); the
# exposition passes a strict format check (promtool from Debian's prometheus package, and the
# independent checker below); counters move as requests run.
source "$(dirname "$0")/pool_lib.sh"

# strict_check FILE: text format 0.0.4 — HELP/TYPE once per family and before its samples,
# metric and label names well formed, label values escaped, numeric values, no duplicate series,
# histograms with ascending cumulative buckets ending in +Inf = _count, plus _sum.
strict_check() {
    python3 - "$1" <<'PY'
import math, re, sys
NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
SAMPLE = re.compile(rf'^({NAME})(?:\{{((?:{LABEL})(?:,{LABEL})*)?\}})? (\S+)(?: (-?\d+))?$')
types, helps, seen, hist = {}, set(), set(), {}
errors = []
def family(n):
    for suf in ("_bucket", "_sum", "_count"):
        if n.endswith(suf) and types.get(n[:-len(suf)]) == "histogram":
            return n[:-len(suf)]
    return n
text = open(sys.argv[1], encoding="utf-8").read()
if not text.endswith("\n"): errors.append("no final newline")
for i, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        m = re.match(rf'^# HELP ({NAME}) (.*)$', line)
        if not m or m[1] in helps: errors.append(f"{i}: bad or repeated HELP"); continue
        helps.add(m[1])
    elif line.startswith("# TYPE "):
        m = re.match(rf'^# TYPE ({NAME}) (counter|gauge|histogram|summary|untyped)$', line)
        if not m or m[1] in types: errors.append(f"{i}: bad or repeated TYPE"); continue
        types[m[1]] = m[2]
    elif line.startswith("#") or not line:
        errors.append(f"{i}: stray line {line!r}")
    else:
        m = SAMPLE.match(line)
        if not m: errors.append(f"{i}: malformed sample {line!r}"); continue
        name, labels, value = m[1], m[2] or "", m[3]
        fam = family(name)
        if fam not in types: errors.append(f"{i}: sample before its TYPE: {name}")
        try:
            v = float(value.replace("+Inf", "inf").replace("-Inf", "-inf"))
        except ValueError:
            errors.append(f"{i}: bad value {value!r}"); continue
        pairs = re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels)
        names = [p[0] for p in pairs]
        if len(set(names)) != len(names): errors.append(f"{i}: repeated label")
        key = (name, tuple(sorted(pairs)))
        if key in seen: errors.append(f"{i}: duplicate series")
        seen.add(key)
        if types.get(fam) == "counter" and (v < 0 or math.isnan(v)): errors.append(f"{i}: bad counter value")
        if types.get(fam) == "histogram":
            rest = tuple(sorted(p for p in pairs if p[0] != "le"))
            h = hist.setdefault((fam, rest), {"buckets": [], "count": None, "sum": None})
            if name.endswith("_bucket"):
                le = dict(pairs).get("le")
                if le is None: errors.append(f"{i}: bucket without le"); continue
                h["buckets"].append((float(le.replace("+Inf", "inf")), v))
            elif name.endswith("_count"): h["count"] = v
            else: h["sum"] = v
for (fam, rest), h in hist.items():
    b = h["buckets"]
    if not b or b[-1][0] != math.inf: errors.append(f"{fam}{rest}: no +Inf bucket")
    elif any(b[k][0] >= b[k+1][0] or b[k][1] > b[k+1][1] for k in range(len(b) - 1)):
        errors.append(f"{fam}{rest}: buckets not ascending / cumulative")
    elif h["count"] != b[-1][1] or h["sum"] is None: errors.append(f"{fam}{rest}: _count/_sum wrong")
for n in types:
    if n not in helps: errors.append(f"{n}: TYPE without HELP")
if errors:
    print("\n".join(errors[:20])); sys.exit(1)
PY
}

# check_exposition WHAT: the last response body passes both checkers.
check_exposition() {
    printf '%s\n' "$BODY" >"$LGW_TMP/metrics.txt"
    local out
    out="$(strict_check "$LGW_TMP/metrics.txt")" || fail "$1: strict checker: $out"
    pass
    if command -v promtool >/dev/null; then
        out="$(promtool check metrics <"$LGW_TMP/metrics.txt" 2>&1)" || fail "$1: promtool: $out"
        pass
    else
        step "promtool not installed (Debian package prometheus): strict checker only"
    fi
}

value() { awk -v s="$1" '$1 == s { print $2 }' <<<"$BODY"; }

step "nothing configured → 503 metrics_disabled"
gw_start
http GET /metrics
assert_openai_error 503 server_error metrics_disabled "/metrics unconfigured"
gw_stop

step "METRICS_PUBLIC=true → open"
gw_start METRICS_PUBLIC=true API_KEYS=k1
http GET /metrics
assert_status 200 "public metrics without a token"
check_exposition "public, idle"
gw_stop

step "METRICS_TOKEN → that token (and any API key); others 401"
gw_start METRICS_TOKEN=mtok API_KEYS=k1
http GET /metrics
assert_status 401 "no token"
http GET /metrics -H "Authorization: Bearer nope"
assert_status 401 "wrong token"
http GET /metrics -H "Authorization: Bearer mtok"
assert_status 200 "METRICS_TOKEN"
http GET /metrics -H "Authorization: Bearer k1"
assert_status 200 "an API key next to METRICS_TOKEN"
gw_stop

step "API_KEYS only → any API key; traffic moves the counters; the format stays strict"
pool_start -- --api-keys k1,k2 --state :memory:
http GET /metrics
assert_status 401 "no key"
http GET /metrics -H "Authorization: Bearer k2"
assert_status 200 "API key"
check_exposition "api key, idle"
OK='lingma_gateway_requests_total{protocol="openai",route="chat_completions",status_class="2xx"}'
OK_A='lingma_gateway_requests_total{protocol="anthropic",route="messages",status_class="2xx"}'
assert_eq "" "$(value "$OK")" "no request series before traffic"
conv_new "metrics"
conv_user "one"
turn_ok openai k1
conv_user "two"
turn_ok anthropic k1
sim_script 2002 '{"error":"429","times":1}'
conv_new "other"
conv_user "rate limited first"
turn_ok openai k1
http GET /metrics -H "Authorization: Bearer k1"
check_exposition "after traffic"
assert_eq 2 "$(value "$OK")" "openai 2xx requests"
assert_eq 1 "$(value "$OK_A")" "anthropic 2xx requests"
assert_eq 1 "$(value 'lingma_gateway_affinity_total{result="hit"}')" "affinity hit"
assert_eq 2 "$(value 'lingma_gateway_affinity_total{result="miss"}')" "affinity misses"
assert_eq 1 "$(value 'lingma_gateway_upstream_attempts_total{account="acct-b",outcome="rate_limit"}')" "rate-limited attempt"
assert_eq 1 "$(value 'lingma_gateway_cooldowns_total{reason="rate_limit"}')" "cooldown counted"
assert_eq 1 "$(value 'lingma_gateway_retries_total')" "retry counted"
assert_eq 1 "$(value 'lingma_gateway_account_state{account="acct-b",state="cooling"}')" "acct-b cooling gauge"
assert_eq 2 "$(value 'lingma_gateway_request_duration_seconds_count{protocol="openai"}')" "duration histogram count"
(( $(value 'lingma_gateway_tokens_total{direction="output"}') > 0 )) || fail "output tokens counted"
pass
http GET /metrics -H "Authorization: Bearer k1"
assert_eq 2 "$(value "$OK")" "scraping does not count requests"
assert_not_contains "$BODY" "k1" "no API key in the exposition"
gw_stop
