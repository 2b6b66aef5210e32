"""One model on one device for many face-tracking workers: a GPU behind one queue.

With a GPU, each worker process loading the model would hold a CUDA context of its own (hundreds
of MB each) and send the GPU a few faces at a time. With ``--shared-model`` (the default on a GPU
with several workers) the parent starts one server process that holds the model on the device;
the workers keep tracking faces on the CPU and send the server their faces' crops (2 KB a face).
The server reads whatever has queued up from all workers together, in calls of the scorer's
fixed batch size, so a face's figures are the same as a worker reading it alone would give
(`FaceScorer.read`), and the path is tested on the CPU with ``--device cpu``.
"""
from __future__ import annotations

import itertools
import os
import queue
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_FACES = 256   # faces the server gathers for one round of calls at most
POLL_S = 1.0      # a waiting worker checks this often that the server is still there


@dataclass
class _Request:
    slot: int       # the worker's reply queue
    token: tuple    # (worker pid, request number): replies to a dead worker's requests are dropped
    inputs: list    # FaceInputs


class ModelClient:
    """A worker's end: `read` as `FaceScorer.read` does, on the server's device."""

    def __init__(self, requests, reply, slot: int, server_pid: int):
        self.requests, self.reply, self.slot, self.server_pid = requests, reply, slot, server_pid
        self._numbers = itertools.count()

    def read(self, inputs, batch=None) -> np.ndarray:
        parts = inputs if isinstance(inputs, list) else [inputs]
        token = (os.getpid(), next(self._numbers))
        self.requests.put(_Request(self.slot, token, parts))
        while True:
            try:
                got, raw = self.reply.get(timeout=POLL_S)
            except queue.Empty:
                try:
                    os.kill(self.server_pid, 0)
                except ProcessLookupError:
                    raise RuntimeError("the shared model process ended") from None
                continue
            if got == token:
                if isinstance(raw, str):
                    raise RuntimeError(f"the shared model failed: {raw}")
                return raw


class ModelServer:
    """The parent's end: starts the server process and makes one client per worker slot."""

    def __init__(self, ctx, model_dir: str, device: str, slots: int):
        self.requests = ctx.Queue()
        self.replies = [ctx.Queue() for _ in range(slots)]
        self.process = ctx.Process(target=_serve, args=(model_dir, device, self.requests, self.replies, os.getpid()),
                                   name="mf2-model", daemon=True)
        self.process.start()

    def alive(self) -> bool:
        """Whether the server runs; called by the parent as it waits, it also reaps a server that
        died, so that the workers' check on its pid fails and they stop waiting for it."""
        return self.process.is_alive()

    def client(self, slot: int) -> ModelClient:
        return ModelClient(self.requests, self.replies[slot], slot, self.process.pid)

    def close(self) -> None:
        if self.process.is_alive():
            self.requests.put(None)
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


def _serve(model_dir: str, device: str, requests, replies, parent: int) -> None:
    from .batch import _die_with_parent
    from .model.scorer import FaceScorer

    _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when a run stops
    scorer = FaceScorer(Path(model_dir), device)
    while (first := requests.get()) is not None:
        gathered, faces, last = [first], sum(len(i.crops) for i in first.inputs), False
        while faces < MAX_FACES:
            try:
                more = requests.get_nowait()
            except queue.Empty:
                break
            if more is None:
                last = True
                break
            gathered.append(more)
            faces += sum(len(i.crops) for i in more.inputs)
        try:
            raw = scorer.read([i for r in gathered for i in r.inputs])
        except Exception as e:  # noqa: BLE001 - each waiting worker gets it as one line
            for r in gathered:
                replies[r.slot].put((r.token, f"{type(e).__name__}: {e}"))
            continue
        start = 0
        for r in gathered:
            n = sum(len(i.crops) for i in r.inputs)
            replies[r.slot].put((r.token, raw[start:start + n]))
            start += n
        if last:
            return


_client: ModelClient | None = None  # set in a worker process that reads faces through a server


def use(client: ModelClient | None) -> None:
    global _client
    _client = client


def scorer_for(model_dir: str, device: str, baseline: str = "auto", reads: bool = True):
    """The FaceScorer a worker uses: reading faces through the shared model when there is one
    (``reads=False``: it only scores what others read)."""
    from .model.scorer import FaceScorer

    if _client is None or not reads:
        return FaceScorer(Path(model_dir), device, baseline, reads=reads)
    return FaceScorer(Path(model_dir), "cpu", baseline, reader=_client)
