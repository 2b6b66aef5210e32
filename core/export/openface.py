"""Per-frame CSV in the layout of OpenFace 2.x, which clinicians' analysis scripts already read.

Compatibility details copied from real OpenFace output: the header separates names with
``", "`` (scripts strip the spaces or read with ``skipinitialspace``), values with ``","``;
``frame`` counts from 1; ``pose_R*`` are radians; ``x_0..x_67``/``y_0..y_67`` are the 68 iBUG
landmarks in pixels; a frame without a face gets one row with ``success=0``, ``face_id=-1`` and
zeros, as OpenFace writes it. AU and emotion columns appear only when a model produced them.
One column is ours, right after ``face_id``: ``person``, who the face is across tracks
(core.faces.people; -1 where no face, or in photos, which are not matched); with a model three
more end each row: the face's ``quality``, the ``baseline`` its AU readings are relative to and the
``model`` version that read it. Readers that take columns by name skip them.
"""
from __future__ import annotations

from pathlib import Path

from ..faces import Face
from ..outputs import AtomicOutput

N_POINTS = 68
AU_THRESHOLD = 0.5  # reported probability at which an AU counts as present (per-AU thresholds are applied before)


def openface_columns(au_columns: tuple[str, ...] = (), emotions: tuple[str, ...] = (), baseline: bool = False
                     ) -> list[str]:
    """Header names. ``au_columns`` are stems like ``AU01``; ``emotions`` become ``emotion_<name>``;
    ``baseline`` adds the face's ``quality`` (core.faces.quality), the column naming what the AU
    readings are relative to and the one naming the model version."""
    return (["frame", "face_id", "person", "timestamp", "confidence", "success", "pose_Rx", "pose_Ry", "pose_Rz"]
            + [f"x_{i}" for i in range(N_POINTS)] + [f"y_{i}" for i in range(N_POINTS)]
            + [f"{au}_r" for au in au_columns] + [f"{au}_c" for au in au_columns]
            + [f"emotion_{e}" for e in emotions] + (["quality", "baseline", "model"] if baseline else []))


def model_values(au: dict[int, float], emotion: dict[str, float], aus: tuple[int, ...],
                 emotions: tuple[str, ...], quality: float) -> list[float]:
    """One face's model columns in OpenFace order: AUxx_r (0..5: the occurrence probability on
    OpenFace's intensity scale, as no intensity labels exist), AUxx_c, the emotions, then the
    face's quality. The probabilities come already shifted by the model's per-AU thresholds, so
    0.5 decides; NaN (an AU that cannot be read) is written as an empty cell, in both columns."""
    p = [au[n] for n in aus]
    return ([5 * v for v in p] + [float(v >= AU_THRESHOLD) if v == v else v for v in p]
            + [emotion[e] for e in emotions] + [quality])


class OpenFaceWriter:
    """Writes rows to ``path`` through `AtomicOutput`: the CSV appears complete on `close` or not
    at all, and an earlier CSV under the name is kept until then (OutputError on any failure)."""

    def __init__(self, path: Path, au_columns: tuple[str, ...] = (), emotions: tuple[str, ...] = (),
                 baseline: str | None = None, model: str = ""):
        """``baseline``: the person-baseline mode (``auto``, ``none``, ``START-END``) and ``model``:
        the model version, written in the last columns of every row, so that a CSV says what its AU
        readings are relative to and which model's figures (core.validation) apply to them."""
        self.path = Path(path)
        self._out = AtomicOutput(self.path)
        self._n_extra = 2 * len(au_columns) + len(emotions) + (baseline is not None)
        self._model = model.replace(",", " ")
        self._tail = f",{baseline},{self._model}" if baseline is not None else ""
        try:
            self._out.write(", ".join(openface_columns(au_columns, emotions, baseline is not None)) + "\n")
        except BaseException:
            self._out.discard()
            raise

    def write(self, frame_index: int, timestamp: float, faces: list[Face], extra: list[list[float]] | None = None,
              baselines: list[str | None] | None = None):
        """One row per face (``extra[i]``: that face's AU r, AU c and emotion values; ``baselines[i]``,
        where not None, what its readings are relative to instead of the file's baseline), or a
        ``success=0`` row when ``faces`` is empty."""
        head = f"{frame_index + 1},"
        ts = f"{timestamp:.3f}"
        if not faces:
            zeros = ",".join(["0"] * (3 + 2 * N_POINTS + self._n_extra))
            self._out.write(f"{head}-1,-1,{ts},0,0,{zeros}{self._tail}\n")
            return
        for i, face in enumerate(faces):
            rx, ry, rz = face.pose.radians()
            pts = face.points68
            values = [f"{rx:.4f}", f"{ry:.4f}", f"{rz:.4f}"]
            values += [f"{v:.1f}" for v in pts[:, 0]] + [f"{v:.1f}" for v in pts[:, 1]]
            if extra is not None:
                values += ["" if v != v else f"{v:.4g}" for v in extra[i]]
            tail = self._tail if not baselines or baselines[i] is None else f",{baselines[i]},{self._model}"
            self._out.write(f"{head}{face.track_id},{face.person},{ts},{face.confidence:.3f},1,"
                            + ",".join(values) + tail + "\n")

    def close(self) -> None:
        """Finish the file and move it to its final name."""
        self._out.commit()

    def discard(self) -> None:
        self._out.discard()
