"""The caption editor's model: a draft per face and frame, undo/redo, and accepting into the store.

Kept free of Qt so it can be driven and tested headless; the studio's editor widget only shows a
`CaptionSession` and forwards keys to it. One history covers everything the annotator does
(label and caption edits, accepts), across faces and frames: undoing a step on another face
returns that face's `Target` so the window can go back there. Unaccepted drafts are kept per
target, so moving away and back never loses typing, and on disk (`core.dataset.drafts`), so
closing the studio does not either.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..export import AU_THRESHOLD
from ..outputs import OutputError
from .drafts import keep_drafts, load_drafts
from .sample import Captions, DatasetSample, captions_for
from .store import DatasetStore


@dataclass(frozen=True)
class Target:
    """A face at a frame of a video: what one sample is taken from."""
    video: str
    frame: int
    face: int
    timestamp: float = field(default=float("nan"), compare=False)


@dataclass(frozen=True)
class Draft:
    emotion: str | None
    aus: tuple[tuple[int, float | None], ...]  # every AU the editor shows: 0, 1, or None (not scorable)
    captions: Captions
    typed: frozenset[str] = frozenset()     # caption levels written by hand (not regenerated)

    def au_dict(self) -> dict[int, float]:
        """The AU labels a sample gets: the AUs marked not scorable are left unlabelled."""
        return {n: v for n, v in self.aus if v is not None}

    def states(self) -> dict[int, float | None]:
        return dict(self.aus)


@dataclass
class _Open:
    """What the editor shows now."""
    target: Target
    crop: np.ndarray
    landmarks: np.ndarray
    generated: Captions
    strengths: dict[int, float]             # model AU probabilities, to word the AU captions
    seed: int


@dataclass
class _Step:
    kind: str                               # "edit" or "accept"
    target: Target
    before: object                          # Draft, or the stored DatasetSample (None: was not stored)
    after: object
    level: str = ""                         # caption level of a typing step (consecutive ones merge)
    draft: Draft | None = None              # an accept step's draft, shown again when it is undone


class CaptionSession:
    def __init__(self, store: DatasetStore | None = None, model_version: str = "", drafts_file: Path | None = None):
        """``drafts_file``: where unaccepted drafts are kept between runs (none: in memory only)."""
        self.store = store
        self.model_version = model_version
        self.current: _Open | None = None
        self.draft: Draft | None = None
        self.drafts_file = drafts_file
        self.drafts, self.note = load_drafts(drafts_file) if drafts_file else ({}, None)  # unaccepted edits, per target
        self._changed: set[Target] = set()  # drafts edited or ended here since they were last written
        self.history: list[_Step] = []
        self.position = 0                            # steps before this are done; after it, redoable

    # opening a face ------------------------------------------------------------------------------
    def open(self, target: Target, crop: np.ndarray, landmarks: np.ndarray, model_aus: dict[int, float],
             model_emotion: dict[str, float]) -> Draft:
        """Show a face: its unsaved draft if there is one, else its stored sample, else the model's
        reading of it (AUs at or above the CSV threshold on, the top emotion chosen)."""
        stored = self.store.find(target.video, target.frame, target.face, with_crop=False) if self.store else None
        readable = {e: p for e, p in model_emotion.items() if p == p}
        emotion = max(readable, key=readable.get) if readable else None
        # an AU the model could not read (covered, NaN) starts not scorable, never as "absent"
        aus = tuple((n, None if p != p else 1.0 if p >= AU_THRESHOLD else 0.0) for n, p in sorted(model_aus.items()))
        seed = target.frame
        generated = stored.generated if stored else captions_for({n: v for n, v in aus if v is not None}, emotion,
                                                                 model_aus, seed)
        self.current = _Open(target, crop, landmarks, generated, dict(model_aus), seed)
        if target in self.drafts:
            self.draft = self.drafts[target]
        elif stored:
            labels = {**{n: None for n, _ in aus}, **stored.aus}  # what the sample left unlabelled stays so
            self.draft = Draft(stored.emotion, tuple(sorted(labels.items())), stored.captions)
            self.draft = replace(self.draft, typed=self._typed(self.draft))
        else:
            self.draft = Draft(emotion, aus, generated)
        return self.draft

    def close(self) -> None:
        self.current, self.draft = None, None

    def use_store(self, store: DatasetStore | None) -> None:
        """Save into another dataset from now on. The history's accepts went into the one before,
        where undoing or redoing them belongs, so the history starts again; drafts stay."""
        self.store = store
        self.history.clear()
        self.position = 0

    def changed_elsewhere(self, target: Target) -> None:
        """``target``'s sample was edited or deleted outside the session (the dataset browser):
        its draft gives way to what is stored, and the steps that accepted it, which would undo
        or redo over that change, leave the history. Other faces' drafts and steps stay."""
        gone = [step.kind == "accept" and step.target == target for step in self.history]
        self.position -= sum(gone[:self.position])
        self.history = [step for step, g in zip(self.history, gone) if not g]
        self._drop_draft(target)
        if self.current is not None and self.current.target == target:
            self.close()

    def _typed(self, draft: Draft) -> frozenset[str]:
        auto = captions_for(draft.au_dict(), draft.emotion, self.current.strengths, self.current.seed)
        return frozenset(level for level in Captions.LEVELS
                         if getattr(draft.captions, level) != getattr(auto, level))

    def _with_labels(self, draft: Draft, emotion: str | None, aus: dict[int, float | None]) -> Draft:
        """The draft with new labels; caption levels not written by hand follow the labels."""
        draft = replace(draft, emotion=emotion, aus=tuple(sorted(aus.items())))
        auto = captions_for(draft.au_dict(), emotion, self.current.strengths, self.current.seed)
        kept = {level: getattr(draft.captions if level in draft.typed else auto, level) for level in Captions.LEVELS}
        return replace(draft, captions=Captions(**kept))

    # edits -------------------------------------------------------------------------------------
    def set_emotion(self, emotion: str | None) -> Draft:
        return self._edit(self._with_labels(self.draft, emotion, self.draft.states()))

    def set_au(self, number: int, value: float | None) -> Draft:
        """Label an AU present (1), absent (0), or not scorable here (None: left unlabelled)."""
        return self.set_aus({number: value})

    def set_aus(self, values: dict[int, float | None]) -> Draft:
        """Several AU labels in one undo step."""
        return self._edit(self._with_labels(self.draft, self.draft.emotion, {**self.draft.states(), **values}))

    def set_caption(self, level: str, text: str) -> Draft:
        """Typing into one caption level; consecutive typing in a level is one undo step."""
        if getattr(self.draft.captions, level) == text:
            return self.draft
        new = replace(self.draft, captions=replace(self.draft.captions, **{level: text}),
                      typed=self.draft.typed | {level})
        return self._edit(new, level)

    def reset_caption(self, level: str) -> Draft:
        """Hand a caption level back to the labels (undoes nothing else)."""
        draft = replace(self.draft, typed=self.draft.typed - {level})
        return self._edit(self._with_labels(draft, draft.emotion, draft.states()))

    def _edit(self, new: Draft, level: str = "") -> Draft:
        if new == self.draft:
            return new
        target = self.current.target
        last = self.history[-1] if self.history and self.position == len(self.history) else None
        del self.history[self.position:]
        if level and last and last.kind == "edit" and last.level == level and last.target == target:
            last.after = new
        else:
            self.history.append(_Step("edit", target, self.draft, new, level))
            self.position = len(self.history)
        self._set(target, new)
        return new

    def _set(self, target: Target, draft: Draft) -> None:
        self.drafts[target] = draft
        self._changed.add(target)
        if self.current and self.current.target == target:
            self.draft = draft
        self._keep()

    def _drop_draft(self, target: Target) -> None:
        self._changed.add(target)
        if self.drafts.pop(target, None) is not None:
            self._keep()

    def _keep(self) -> None:
        """The drafts to disk, whole, after each change."""
        if self.drafts_file is not None:
            try:
                keep_drafts(self.drafts_file, self.drafts, self._changed)
            except (OutputError, OSError) as e:  # kept in memory (and written with the next change); said
                self.note = f"unsaved caption drafts could not be written: {e}"

    # accepting -----------------------------------------------------------------------------------
    def accept(self) -> DatasetSample:
        """Save the draft as a sample (a new one, or the stored one updated); durable on return."""
        if self.store is None:
            raise InputError("no dataset folder chosen: choose one to save samples into")
        cur, draft = self.current, self.draft
        before = self.store.find(cur.target.video, cur.target.frame, cur.target.face, with_crop=False)
        if before is None:
            sample = DatasetSample(cur.crop, cur.landmarks, draft.emotion, draft.au_dict(), draft.captions,
                                   cur.generated, cur.target.video, cur.target.frame, cur.target.timestamp,
                                   cur.target.face, self.model_version)
            sample = self.store.add(sample)
        else:
            sample = self.store.update(replace(before, emotion=draft.emotion, aus=draft.au_dict(),
                                               captions=draft.captions))
        del self.history[self.position:]
        self.history.append(_Step("accept", cur.target, before, sample, draft=draft))
        self.position = len(self.history)
        self._drop_draft(cur.target)
        return sample

    def is_saved(self) -> bool:
        """The face on show is in the dataset with exactly the labels and captions shown."""
        if self.store is None or self.current is None:
            return False
        t = self.current.target
        s = self.store.find(t.video, t.frame, t.face, with_crop=False)
        return s is not None and (s.emotion, s.aus, s.captions) == (self.draft.emotion, self.draft.au_dict(),
                                                                     self.draft.captions)

    # undo / redo ---------------------------------------------------------------------------------
    def can_undo(self) -> bool:
        return self.position > 0

    def can_redo(self) -> bool:
        return self.position < len(self.history)

    def undo(self) -> Target | None:
        """Undo the last step; returns the target it concerned (None when there is nothing to undo)."""
        if not self.can_undo():
            return None
        step = self.history[self.position - 1]
        if step.kind == "edit":
            self._set(step.target, step.before)
        else:
            try:
                if step.before is None:
                    self.store.delete(step.after.id)
                else:
                    self.store.update(step.before)
            except InputError:  # changed elsewhere: this step can no longer be undone, the ones before can
                del self.history[self.position - 1]
                self.position -= 1
                raise
            self._set(step.target, step.draft)
        self.position -= 1
        return step.target

    def redo(self) -> Target | None:
        if not self.can_redo():
            return None
        step = self.history[self.position]
        if step.kind == "edit":
            self._set(step.target, step.after)
        else:
            try:
                if step.before is None:
                    self.store.add(step.after)
                else:
                    self.store.update(step.after)
            except InputError:
                del self.history[self.position:]  # what came after it was done on top of it
                raise
            self._drop_draft(step.target)
            if self.current and self.current.target == step.target:
                self.draft = step.draft
        self.position += 1
        return step.target
