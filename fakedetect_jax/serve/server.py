"""The web page and JSON API around one Detector (standard library http.server only).

  GET  /              the page (upload a video, see verdict, branch scores, plot, heatmaps)
  GET  /api/health    {"status": "ok", "model", "threshold", "busy" (detections in flight),
                      "peak_busy" (the most at once since start), "max_concurrent",
                      "served", "rejected_busy" (503s so far), ...}
  POST /api/detect    body: the video (raw bytes, or multipart/form-data with one file part)
                      200 the predict result (see predict.clip) plus "images": data: URLs of
                          the score plot and one heatmap thumbnail per sampled face
                      400 empty or malformed body; 408 upload stalled (60 s);
                      411 no Content-Length; 413 too large;
                      415 not a decodable video; 503 too many detections at once (with
                          Retry-After: seconds, about one detection's time); 500 a bug

Safety: the body is streamed into a fresh private folder (mkdtemp, mode 0700) under a fixed name
and the folder is removed afterwards; nothing the client sends (file name included) becomes a
path. The file name is only echoed back, shortened and cleaned. Content is judged by decoding it,
never by name or Content-Type. The size limit is checked on Content-Length before reading a byte.
A semaphore bounds detections in flight; every handler error becomes a JSON error response.
"""
import base64
import email.parser
import email.policy
import gc
import http.server
import json
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import traceback
import urllib.parse

from fakedetect_jax import media
from fakedetect_jax.predict import clip

PAGE = os.path.join(os.path.dirname(__file__), "page.html")
_CHUNK = 1 << 20


class Service:
  """What the handlers share: the detector (loaded and compiled once) and the limits.

  free_cycles: collect garbage after every detection. A detection leaves reference cycles
  holding native memory (each score plot's matplotlib Figure and its canvas keep the ~0.6 MB
  Agg pixel buffer), and with the ~600 000 long-lived objects of JAX, TensorFlow and the
  detector the collector's full passes come rarely: the server's RSS grew by ~0.3-0.6 MB a
  request (+18% over 1000). So the objects alive at start (libraries and the loaded detector)
  are frozen out of the collector's sight (gc.freeze) and a collection after each detection,
  over only what came since, costs a few milliseconds at most.
  """

  def __init__(self, detector, max_bytes=200 << 20, max_concurrent=2, log=None, free_cycles=True):
    self.detector = detector
    self.free_cycles = free_cycles
    if free_cycles:
      gc.collect()
      gc.freeze()
    self.max_bytes = int(max_bytes)
    self.max_concurrent = int(max_concurrent)
    self.slots = threading.BoundedSemaphore(self.max_concurrent)
    self.busy = 0
    self.peak_busy = 0
    self.served = 0
    self.rejected_busy = 0
    self.last_seconds = 1.0  # the latest detection's seconds: the 503s' Retry-After
    self.lock = threading.Lock()
    self.log = log or (lambda msg: None)
    self.started = time.time()

  def health(self):
    d = self.detector
    return {
        "status": "ok",
        "model": d.model_name,
        "threshold": round(d.threshold, 4),
        "threshold_rule": d.info.get("threshold_rule"),
        "branches": d.info.get("branches"),
        "frames_per_video": d.media.num_frames,
        "busy": self.busy,
        "peak_busy": self.peak_busy,
        "max_concurrent": self.max_concurrent,
        "max_upload_bytes": self.max_bytes,
        "served": self.served,
        "rejected_busy": self.rejected_busy,
        "uptime_s": round(time.time() - self.started, 1)
    }

  def detect(self, path, name):
    """The result with pictures for the page; raises media.MediaError for a non-video."""
    result, extras = clip.analyse(self.detector, path, explain=True, name=name)
    url = lambda png: "data:image/png;base64," + base64.b64encode(png).decode()
    thumbs = [
        url(clip._png(_image(t))) for t in clip.overlays(extras["crops"], extras["heat"], 96)
    ] if "heat" in extras else []  # a localization run has no heatmaps
    result["images"] = {"score_plot": url(clip.score_plot(result)), "heatmaps": thumbs}
    return result


def _image(array):
  from PIL import Image
  return Image.fromarray(array)


def clean_name(name):
  """A client's file name reduced to a short label for display (never used as a path)."""
  name = re.split(r"[\\/]", name or "")[-1]
  name = re.sub(r"[^\w .()+-]", "_", name).strip()[:80]
  return name if name.strip(".") else "upload"


class HttpError(Exception):

  def __init__(self, status, message):
    super().__init__(message)
    self.status = status


