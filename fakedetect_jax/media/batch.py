"""Encode many videos in a process pool for dataset builders: skip failures, count, show ETA.

    summary = BatchSummary()
    for path, ex in encode_many(paths, cfg, summary=summary):
        yield key_of(path), {**ex, "label": ...}

Examples come back in input order as soon as each is ready, so the builder writes finished
work while the rest encodes. A file that raises is skipped and counted; a worker that dies
(e.g. a native crash in a decoder) is replaced and its files retried once, so one poisonous
file cannot end a long build.
"""
import collections
import concurrent.futures as cf
import dataclasses
import logging
import multiprocessing
import os
import re
import warnings
from typing import Dict, List, Tuple

from fakedetect_jax.media import errors
from fakedetect_jax.media.config import MediaConfig

log = logging.getLogger(__name__)


@dataclasses.dataclass
class BatchSummary:
  total: int = 0
  encoded: int = 0
  failed: List[Tuple[str, str]] = dataclasses.field(default_factory=list)  # (path, message)
  warned: Dict[str, int] = dataclasses.field(default_factory=dict)  # kind -> files with it
  counts: Dict[str, int] = dataclasses.field(default_factory=dict)  # summed report counts

  def line(self):
    kinds = ", ".join(f"{k}: {n}" for k, n in sorted(self.warned.items()))
    return (f"encoded {self.encoded} of {self.total} videos, skipped {len(self.failed)}" +
            (f"; warnings ({kinds})" if kinds else ""))


def _encode_one(path, cfg):
  """Runs in a worker: (example, report fields) or (None, error message)."""
  from fakedetect_jax.media.encoder import encode_video_with_report
  try:
    ex, report = encode_video_with_report(path, cfg)
    return ex, (report.warnings, report.counts)
  except errors.MediaError as e:
    return None, str(e)
  except Exception as e:  # an unexpected failure on one file must not stop the build
    return None, f"{path}: unexpected {type(e).__name__}: {' '.join(str(e).split())}"


def _init_worker():
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  os.environ.setdefault("GLOG_minloglevel", "2")
  warnings.filterwarnings("ignore", module="google.protobuf")


def _kind(message):
  # "no face in 3 of 32 sampled frames" -> "no face in N of N sampled frames"
  return re.sub(r"\d+", "N", message.split(" (")[0])


def encode_many(paths,
                cfg: MediaConfig = MediaConfig(),
                *,
                workers=None,
                progress=True,
                summary: BatchSummary = None,
                desc="encoding videos",
                max_in_flight=None):
  """Yield (path, example) for every file that encodes, in input order.

    workers: processes (default: CPU count); 0 or 1 encodes in this process.
    summary: filled as files finish; a one-line warning with the totals is issued at the end.
    """
  paths = [os.fspath(p) for p in paths]
  summary = summary if summary is not None else BatchSummary()
  summary.total += len(paths)
  workers = (os.cpu_count() or 1) if workers is None else workers
  bar = None
  if progress:
    from tqdm.auto import tqdm
    bar = tqdm(total=len(paths), desc=desc, unit="video", smoothing=0.1)
  try:
    results = (
        _serial(paths, cfg)
        if workers <= 1 else _pooled(paths, cfg, workers, max_in_flight or 2 * workers))
    for path, (ex, info) in results:
      if ex is None:
        summary.failed.append((path, info))
        log.warning("skipped %s", info)
      else:
        summary.encoded += 1
        msgs, counts = info
        for kind in {_kind(m) for m in msgs}:
          summary.warned[kind] = summary.warned.get(kind, 0) + 1
        for k, v in counts.items():
          summary.counts[k] = summary.counts.get(k, 0) + v
      if bar is not None:
        bar.update(1)
        bar.set_postfix(skipped=len(summary.failed), refresh=False)
      if ex is not None:
        yield path, ex
  finally:
    if bar is not None:
      bar.close()
    if summary.failed or summary.warned:
      warnings.warn(summary.line(), errors.MediaWarning, stacklevel=2)


def _serial(paths, cfg):
  for p in paths:
    yield p, _encode_one(p, cfg)


def _pooled(paths, cfg, workers, max_in_flight):
  # spawn, not fork: the parent usually has TensorFlow loaded, and forking it can deadlock.
  ctx = multiprocessing.get_context("spawn")
  new_pool = lambda: cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker)
  pending = collections.deque((seq, p, 0) for seq, p in enumerate(paths))
  in_flight = collections.OrderedDict()  # seq -> (path, attempts, future), oldest first
  done, next_out = {}, 0
  pool = new_pool()
  try:
    while pending or in_flight:
      while pending and len(in_flight) < max_in_flight:
        seq, path, attempts = pending.popleft()
        in_flight[seq] = (path, attempts, pool.submit(_encode_one, path, cfg))
      seq = min(in_flight)
      path, attempts, fut = in_flight[seq]
      try:
        done[seq] = (path, fut.result())
        del in_flight[seq]
      except cf.process.BrokenProcessPool:
        # A worker died and took the pool with it; which file did it is unknown, so
        # every file in flight is retried once in a fresh pool.
        pool.shutdown(wait=False, cancel_futures=True)
        pool = new_pool()
        for s in sorted(in_flight, reverse=True):
          p, a, _ = in_flight[s]
          if a >= 1:
            done[s] = (p, (None, f"{p}: worker process crashed while encoding it"))
          else:
            pending.appendleft((s, p, a + 1))
        in_flight.clear()
      while next_out in done:
        yield done.pop(next_out)
        next_out += 1
  finally:
    pool.shutdown(wait=True, cancel_futures=True)
