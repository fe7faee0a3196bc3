-- wrk script: POST an OpenAI chat request with a bearer key (closed loop only; the Rust
-- generators in bench/rust are the reference, wrk is a cross-check).
--   BENCH_KEY=sk-bench-0123456789abcdef STREAM=1 wrk -t1 -c32 -d10s -s bench/wrk/chat.lua \
--     http://127.0.0.1:9101/v1/chat/completions
local stream = os.getenv("STREAM") == "1"
local body = '{"model":"fake-gpt","messages":[{"role":"system","content":"You are a helpful assistant."},'
  .. '{"role":"user","content":"Say hello in about twenty tokens, please."}],"max_tokens":64,"temperature":0.7'
if stream then
  body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
end
body = body .. "}"
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench-0123456789abcdef")
local extra = os.getenv("EXTRA_HEADERS") -- "k1: v1|k2: v2", e.g. Portkey's x-portkey-* headers
if extra then
  for pair in string.gmatch(extra, "[^|]+") do
    local k, v = pair:match("^%s*(.-)%s*:%s*(.-)%s*$")
    if k then wrk.headers[k] = v end
  end
end
local non200 = 0
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("non-200: %d (per thread counter of the last thread)\n", non200))
end
