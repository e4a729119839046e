"""The web server under load: concurrent real-video uploads to `serve`, latencies and memory.

    python experiments/benchmarks/serve_load.py --detector=runs/quickstart [--video FILE]
        [--cut SECONDS] [--burst 8] [--requests 50] [--clients 2] [--max-concurrent 2]
        [--quick] [--json OUT]

Starts `python -m fakedetect_jax.serve --detector=... --max-concurrent=N` on a free localhost
port with TMPDIR pointed at a fresh folder (where its uploads go), then over real HTTP:
  burst     --burst uploads at once (a barrier releases them together): each answer is 200 or
            503 (a 503 only while --max-concurrent detections run), never a 500 or a hang
  series    --requests uploads, --clients at a time (never more than the server's limit, so all
            200): the latency p50/p95 of these, and the server's RSS after the 5th and the last
            (a leak shows as growth between the two)
and at the end: the server's peak detections in flight (/api/health "peak_busy") and what is
left in its temporary folder (should be nothing). The video is a real one (default: the
real-media set's single_face.mp4, 2.4 s 640x360), optionally cut to its first --cut seconds
(remuxed with PyAV, no re-encode). --quick: a burst of 8 and 20 requests.
"""
import argparse
import http.client
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)


def cut_video(src, dst, seconds):
  """The first `seconds` of src's video and audio streams, remuxed (no re-encode) into dst."""
  import av
  with av.open(src) as inp, av.open(dst, "w") as out:
    streams = [s for s in inp.streams if s.type in ("video", "audio")]
    mapped = {s.index: out.add_stream_from_template(s) for s in streams}
    for packet in inp.demux(streams):
      if packet.dts is None:
        continue
      if packet.dts * packet.time_base > seconds:
        if packet.stream.type == "video":
          break
        continue
      packet.stream = mapped[packet.stream.index]
      out.mux(packet)
  return dst


