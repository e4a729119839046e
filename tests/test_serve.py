"""serve: the web page and JSON API, started as a user starts it, with real uploads and a real
browser (headless Chromium driven by Selenium through Debian's chromedriver)."""
import http.client
import json
import os
import shutil
import threading
import uuid

import pytest

from serve_fixture import request as _request
from serve_fixture import start_server, stop_server
from serve_fixture import upload as _upload
from test_predict import rendered_videos, trained_detector

MAX_BYTES = 400_000


@pytest.fixture(scope="module")
def server(tmp_path_factory, synthetic_tiny):
  """(port, upload temp dir) of a server with a small upload limit and one detection at a time."""
  detector = trained_detector(tmp_path_factory, synthetic_tiny)
  tmp = tmp_path_factory.mktemp("server_tmp")  # the server's TMPDIR: uploads must not stay
  proc, port = start_server(detector, tmp, f"--max-upload-mb={MAX_BYTES / (1 << 20)}",
                            "--max-concurrent=1", "--quiet")
  yield port, tmp
  stop_server(proc)


def test_api_good_upload_raw_and_multipart(server, synthetic_tiny):
  port, tmp = server
  status, health = _request(port, "GET", "/api/health")
  assert status == 200 and health["status"] == "ok" and health["model"] == "meso4"
  data = open(rendered_videos(synthetic_tiny)["blend"], "rb").read()
  status, r = _upload(port, data, name="../../etc/passwd")
  assert status == 200, r
  assert r["ok"] and r["file"] == "passwd"  # a display name, never a path
  assert r["verdict"] in ("real", "fake") and len(r["frame_scores"]) == 4
  assert r["branches"]["frames"]["model"] == "meso4"
  assert r["images"]["score_plot"].startswith("data:image/png;base64,")
  assert len(r["images"]["heatmaps"]) == 4
  # The same file as a browser form sends it.
  boundary = uuid.uuid4().hex
  body = (
      f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"my clip.mp4\""
      f"\r\nContent-Type: video/mp4\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
  status, r2 = _request(port, "POST", "/api/detect", body,
                        {"Content-Type": f"multipart/form-data; boundary={boundary}"})
  assert status == 200 and r2["file"] == "my clip.mp4"
  assert r2["frame_scores"] == r["frame_scores"]
  assert os.listdir(tmp) == []  # uploads deleted


def test_api_rejects_non_video_and_oversized_and_stays_up(server):
  port, tmp = server
  # A text file named like a video: judged by decoding, not by name.
  status, r = _upload(port, b"just some text, not a video\n" * 50, name="movie.mp4")
  assert status == 415 and "not a video" in r["error"] and "movie.mp4" in r["error"]
  assert "fakedetect-upload" not in r["error"]  # our temporary path never leaks
  status, r = _upload(port, b"", name="empty.mp4")
  assert status == 400
  # Oversized: refused on Content-Length, before the body is sent.
  conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
  conn.putrequest("POST", "/api/detect")
  conn.putheader("Content-Length", str(MAX_BYTES + 1))
  conn.endheaders()
  resp = conn.getresponse()
  assert resp.status == 413 and "over the limit" in json.loads(resp.read())["error"]
  conn.close()
  # And sent in full, as a naive client does.
  status, r = _upload(port, os.urandom(MAX_BYTES + 10))
  assert status == 413
  assert _request(port, "GET", "/api/health")[0] == 200
  assert _request(port, "GET", "/../../etc/passwd")[0] == 404
  assert os.listdir(tmp) == []


def test_concurrent_uploads_beyond_the_limit_get_503(server, synthetic_tiny):
  port, tmp = server
  data = open(rendered_videos(synthetic_tiny)["real"], "rb").read()
  # Hold the one detection slot: send the headers and half the body, then wait.
  slow = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
  slow.putrequest("POST", "/api/detect")
  slow.putheader("Content-Length", str(len(data)))
  slow.putheader("X-Filename", "slow.mp4")
  slow.endheaders()
  slow.send(data[:len(data) // 2])
  # Wait until the server has taken the slot (health reports it busy); no timing assumptions.
  while _request(port, "GET", "/api/health")[1]["busy"] == 0:
    threading.Event().wait(0.05)
  results = [None] * 3

  def go(i):
    results[i] = _upload(port, data, name=f"c{i}.mp4")

  threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert [s for s, _ in results] == [503, 503, 503], results
  assert all("busy" in r["error"] for _, r in results)
  slow.send(data[len(data) // 2:])
  resp = slow.getresponse()
  assert resp.status == 200 and json.loads(resp.read())["file"] == "slow.mp4"
  slow.close()
  # Once free, several clients in a row all get answers.
  threads = [threading.Thread(target=go, args=(i,)) for i in range(3)]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  assert {s for s, _ in results} <= {200, 503} and 200 in {s for s, _ in results}
  status, health = _request(port, "GET", "/api/health")
  assert status == 200 and health["busy"] == 0
  assert os.listdir(tmp) == []


def test_browser_uploads_a_video_and_sees_the_verdict(server, synthetic_tiny, tmp_path):
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service
  from selenium.webdriver.common.by import By
  from selenium.webdriver.support import expected_conditions as ec
  from selenium.webdriver.support.ui import WebDriverWait
  port, _ = server
  video = tmp_path / "my video.mp4"
  shutil.copy(rendered_videos(synthetic_tiny)["blend"], video)
  opts = webdriver.ChromeOptions()
  opts.binary_location = shutil.which("chromium")
  for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}"):
    opts.add_argument(flag)
  driver = webdriver.Chrome(options=opts, service=Service(shutil.which("chromedriver")))
  try:
    driver.get(f"http://127.0.0.1:{port}/")
    WebDriverWait(driver, 60).until(ec.text_to_be_present_in_element((By.ID, "about"), "meso4"))
    driver.find_element(By.ID, "file").send_keys(str(video))  # the page uploads on change
    WebDriverWait(driver, 300).until(ec.visibility_of_element_located((By.ID, "verdict")))
    verdict = driver.find_element(By.ID, "verdict").text
    assert verdict in ("Likely FAKE", "Likely REAL")
    assert "my video.mp4" in driver.find_element(By.ID, "summary").text
    assert len(driver.find_elements(By.CSS_SELECTOR, "#thumbs img")) == 4
    assert driver.find_element(By.ID, "plot").get_attribute("src").startswith("data:image/png")
    rows = driver.find_elements(By.CSS_SELECTOR, "#branches tr")
    assert len(rows) == 2 and rows[1].text.startswith("frames meso4")
  finally:
    driver.quit()


def test_client_file_names_are_display_labels_only():
  from fakedetect_jax.serve.server import clean_name
  assert clean_name("../../etc/passwd") == "passwd"
  assert clean_name("C:\\Users\\me\\clip 1.mp4") == "clip 1.mp4"
  assert clean_name("a\x00b<script>.mp4") == "a_b_script_.mp4"
  assert clean_name("") == clean_name("..") == clean_name(None) == "upload"
  assert len(clean_name("x" * 500)) == 80
