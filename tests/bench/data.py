#!/usr/bin/env python3
"""make bench: copying hosted data.

One file of --mib MiB (default 2048) in a dev collection, one pair that
maps it to prod, two local fakeclusters. Measures, alternating A B A B:
  A  `algopromoted --once` copying it (the whole process: its peak RSS
     from wait4, against a run that copies nothing; its wall time);
  B  plain curl: download the file to disk, then upload it (the time of
     both).
Prints the medians and the ratio A/B (and writes them as JSON with --json
FILE). A benchmark, not a test: it prints figures and never fails on them.
`make bench` copies 512 MiB (the default here is 2048) to fit its budget.
"""
import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
import harness  # noqa: E402
from harness import Env, CAROL_KEY  # noqa: E402
from fakecluster_util import ALICE_KEY  # noqa: E402
import bench  # noqa: E402


def put_stream(cluster, key, path, block, n):
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=3600)
    conn.putrequest("PUT", path)
    conn.putheader("Authorization", "Simple " + key)
    conn.putheader("Content-Length", str(len(block) * n))
    conn.endheaders()
    for _ in range(n):
        conn.send(block)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    if resp.status != 200:
        raise SystemExit("seeding failed: %d %s" % (resp.status, body[:200]))


def request(cluster, key, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=60)
    conn.request(method, path, body=body, headers={"Authorization": "Simple " + key,
                                                   "Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status


def once(env):
    """--once; (seconds, peak RSS KiB)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        proc = subprocess.Popen([harness.DAEMON, "-f", env.config, "--once"],
                                env=harness.env_with(), stdout=out, stderr=subprocess.STDOUT)
        _, status, ru = os.wait4(proc.pid, 0)
        took = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            raise SystemExit("algopromoted --once failed:\n" + out.read().decode()[-2000:])
    return took, ru.ru_maxrss


def curl_pair(env, spool):
    """curl GET to a file, then curl PUT of it; seconds."""
    src = env.dev.url + "/v1/connector/data/alice/models/big.bin"
    dst = env.prod.url + "/v1/connector/data/acme/curlcopy/big.bin"
    t0 = time.monotonic()
    subprocess.run(["curl", "-sSf", "--noproxy", "*", "-H", "Authorization: Simple " + ALICE_KEY,
                    "-o", spool, src], check=True)
    subprocess.run(["curl", "-sSf", "--noproxy", "*", "-H", "Authorization: Simple " + CAROL_KEY,
                    "-T", spool, "-o", "/dev/null", dst], check=True)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = ap.parse_args()
    env = Env()
    try:
        env.create_source()
        request(env.dev, ALICE_KEY, "POST", "/v1/connector/data/alice", b'{"name": "models"}')
        request(env.prod, CAROL_KEY, "POST", "/v1/connector/data/acme", b'{"name": "curlcopy"}')
        env.write_config([{"name": "hello", "source": "dev/alice/Hello",
                           "destination": "prod/acme/Hello",
                           "data": [{"from": "data://alice/models",
                                     "to": "data://acme/models"}]}])
        env.commit(files={"src/Hello.py": "v1\n"})
        put_stream(env.dev, ALICE_KEY, "/v1/connector/data/alice/models/small.bin", b"s", 1)
        base_t, base_rss = once(env)
        block = os.urandom(1024 * 1024)
        t0 = time.monotonic()
        put_stream(env.dev, ALICE_KEY, "/v1/connector/data/alice/models/big.bin", block,
                   args.mib)
        print("seeded %d MiB in %.1f s" % (args.mib, time.monotonic() - t0))
        ours, theirs, rss = [], [], []
        spool = os.path.join(env.dir, "curl.spool")
        for i in range(args.runs):
            if i:
                # Make the source newer so that the next run copies again.
                put_stream(env.dev, ALICE_KEY, "/v1/connector/data/alice/models/big.bin",
                           block, args.mib)
            took, peak = once(env)
            ours.append(took)
            rss.append(peak)
            theirs.append(curl_pair(env, spool))
            os.remove(spool)
            print("run %d: algopromoted %.1f s (peak RSS %d KiB), curl GET+PUT %.1f s"
                  % (i + 1, took, peak, theirs[-1]))
        mo, mc = statistics.median(ours), statistics.median(theirs)
        print("data copy of %d MiB: algopromoted --once median %.1f s (%.0f MiB/s), "
              "curl download-then-upload median %.1f s (%.0f MiB/s), ratio %.2f"
              % (args.mib, mo, args.mib / mo, mc, args.mib / mc, mo / mc))
        print("peak RSS: %d KiB copying nothing, %d KiB copying (growth %d KiB)"
              % (base_rss, max(rss), max(rss) - base_rss))
        bench.write_part(args.json, "data", [
            "algopromoted --once -f CONF  (one %d MiB file, data://alice/models -> "
            "data://acme/models)" % args.mib,
            "curl -o SPOOL SRC && curl -T SPOOL DST"],
            [bench.row("algopromoted --once copying %d MiB" % args.mib, "s", ours),
             bench.row("curl download then upload", "s", theirs),
             bench.row("algopromoted --once throughput", "MiB/s",
                       [args.mib / t for t in ours]),
             bench.row("peak RSS copying", "MiB", [r / 1024 for r in rss]),
             bench.row("peak RSS copying nothing", "MiB", [base_rss / 1024])],
            [bench.ratio("copy time, algopromoted / curl", mo / mc),
             bench.ratio("peak RSS growth while copying (MiB)",
                         (max(rss) - base_rss) / 1024)],
            ["against two local fakeclusters; %d MiB of random bytes, %d runs alternating"
             % (args.mib, args.runs)] + (
                ["make bench copies 512 MiB to fit its 20-minute budget (data.py's default "
                 "is 2048 MiB)"] if args.mib == 512 else []))
    finally:
        env.close()


if __name__ == "__main__":
    main()