class Handler(http.server.BaseHTTPRequestHandler):
  server_version = "fakedetect"
  protocol_version = "HTTP/1.1"
  service: Service = None  # set on the subclass made by make_server
  # Seconds a client may stall mid-request: a stalled upload would otherwise hold a detection
  # slot forever (and an idle keep-alive connection a thread).
  timeout = 60

  def log_message(self, fmt, *args):
    self.service.log("%s %s" % (self.address_string(), fmt % args))

  # ---- responses ---------------------------------------------------------------------------
  def _send(self, status, body, ctype, close=False, csp=False, headers=()):
    self.send_response(status)
    for key, value in headers:
      self.send_header(key, value)
    if csp:  # the page loads nothing from elsewhere; results are shown as text and data: images
      self.send_header(
          "Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'")
    self.send_header("Content-Type", ctype)
    self.send_header("Content-Length", str(len(body)))
    self.send_header("Cache-Control", "no-store")
    self.send_header("X-Content-Type-Options", "nosniff")
    if close:
      self.send_header("Connection", "close")
      self.close_connection = True
    self.end_headers()
    self.wfile.write(body)

  def _json(self, status, obj, close=False, headers=()):
    self._send(status, json.dumps(obj).encode(), "application/json", close, headers=headers)

  def _error(self, status, message, close=False, headers=()):
    self._json(status, {"ok": False, "status": status, "error": message}, close, headers)

  # ---- routes ------------------------------------------------------------------------------
  def do_GET(self):
    route = self.path.split("?", 1)[0]
    if route in ("/", "/index.html"):
      with open(PAGE, "rb") as f:
        self._send(200, f.read(), "text/html; charset=utf-8", csp=True)
    elif route == "/api/health":
      self._json(200, self.service.health())
    elif route == "/favicon.ico":
      self._send(204, b"", "image/x-icon")
    else:
      self._error(404, f"no such page: {route[:100]}")

  def do_POST(self):
    route = self.path.split("?", 1)[0]
    if route != "/api/detect":
      self._error(404, f"no such endpoint: {route[:100]}", close=True)
      self._linger()
      return
    status, body = self._detect()
    if status == 200:
      self._json(200, body)
    else:
      # Unread request bytes may remain after these: answer, then close (with a linger).
      early = status in (400, 408, 411, 413, 503)
      retry = [("Retry-After",
                str(max(1, math.ceil(self.service.last_seconds))))] if status == 503 else []
      self._error(status, body, close=early or status == 500, headers=retry)
      if early:
        self._linger()

  def _detect(self):
    """(status, result or error message). The slot is released before the answer is sent, so
    a client that got its answer can start the next detection at once."""
    s = self.service
    if not s.slots.acquire(blocking=False):
      with s.lock:
        s.rejected_busy += 1
      return 503, f"busy: {s.max_concurrent} detections already running; try again shortly"
    folder = None
    try:
      with s.lock:
        s.busy += 1
        s.peak_busy = max(s.peak_busy, s.busy)
      folder = tempfile.mkdtemp(prefix="fakedetect-upload-")
      path, name = self._receive(os.path.join(folder, "upload.bin"))
      t0 = time.monotonic()
      try:
        result = s.detect(path, name)
      except media.MediaError as e:
        # The message names our temporary file; say the upload's display name instead.
        detail = f" ({e.detail.replace(path, name)})" if e.detail else ""
        return 415, f"{name}: not a video this server can read: expected {e.expected}{detail}"
      with s.lock:
        s.served += 1
        s.last_seconds = time.monotonic() - t0
      return 200, result
    except HttpError as e:
      return e.status, str(e)
    except Exception as e:  # a bug on one upload must not take the server down
      s.log(traceback.format_exc())
      return 500, f"internal error ({type(e).__name__}); the server is still running"
    finally:
      if folder:
        shutil.rmtree(folder, ignore_errors=True)
      if s.free_cycles:
        gc.collect()
      with s.lock:
        s.busy -= 1
      s.slots.release()

  def _linger(self, seconds=2.0, cap=64 << 20):
    """After an early answer (413, 503), read and drop what the client is still sending for a
    moment before closing: closing a socket with unread data resets the connection, and the
    client would lose the answer."""
    try:
      self.wfile.flush()
      self.connection.shutdown(socket.SHUT_WR)
      self.connection.settimeout(seconds)
      deadline, got = time.monotonic() + seconds, 0
      while got < cap and time.monotonic() < deadline:
        chunk = self.connection.recv(_CHUNK)
        if not chunk:
          break
        got += len(chunk)
    except OSError:
      pass

  def _receive(self, target):
    """Streams the body to `target`; returns (video path, display name)."""
    if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
      raise HttpError(411, "send the upload with a Content-Length (chunked bodies not accepted)")
    length = self.headers.get("Content-Length")
    if length is None or not length.strip().isdigit():
      raise HttpError(411, "Content-Length required")
    length = int(length)
    if length > self.service.max_bytes:
      raise HttpError(
          413, f"upload of {length} bytes is over the limit of "
          f"{self.service.max_bytes} bytes")
    if length == 0:
      raise HttpError(400, "empty upload: send the video file as the request body")
    left = length
    with open(target, "wb") as f:
      while left:
        try:
          chunk = self.rfile.read(min(_CHUNK, left))
        except TimeoutError:
          raise HttpError(408, f"upload stalled after {length - left} of {length} bytes") from None
        if not chunk:
          raise HttpError(400, f"upload ended after {length - left} of {length} bytes")
        f.write(chunk)
        left -= len(chunk)
    ctype = self.headers.get("Content-Type", "")
    name = clean_name(urllib.parse.unquote(self.headers.get("X-Filename", "")))
    if ctype.lower().startswith("multipart/form-data"):
      return _unpack_multipart(target, ctype)
    return target, name


def _unpack_multipart(target, ctype):
  """The first file part of a multipart/form-data body, written over `target`."""
  with open(target, "rb") as f:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(b"Content-Type: " +
                                                                        ctype.encode("latin-1") +
                                                                        b"\r\n\r\n" + f.read())
  for part in msg.iter_parts() if msg.is_multipart() else []:
    if part.get_filename() is not None or part.get_param("name", header="content-disposition"):
      data = part.get_payload(decode=True) or b""
      if not data:
        raise HttpError(400, "the file part of the form is empty")
      with open(target, "wb") as f:
        f.write(data)
      return target, clean_name(part.get_filename())
  raise HttpError(400, "multipart body without a file part")


def make_server(service, host="127.0.0.1", port=8080):
  handler = type("BoundHandler", (Handler,), {"service": service})
  server = http.server.ThreadingHTTPServer((host, port), handler)
  server.daemon_threads = True
  return server
