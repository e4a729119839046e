"""The serve tests' shared helpers: a real server process (started as a user starts it) and
HTTP requests to it. The trained detector is test_predict.trained_detector's (once a session)."""
import http.client
import json
import os
import subprocess
import sys

from conftest import REPO


def start_server(detector, tmpdir, *flags):
  """A `python -m fakedetect_jax.serve` process on a free port with TMPDIR=tmpdir (where its
  uploads go, so a test can check none stay); returns (proc, port) once the model is compiled."""
  env = dict(os.environ, TMPDIR=str(tmpdir), XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.Popen(
      [sys.executable, "-m", "fakedetect_jax.serve", f"--detector={detector}", "--port=0", *flags],
      cwd=REPO,
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True)
  line = proc.stdout.readline()  # printed once the model is loaded and compiled
  if not line.startswith("Serving"):
    proc.kill()
    raise AssertionError(f"server did not start: {line}{proc.stderr.read()[-3000:]}")
  return proc, int(line.rsplit(":", 1)[1].strip(" /\n"))


def stop_server(proc):
  proc.terminate()
  proc.wait(timeout=60)


def request(port, method, path, body=None, headers=None, timeout=300):
  conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
  conn.request(method, path, body=body, headers=headers or {})
  resp = conn.getresponse()
  data = resp.read()
  conn.close()
  return resp.status, (
      json.loads(data) if resp.getheader("Content-Type") == "application/json" else data)


def upload(port, data, name="clip.mp4"):
  return request(port, "POST", "/api/detect", data, {
      "Content-Type": "application/octet-stream",
      "X-Filename": name
  })
