#!/usr/bin/env python3
"""Arrival time of every SSE event of one streamed response (bench/run.sh, "no coalescing").

usage: event_timing.py HOST PORT PATH BODY_FILE [HEADERS_FILE]

Sends one POST, reads the response as it arrives and prints one line per event: the time in
microseconds since the request was sent and what the event is (delta, finish, done). A `data:`
line is an event; the OpenAI encoder's role-only opening chunk (written together with the first
content chunk) is not counted, so event i of the gateway's stream pairs with event i of the
upstream's. Stdlib only."""
import re
import socket
import sys
import time


def main():
    host, port, path, body_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    headers = {"Host": f"{host}:{port}", "Content-Type": "application/json", "Connection": "close"}
    if len(sys.argv) > 5:
        for line in open(sys.argv[5], encoding="utf-8").read().splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip()] = v.strip()
            elif line.endswith(";"):
                headers[line[:-1]] = ""
    body = open(body_file, "rb").read()
    headers["Content-Length"] = str(len(body))
    req = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    s = socket.create_connection((host, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t0 = time.perf_counter()
    s.sendall(req.encode() + b"\r\n" + body)
    events = []
    pending = b""
    while True:
        chunk = s.recv(65536)
        now = time.perf_counter()
        if not chunk:
            break
        pending += chunk
        # Count complete data lines; a line split across reads counts when it ends.
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"data:") and b'"content":""' not in line:
                events.append((now, kind(line)))
    s.close()
    if not events:
        sys.exit("no events received")
    for t, k in events:
        print(int((t - t0) * 1e6), k)


# A finish_reason with a value (escaped inside the upstream's envelope, plain from the gateway).
FINISH = re.compile(rb'finish_reason\\?":\\?"[a-z]')


def kind(line):
    if b"[DONE]" in line:
        return "done"
    return "finish" if FINISH.search(line) else "delta"


if __name__ == "__main__":
    main()