def start_server(detector, tmpdir, max_concurrent=2, extra=()):
  """(process, port) of a serve process whose TMPDIR is tmpdir, once it has compiled."""
  env = dict(os.environ, TMPDIR=str(tmpdir), XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.Popen([
      sys.executable, "-m", "fakedetect_jax.serve", f"--detector={detector}", "--port=0",
      f"--max-concurrent={max_concurrent}", "--quiet", *extra
  ],
                          cwd=REPO,
                          env=env,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE,
                          text=True)
  line = proc.stdout.readline()
  if not line.startswith("Serving"):
    proc.kill()
    raise RuntimeError(f"server did not start: {line}{proc.stderr.read()[-3000:]}")
  return proc, int(line.rsplit(":", 1)[1].strip(" /\n"))


def rss_bytes(pid):
  """Resident memory of a process (psutil if installed, else /proc/<pid>/status VmRSS)."""
  try:
    import psutil
    return psutil.Process(pid).memory_info().rss
  except ImportError:
    with open(f"/proc/{pid}/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) * 1024
  raise RuntimeError(f"no VmRSS for process {pid}")


def health(port, timeout=30):
  conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
  try:
    conn.request("GET", "/api/health")
    return json.loads(conn.getresponse().read())
  finally:
    conn.close()


def post(port, data, name="clip.mp4", timeout=120):
  """One upload: {"status" (int, or "timeout"/"error: ..."), "seconds", "headers", "body"}."""
  t0 = time.perf_counter()
  conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
  out = {"status": None, "headers": {}, "body": None}
  try:
    conn.request("POST", "/api/detect", body=data, headers={"X-Filename": name})
    resp = conn.getresponse()
    raw = resp.read()
    out["status"], out["headers"] = resp.status, dict(resp.getheaders())
    out["body"] = json.loads(raw) if resp.getheader("Content-Type") == "application/json" else raw
  except TimeoutError:
    out["status"] = "timeout"
  except Exception as e:  # a reset or a refused connection is a finding, not a crash here
    out["status"] = f"error: {type(e).__name__}: {e}"
  finally:
    conn.close()
  out["seconds"] = time.perf_counter() - t0
  return out


def _threads(target, n, deadline):
  threads = [threading.Thread(target=target, args=(i,), daemon=True) for i in range(n)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(max(0.0, deadline - time.monotonic()))
  return [t.is_alive() for t in threads]


def burst(port, data, n=8, timeout=120):
  """n uploads released together; a request still running after `timeout` is a "hang"."""
  results = [{"status": "hang"} for _ in range(n)]
  gate = threading.Barrier(n)

  def go(i):
    gate.wait()
    results[i] = post(port, data, f"burst{i}.mp4", timeout)

  _threads(go, n, time.monotonic() + timeout + 10)
  return results


def series(port, data, count, clients=2, timeout=120, on_done=None):
  """`count` uploads, `clients` at a time (each client sends its next when answered);
  on_done(k) is called (by the client finishing it) after the k-th answer."""
  results, lock, sent = [], threading.Lock(), [0]

  def client(i):
    while True:
      with lock:
        if sent[0] >= count:
          return
        sent[0] += 1
      r = post(port, data, f"series{i}.mp4", timeout)
      with lock:
        results.append(r)
        k = len(results)
      if on_done:
        on_done(k)

  hung = _threads(client, clients, time.monotonic() + timeout * (count // clients + 2))
  results += [{"status": "hang"}] * sum(hung)
  return results


def _checkpoints(n):
  """5, 10, 20, 50, 100, 200, 500, ... up to n, and n."""
  out, k = [], 5
  while k < n:
    out.append(k)
    k = k * 2 if str(k)[0] in "15" else k * 5 // 2
  return out + [n]


def percentile(values, q):
  """Nearest-rank percentile (q in 0..100) of a non-empty list."""
  s = sorted(values)
  return s[max(0, math.ceil(q / 100 * len(s)) - 1)]


def counts(results):
  out = {}
  for r in results:
    out[str(r["status"])] = out.get(str(r["status"]), 0) + 1
  return out


def run_load(port, pid, data, burst_n=8, requests=50, clients=2, timeout=120):
  """The burst, then the series with RSS after its 5th and last answer; returns the figures."""
  t0 = time.perf_counter()
  b = burst(port, data, burst_n, timeout)
  after_burst = health(port)
  rss = {}

  def on_done(k):
    rss[k] = rss_bytes(pid)

  s = series(port, data, requests, clients, timeout, on_done)
  ok = [r["seconds"] for r in s if r["status"] == 200]
  return {
      "burst": b,
      "series": s,
      "burst_counts": counts(b),
      "series_counts": counts(s),
      "burst_seconds_200": sorted(round(r["seconds"], 3) for r in b if r["status"] == 200),
      "burst_seconds_503": sorted(round(r["seconds"], 3) for r in b if r["status"] == 503),
      "p50_s": round(percentile(ok, 50), 3) if ok else None,
      "p95_s": round(percentile(ok, 95), 3) if ok else None,
      "rss_after_5_mb": round(rss[5] / 2**20, 1) if 5 in rss else None,
      "rss_after_last_mb": round(rss[requests] / 2**20, 1) if requests in rss else None,
      "rss_mb": {
          k: round(rss[k] / 2**20, 1) for k in _checkpoints(requests) if k in rss
      },
      "health_after_burst": after_burst,
      "health_after": health(port),
      "seconds": round(time.perf_counter() - t0, 1),
  }


def summary(fig, requests):
  rss5, rssn = fig["rss_after_5_mb"], fig["rss_after_last_mb"]
  growth = f"{100 * (rssn - rss5) / rss5:+.1f}%" if rss5 and rssn else "n/a"
  h = fig["health_after"]
  return "\n".join([
      f"burst    {fig['burst_counts']}  200s in {fig['burst_seconds_200']} s, "
      f"503s in {fig['burst_seconds_503']} s",
      f"series   {fig['series_counts']}  p50 {fig['p50_s']} s  p95 {fig['p95_s']} s",
      f"rss      after 5: {rss5} MB  after {requests}: {rssn} MB  ({growth}); MB after k: "
      f"{fig['rss_mb']}",
      f"server   peak in flight {h['peak_busy']} of {h['max_concurrent']}, served {h['served']}, "
      f"503s {h['rejected_busy']}; load {fig['seconds']} s",
  ])


def _slim(fig):
  """The figures without response bodies (for --json)."""
  out = dict(fig)
  for key in ("burst", "series"):
    out[key] = [{
        "status": r["status"],
        "seconds": round(r.get("seconds", 0), 3),
        "retry_after": r.get("headers", {}).get("Retry-After")
    } for r in fig[key]]
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--detector", required=True, help="a trained run's workdir")
  ap.add_argument("--video", default=None, help="default: real media's single_face.mp4")
  ap.add_argument("--cut", type=float, default=0.0, help="upload only the first SECONDS")
  ap.add_argument("--burst", type=int, default=8)
  ap.add_argument("--requests", type=int, default=50)
  ap.add_argument("--clients", type=int, default=2)
  ap.add_argument("--max-concurrent", type=int, default=2)
  ap.add_argument("--timeout", type=float, default=120.0, help="per request, seconds")
  ap.add_argument("--quick", action="store_true", help="a burst of 8 and 20 requests")
  ap.add_argument("--json", default=None)
  args = ap.parse_args()
  if args.quick:
    args.burst, args.requests = 8, 20
  video = args.video
  if video is None:
    from fakedetect_jax.testing import real_media
    video = os.path.join(real_media.fetch(real_media.default_dir()), "videos", "single_face.mp4")
  work = tempfile.mkdtemp(prefix="serve_load_")
  try:
    if args.cut:
      video = cut_video(video, os.path.join(work, "cut" + os.path.splitext(video)[1]), args.cut)
    data = open(video, "rb").read()
    server_tmp = os.path.join(work, "server_tmp")
    os.mkdir(server_tmp)
    t0 = time.perf_counter()
    proc, port = start_server(args.detector, server_tmp, args.max_concurrent)
    start = time.perf_counter() - t0
    try:
      fig = run_load(port, proc.pid, data, args.burst, args.requests, args.clients, args.timeout)
    finally:
      proc.terminate()
      proc.wait(timeout=60)
    fig["startup_s"] = round(start, 1)
    fig["left_in_tmp"] = sorted(os.listdir(server_tmp))
    print(f"video    {os.path.basename(video)} ({len(data)} bytes), server up in {start:.1f} s")
    print(summary(fig, args.requests))
    print(f"tmp      left behind: {fig['left_in_tmp'] or 'nothing'}")
    if args.json:
      with open(args.json, "w") as f:
        json.dump(_slim(fig), f, indent=1)
  finally:
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  main()
