"""serve under load: a real server process with --max-concurrent=2 and real HTTP uploads of a real
video (the real-media set's single_face.mp4, 2.4 s 640x360), through the load functions of
experiments/benchmarks/serve_load.py. Every request has a client timeout and a watchdog kills the
server after WATCHDOG_S, so a hang fails the test instead of stalling the suite."""
import http.client
import json
import sys
import threading

import pytest

from conftest import REPO
from serve_fixture import start_server, stop_server
from test_predict import trained_detector

sys.path.insert(0, REPO)
from experiments.benchmarks import serve_load  # noqa: E402

WATCHDOG_S = 300
TIMEOUT_S = 60  # per request


@pytest.fixture(scope="module")
def server(tmp_path_factory, synthetic_tiny):
  """(process, port, its TMPDIR) of a server allowing two detections at once."""
  detector = trained_detector(tmp_path_factory, synthetic_tiny)
  tmp = tmp_path_factory.mktemp("load_server_tmp")  # where its uploads go; must end up empty
  proc, port = start_server(detector, tmp, "--max-concurrent=2", "--quiet")
  watchdog = threading.Timer(WATCHDOG_S, proc.kill)
  watchdog.start()
  yield proc, port, tmp
  watchdog.cancel()
  stop_server(proc)


@pytest.fixture(scope="module")
def video(real_media):
  return (real_media / "videos" / "single_face.mp4").read_bytes()


def _check_busy(r):
  """A 503 as documented: the JSON error body and a Retry-After of whole seconds."""
  assert r["body"]["ok"] is False and r["body"]["status"] == 503, r
  assert r["body"]["error"].startswith("busy: 2 detections already running"), r
  assert r["headers"]["Retry-After"].isdigit() and int(r["headers"]["Retry-After"]) >= 1


def _check_ok(r, name):
  assert r["body"]["ok"] and r["body"]["file"] == name, r["body"]
  assert r["body"]["verdict"] in ("real", "fake") and len(r["body"]["frame_scores"]) == 4
  assert r["body"]["faces_found"] == 4  # a real face in every sampled frame
  assert len(r["body"]["images"]["heatmaps"]) == 4


def test_slots_held_then_six_more_all_get_503(server, video):
  """Deterministic: two uploads hold both slots (half their body sent), six more at once each
  get the documented 503 at once; the two then finish with 200."""
  _, port, tmp = server
  holders = []
  for i in range(2):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_S)
    conn.putrequest("POST", "/api/detect")
    conn.putheader("Content-Length", str(len(video)))
    conn.putheader("X-Filename", f"held{i}.mp4")
    conn.endheaders()
    conn.send(video[:len(video) // 2])
    holders.append(conn)
  for _ in range(int(TIMEOUT_S / 0.05)):  # until the server has given out both slots
    if serve_load.health(port)["busy"] == 2:
      break
    threading.Event().wait(0.05)
  results = serve_load.burst(port, video, 6, TIMEOUT_S)
  assert [r["status"] for r in results] == [503] * 6, [r["status"] for r in results]
  for r in results:
    _check_busy(r)
  for i, conn in enumerate(holders):
    conn.send(video[len(video) // 2:])
    resp = conn.getresponse()
    assert resp.status == 200
    assert json.loads(resp.read())["file"] == f"held{i}.mp4"
    conn.close()
  h = serve_load.health(port)
  assert h["busy"] == 0 and h["peak_busy"] == 2 and h["rejected_busy"] >= 6
  assert sorted(tmp.iterdir()) == []


def test_burst_of_8_then_50_requests_two_at_a_time(server, video):
  proc, port, tmp = server
  before = serve_load.health(port)
  fig = serve_load.run_load(
      port, proc.pid, video, burst_n=8, requests=50, clients=2, timeout=TIMEOUT_S)
  print("\n" + serve_load.summary(fig, 50))

  # The burst: 8 at once. Each answer is a 200 or a 503, never a 500, a reset or a hang. A 503
  # means two detections were running then, and both end in 200: so at least two 200s.
  statuses = [r["status"] for r in fig["burst"]]
  assert set(statuses) <= {200, 503}, statuses
  assert statuses.count(200) >= 2, statuses
  for i, r in enumerate(fig["burst"]):
    if r["status"] == 200:
      _check_ok(r, f"burst{i}.mp4")
    else:
      _check_busy(r)
  h = fig["health_after_burst"]
  assert h["busy"] == 0 and h["peak_busy"] <= 2  # never more than --max-concurrent at once
  assert h["served"] - before["served"] == statuses.count(200)
  assert h["rejected_busy"] - before["rejected_busy"] == statuses.count(503)

  # The series: two clients, each sending its next upload when answered. The server frees a
  # slot before it answers, so two clients never find both taken: all 200.
  assert [r["status"] for r in fig["series"]] == [200] * 50, fig["series_counts"]
  for r in fig["series"]:
    assert r["body"]["ok"] and len(r["body"]["frame_scores"]) == 4
  h = fig["health_after"]
  assert h["busy"] == 0 and h["peak_busy"] <= 2
  assert h["served"] - before["served"] == statuses.count(200) + 50
  assert fig["p50_s"] <= fig["p95_s"] < TIMEOUT_S

  # Memory: no growth per request (it grew ~0.5 MB a request before the server collected each
  # detection's garbage).
  rss5, rss50 = fig["rss_after_5_mb"], fig["rss_after_last_mb"]
  assert abs(rss50 - rss5) <= 0.10 * rss5, fig["rss_mb"]

  # Every upload's private folder is gone once the answers are in.
  assert sorted(tmp.iterdir()) == []
  assert proc.poll() is None  # still serving
