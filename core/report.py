"""A session report: one HTML file a clinician reads, prints and files with the session.

Self-contained: the plots are PNG images inside the file (base64), the styles are in it, and it
links to nothing outside (no network, no scripts). It holds a header (source file, when the report
was made, the recording's length, the people, the model and software versions, the baseline
mode), a short note on how to read it, the segments, per person the emotion time courses (each
emotion's probability over time, lightly smoothed, the segments shaded and named), the AU
occurrence bars (the whole recording and each segment side by side) and a table comparing the
segments, and last the statistics of `core.stats` for every person and segment.

Plots are drawn with matplotlib's ``Figure`` and its Agg canvas, never through pyplot, so no GUI
backend (and no Qt) is ever chosen. Long recordings are averaged into at most `MAX_POINTS`
points per curve before drawing: an hour at 30 fps is drawn as fast as a minute.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

from .errors import InputError
from .outputs import AtomicOutput
from .results import EMOTION_PREFIX, Result, rate_words
from .segments import SEGMENT_COLOURS, Segment
from .stats import MAX_GAP_S, MIN_EPISODE_S, POSE_AXES, WHOLE_RECORDING, RangeStats, Statistics, compute_statistics
from .taxonomy import AU_BY_NUMBER
from .validation import FAIR, FEW, GOOD, Validation, share

PACKAGE = "mf2-studio"
SMOOTH_S = 0.3          # the time courses: a centred moving average over this many seconds
MAX_POINTS = 1500       # ... then averaged into at most this many points per curve
MIN_PLOT_S = 1.0        # people seen for less time get table rows only (the most seen always gets plots)
DPI = 100
WIDTH_IN = 11.0         # plots 1100 pixels wide: the page's width
UNKNOWN = "unknown"
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000)

EMOTION_COLOURS = {"neutral": "#7f7f7f", "happy": "#e69f00", "sad": "#1f77b4", "surprise": "#9467bd",
                   "fear": "#17becf", "disgust": "#2ca02c", "angry": "#d62728", "contempt": "#8c564b"}
OTHER_COLOURS = ("#bcbd22", "#e377c2", "#393b79", "#637939")

WHOLE_COLOUR = "#404040"
POSE_NAMES = {"pitch": "pitch (nodding)", "yaw": "yaw (turning)", "roll": "roll (tilting)"}


def report_column(name: str) -> bool:
    """Whether a report reads the column (`read_result`'s ``keep``): not the landmarks, which are
    most of a file and of the time to read it."""
    return name in ("baseline", "model") or name.startswith(("pose_R", "AU", EMOTION_PREFIX))


def recorded_model(result: Result) -> str | None:
    """The model version the CSV's ``model`` column names (None: a CSV without one, as `mf2 analyze`
    wrote before 2026-12-02 and OpenFace writes, or one that names several)."""
    names = {m for m in result.column("model").tolist() if m} if "model" in result else set()
    return names.pop() if len(names) == 1 else None


def model_version(folder: Path) -> str:
    """The ``version`` in a model folder's ``config.json``; InputError (one line naming the file)
    when there is none to read."""
    config = Path(folder) / "config.json"
    if not Path(folder).is_dir():
        raise InputError(f"{folder}: no such model folder")
    try:
        data = json.loads(config.read_bytes())
    except OSError as e:
        raise InputError(f"{config}: cannot read it ({e.strerror or e})") from None
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise InputError(f"{config}: not valid JSON ({e})") from None
    version = data.get("version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not version.strip():
        raise InputError(f"{config}: no \"version\" string in it")
    return version.strip()


def software_version() -> str:
    """The installed MF² Studio's version (package metadata), or `UNKNOWN`."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return UNKNOWN


def write_report(result: Result, path: Path, segments: Sequence[Segment] = (), model_version: str | None = None,
                 made: datetime | None = None, stats: Statistics | None = None,
                 validation: Validation | None = None) -> None:
    """Write the report of ``result`` to ``path``, complete or not at all (OutputError, one line,
    on failure). ``model_version``: the model that wrote the CSV (`recorded_model`, or the
    version of a folder the user names for an older CSV; None: shown as unknown); ``made``: the
    time to print (default now); ``stats``: the figures when the caller has them already
    (`compute_statistics` of the same segments);
    ``validation``: the check figures of the model (`core.validation`), shown where they are that
    model's."""
    text = render_report(result, segments, model_version, made, stats, validation)
    out = AtomicOutput(path)
    try:
        out.write(text)
    except BaseException:
        out.discard()
        raise
    out.commit()


def render_report(result: Result, segments: Sequence[Segment] = (), model_version: str | None = None,
                  made: datetime | None = None, stats: Statistics | None = None,
                  validation: Validation | None = None) -> str:
    """The report as HTML text (see `write_report`)."""
    segments = list(segments)
    stats = stats or compute_statistics(result, segments)
    names = list(dict.fromkeys(s.name for s in segments))
    colours = {name: SEGMENT_COLOURS[i % len(SEGMENT_COLOURS)] for i, name in enumerate(names)}
    made = made or datetime.now().astimezone()
    plotted = [p for i, p in enumerate(stats.people) if i == 0 or stats.get(p).seconds >= MIN_PLOT_S]

    parts = [_HEAD.replace("{title}", _e(f"Session report: {result.path.name}")),
             f"<h1>Facial behaviour session report</h1>\n<p class=sub>{_e(result.path.name)}</p>",
             _facts(result, stats, model_version, made)]
    own = validation if validation is not None and validation.model == model_version else None
    trust = _trust_section(stats, model_version, own, _baseline_modes(result)) if stats.people else ""
    unsure = _unsure(stats, own)
    if stats.people:
        parts.append(_contents(stats, names, bool(trust)))
    parts.append(_how_to_read(result, stats))
    if trust:
        parts.append(trust)
    if segments:
        parts.append(_segments_section(result, segments, colours))
    if not stats.people:
        parts.append("<h2>People</h2>\n<p>No face was found in any analysed frame: there is nothing to report.</p>")
    for i, person in enumerate(stats.people):
        parts.append(_person_section(result, stats, person, i, names, colours, person in plotted, unsure))
    if stats.people:
        parts.append(_statistics_section(result, stats, names))
    parts.append(f"<footer>Made by MF² Studio {_e(software_version())} on {_e(_when(made))} from "
                 f"{_e(str(result.path.absolute()))}. Automatic readings of visible facial behaviour; not a diagnosis."
                 "</footer>\n</body>\n</html>\n")
    return "\n".join(parts)


# --- header and notes -----------------------------------------------------------------------

def _facts(result: Result, stats: Statistics, model: str | None, made: datetime) -> str:
    people = ", ".join(f"{_e(p)} ({_duration(stats.get(p).seconds)}, {_pct(stats.get(p).face_share)} of frames)"
                       for p in stats.people) or "none (no face found)"
    fps = rate_words(result.fps, result.every)
    rows = [("Source file", _e(str(result.path.absolute()))),
            ("Report made", _e(_when(made))),
            ("Recording", f"{_duration(result.duration)} ({_clock(result.duration)}), "
                          f"{len(result.frames)} analysed frames{fps}"),
            ("People", people),
            ("Model version", _e(model) if model else
             f"{UNKNOWN} <span class=note>(the CSV does not record it; <code>mf2 report --model DIR</code> "
             "names the model folder that wrote it)</span>"),
            ("Baseline", _baseline(result)),
            ("Software", f"MF² Studio {_e(software_version())}")]
    body = "\n".join(f"<tr><th scope=row>{k}</th><td data-key=\"{_e(k.lower())}\">{v}</td></tr>" for k, v in rows)
    return f"<table class=facts>\n{body}\n</table>"


def _baseline(result: Result) -> str:
    """The ``baseline`` column's modes, in words."""
    if "baseline" not in result:
        return "not recorded <span class=note>(not a CSV of <code>mf2 analyze</code>)</span>"
    modes = _baseline_modes(result)
    words = {"auto": "each person's neutral face, estimated as the video goes",
             "none": "the population's neutral face (no personal baseline)"}
    shown = []
    for mode in modes or [""]:
        if mode in words:
            shown.append(f"<code>{_e(mode)}</code>: {words[mode]}")
        elif mode:
            shown.append(f"<code>{_e(mode)}</code>: each person's face in the neutral segment {_e(mode)} s")
        else:
            shown.append("not recorded")
    return "; ".join(shown)


def _baseline_modes(result: Result) -> list[str]:
    """The ``baseline`` column's distinct modes, in order (none without the column)."""
    return [m for m in dict.fromkeys(result.column("baseline").tolist()) if m] if "baseline" in result else []


def _contents(stats: Statistics, names: list[str], trust: bool) -> str:
    items = [("how", "How to read this report")] + ([("trust", "How far each AU holds")] if trust else [])
    items += [("segments", "Segments")] if names else []
    items += [(_anchor(i), p) for i, p in enumerate(stats.people)] + [("statistics", "Statistics, all people")]
    return "<nav><b>Contents:</b> " + " · ".join(f"<a href=\"#{a}\">{_e(t)}</a>" for a, t in items) + "</nav>"


def _how_to_read(result: Result, stats: Statistics) -> str:
    per_point = _points_seconds(result)
    smoothing = f"averaged over {SMOOTH_S:g} s" + (f" and drawn as one point per {per_point:.1f} s"
                                                    if per_point > SMOOTH_S else "")
    reader = "the MF² model" if "baseline" in result else \
        "the program that wrote the CSV (not MF²: it has none of the columns MF² writes, as OpenFace's files have not)"
    return f"""<section id=how>
<h2>How to read this report</h2>
<p>Every analysed video frame was read by {reader}. For each face it gives a probability for each
emotion expression (together they sum to 1) and for each Action Unit (AU), a facial muscle movement
of the Facial Action Coding System (FACS). An AU counts as <i>present</i> at a probability of 0.5 or
more. Empty readings (the face turned away, blurred, or the AU's region covered) are left out of
every figure, never counted as absent. These are automatic readings of visible behaviour: emotion
names describe expressions, not what the person felt, and nothing here is a diagnosis.</p>
<dl>
<dt>Segments</dt><dd>Your named parts of the session. A frame belongs to a segment when its time is
from the segment's start up to (not including) its end; segments with the same name are pooled.</dd>
<dt>Emotion time course</dt><dd>Each emotion's probability over time, {smoothing}. Gaps: the face
is not in view or not readable. Shaded bands: the segments.</dd>
<dt>Face time</dt><dd>The analysed frames showing the person's face (count and share of the range's
frames), and the time they stand for (each frame until the next analysed one).</dd>
<dt>Emotion share</dt><dd>The share of face time in which that emotion had the highest
probability (the <i>top emotion</i>).</dd>
<dt>AU occurrence</dt><dd>The share of face frames with the AU present.</dd>
<dt>Expression episodes</dt><dd>A non-neutral top emotion held for at least {MIN_EPISODE_S:g} s
(interruptions of up to {MAX_GAP_S:g} s are bridged); the count and the mean length.</dd>
<dt>Blinks per minute</dt><dd>Blink onsets (AU45 starting) per minute of face time.</dd>
<dt>Head-pose range</dt><dd>How far the head moved: the span of the angle from its 5th to its 95th
percentile over the face frames, in degrees, for pitch (nodding), yaw (turning) and roll (tilting).
</dd>
<dt>Baseline</dt><dd>What AU readings are relative to: the person's own resting face (auto, or a
neutral segment) or an average face (none).</dd>
<dt>–</dt><dd>Cannot be computed: no face frames in the range, or no such reading in the file.</dd>
</dl>
</section>"""


def _au_stems(stats: Statistics) -> list[str]:
    """The report's AU columns (``AU01``...), in order of first appearance."""
    return [au for au in dict.fromkeys(au for p in stats.people for au in stats.get(p).au_occurrence)
            if au[2:].isdigit()]


def _trust_section(stats: Statistics, model: str | None, validation: Validation | None,
                   baselines: Sequence[str] = ()) -> str:
    """Each AU of the report with how far the model's readings of it held on real video
    (``validation``: that model's own check, None where it has none); a note where the recording
    was read against another baseline than the check's (``auto``)."""
    stems = _au_stems(stats)
    if not stems:  # faces only: no AU readings to hold
        return ""
    head = "<section id=trust>\n<h2>How far each AU holds on real video</h2>"
    if model is None:
        return (f"{head}\n<p>The model that wrote these readings is not known, so neither is how far its AU readings "
                "hold: <code>mf2 report --model DIR</code> names its folder.</p>\n</section>")
    if validation is None:
        return (f"{head}\n<p>The model that wrote these readings ({_e(model)}) comes with no check of its own on "
                "real video (fine-tuned weights are a model of their own): read its AUs with the care an unchecked "
                "measure needs.</p>\n</section>")
    rows = []
    for stem in stems:
        number = int(stem[2:])
        check = validation.check(number)
        rating = check.rating + (f"; read on {check.at_rest:.0%} of resting faces" if check.lit_at_rest else "")
        flagged = not validation.held(number)
        counts = f"{check.present} / {check.absent}" if check.labelled else "–"
        name = AU_BY_NUMBER[number].name.lower() if number in AU_BY_NUMBER else ""
        rows.append(f"<tr data-au={_au(stem)}><th scope=row>{_au(stem)} <span class=note>{_e(name)}</span></th>"
                    f"<td data-key=rating{' class=warn' if flagged else ''}>{_e(rating)}</td>"
                    f"<td data-key=f1 class=num>{_number(check.f1, 2)}</td>"
                    f"<td data-key=false_alarms class=num>{_pct(check.false_alarms)}</td>"
                    f"<td data-key=frames class=num>{counts}</td><td data-key=at_rest class=num>{_pct(check.at_rest)}</td></tr>")
    return f"""{head}
<p>The model's own check ({_e(model)}): {validation.frames} video frames of {validation.people} people whose frames no AU setting or
weight of it was trained on, on which {_e(", ".join(f"AU{n}" for n, c in sorted(validation.aus.items()) if c.labelled))} were
judged by eye, each against the person's own neutral face (where they could be judged), and separately
{validation.rest_frames} frames of the same people judged to show a face at rest, with no facial action.
<b>F1</b>: how well the AU is found where it shows (1 is perfect).
<b>False alarms</b>: the share of frames without the AU that read it as present. <b>Read at rest</b>: the
share of resting faces it is read on. <b>Good</b>: F1 at least {GOOD[0]:g} with at most {_pct(GOOD[1])} false
alarms; <b>fair</b>: F1 at least {FAIR[0]:g}, at most {_pct(FAIR[1])}; <b>weak</b>: less; <b>too few
examples</b>: under {FEW} labelled frames show it; <b>not checked</b>: nobody labelled it on video, so its
figures in this report are unverified. Few people were labelled: these are rough guides, not a validation
for your setting.{_other_baseline(baselines)}</p>
<table class="grid trust">
<thead><tr><th>AU</th><th>on real video</th><th>F1</th><th>false alarms</th><th>frames with / without it</th>
<th>read at rest</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
{_emotion_check(validation)}
</section>"""


def _other_baseline(modes: Sequence[str]) -> str:
    other = ["the population's neutral face (none)" if m == "none" else f"the neutral segment {m} s"
             for m in modes if m != "auto"]
    if not other:
        return ""
    return (" <b>Note:</b> the check read each face against the person's own neutral face estimated as the "
            f"video goes (auto); this recording was read against {_e(' and '.join(other))}, so its AU readings "
            "may hold differently.")


def _emotion_check(validation: Validation) -> str:
    """The emotions of the check: where one was obvious by eye, how often it was the model's top emotion."""
    judged = {e: nm for e, nm in validation.emotions.items() if nm[0]}
    if not judged:
        return "<p>Emotions: not checked on real video.</p>"
    counts = ", ".join(f"{_e(e)}: {m} of {n} frames" for e, (n, m) in judged.items())
    return (f"<p data-key=emotions>Emotions: on the {sum(n for n, _ in judged.values())} frames of these people "
            f"where one emotion was obvious by eye, the model's top emotion was that one ({counts}). The other "
            "emotions did not show clearly in these clips and are not checked on real video.</p>")


def _segments_section(result: Result, segments: list[Segment], colours: dict[str, str]) -> str:
    rows = []
    for s in segments:
        frames = int(((result.frame_times >= s.start - 1e-6) & (result.frame_times < s.end - 1e-6)).sum())
        rows.append(f"<tr data-segment=\"{_e(s.name)}\"><td>{_swatch(colours[s.name])}{_e(s.name)}</td>"
                    f"<td class=num>{_clock(s.start)}</td><td class=num>{_clock(s.end)}</td>"
                    f"<td class=num>{_duration(s.end - s.start)}</td><td class=num>{frames}</td></tr>")
    return ("<section id=segments>\n<h2>Segments</h2>\n<table class=grid>\n<thead><tr><th>Segment</th><th>From</th>"
            "<th>To</th><th>Length</th><th>Analysed frames</th></tr></thead>\n<tbody>\n" + "\n".join(rows)
            + "\n</tbody>\n</table>\n</section>")


# --- one person -----------------------------------------------------------------------------

def _person_section(result: Result, stats: Statistics, person: str, index: int, names: list[str],
                    colours: dict[str, str], plots: bool, unsure: set[str]) -> str:
    whole = stats.get(person)
    ranked = sorted(((v, e) for e, v in whole.emotion_share.items() if v), key=lambda ve: -ve[0])
    summary = (f"Face in {whole.face_frames} of {whole.frames} analysed frames ({_pct(whole.face_share)}), "
               f"{_duration(whole.seconds)}."
               + (" Most of the face time: " + ", ".join(f"{_e(e)} {_pct(v)}" for v, e in ranked[:3]) + "."
                  if ranked else ""))
    parts = [f"<section id={_anchor(index)} class=person>", f"<h2>{_e(person)}</h2>", f"<p>{summary}</p>"]
    if plots:
        if result.emotions:
            parts += ["<h3>Emotion time course</h3>",
                      _figure(_emotion_figure(result, person, stats.segments, colours),
                              f"Emotion probabilities of {person} over time")]
        else:
            parts.append("<p class=note>The file has no emotion columns: no time course.</p>")
        if whole.au_occurrence:
            title = "AU occurrence" + (", whole recording and each segment" if names else "")
            parts += [f"<h3>{title}</h3>",
                      _figure(_au_figure(stats, person, names, colours, unsure), f"AU occurrence of {person}"),
                      _au_legend(whole, unsure)]
    else:
        parts.append(f"<p class=note>Seen for under {MIN_PLOT_S:g} s: figures in the tables only.</p>")
    if names:
        parts += ["<h3>Segment comparison</h3>", _comparison_table(stats, person, names, colours)]
    parts.append("</section>")
    return "\n".join(parts)


def _emotion_figure(result: Result, person: str, segments: Sequence[Segment], colours: dict[str, str]) -> Figure:
    positions, rows = result.face_rows(person)
    times = result.frame_times
    start = float(times[0])
    end = float(times[-1] + result.frame_durations[-1]) if len(times) else start + 1
    end = end if end > start else start + 1
    window = max(1, int(round(SMOOTH_S / result.step))) if result.step > 0 else 1
    bins = _bins(len(times))
    curves = []
    for emotion in result.emotions:
        values = np.full(len(times), np.nan)
        values[positions] = result.column(f"emotion_{emotion}")[rows]
        curves.append(_binned(_smoothed(values, window), bins))
    t = _binned(times + result.frame_durations / 2, bins)
    # segment names above the top lane, where the band is wide enough to hold one; else a key
    shown = [(s, max(s.start, start), min(s.end, end)) for s in segments if min(s.end, end) > max(s.start, start)]
    named = [(s, a, b) for s, a, b in shown if b - a >= max(0.035, 0.009 * len(s.name)) * (end - start)]
    key_rows = math.ceil(len(colours) / 6) if len(named) < len(shown) else 0
    above = 0.15 + (0.2 if shown else 0) + 0.2 * key_rows  # inches

    n = len(result.emotions)
    height = 0.62 * n + 0.6 + above
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    fig.subplots_adjust(left=0.085, right=0.965, top=1 - above / height, bottom=0.45 / height, hspace=0.18)
    for ax, emotion, values in zip(axes, result.emotions, curves):
        colour = _emotion_colour(emotion, result.emotions)
        for s in segments:
            ax.axvspan(s.start, s.end, color=colours[s.name], alpha=0.16, lw=0)
        ax.fill_between(t, 0, values, color=colour, alpha=0.35, lw=0)
        ax.plot(t, values, color=colour, lw=1.1)
        ax.set_ylim(0, 1.02)
        ax.set_yticks([0, 0.5, 1])
        ax.set_yticklabels(["0", "", "1"], fontsize=7)
        ax.grid(axis="y", color="#dddddd", lw=0.5)
        ax.set_ylabel(emotion, rotation=0, ha="right", va="center", fontsize=9, color=colour)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlim(start, end)
    _time_axis(axes[-1], start, end)
    top = axes[0]
    for s, left, right in named:
        top.text((left + right) / 2, 1.06, s.name, transform=top.get_xaxis_transform(), ha="center",
                 va="bottom", fontsize=9, color=colours[s.name], fontweight="bold", clip_on=False)
    if key_rows:
        top.legend(handles=[Patch(color=c, alpha=0.35, label=name) for name, c in colours.items()],
                   loc="lower right", bbox_to_anchor=(1.0, 1.4), ncol=min(len(colours), 6), fontsize=8,
                   frameon=False, title=None, handlelength=1.2, borderaxespad=0)
    return fig


def _time_axis(ax, start: float, end: float) -> None:
    """Ticks at a round step (at most 12 of them): seconds under a minute, else min:s or h:min:s."""
    step = next((s for s in TICK_STEPS if (end - start) / s <= 12), TICK_STEPS[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    if end < 60:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.{0 if step >= 1 else 1}f}"))
        label = "time (s)"
    else:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: _clock(x, short=True)))
        label = "time (h:min:s)" if end >= 3599.5 else "time (min:s)"
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(label, fontsize=8)


def _unsure(stats: Statistics, validation: Validation | None) -> set[str]:
    """The AU columns (stems) whose readings the model's own check (``validation``) did not find
    good or fair on real video: marked † beside their figures. None marked without a check."""
    if validation is None:
        return set()
    return {au for au in _au_stems(stats) if not validation.held(int(au[2:]))}


def _au_figure(stats: Statistics, person: str, names: list[str], colours: dict[str, str],
               unsure: set[str] = frozenset()) -> Figure:
    ranges = [stats.get(person, name) for name in [WHOLE_RECORDING, *names]]
    aus = list(ranges[0].au_occurrence)
    fig = Figure(figsize=(WIDTH_IN, 3.0), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.06, right=0.965, top=0.84 if names else 0.95, bottom=0.14)
    width = 0.8 / len(ranges)
    x = np.arange(len(aus))
    for i, r in enumerate(ranges):
        values = [np.nan if r.au_occurrence.get(au) is None else r.au_occurrence[au] for au in aus]
        colour = WHOLE_COLOUR if r.segment == WHOLE_RECORDING else colours[r.segment]
        ax.bar(x - 0.4 + width * (i + 0.5), values, width * 0.92, color=colour, label=r.segment,
               alpha=0.85 if r.segment == WHOLE_RECORDING else 0.9)
    ax.set_xticks(x)
    ax.set_xticklabels([_au(au) + ("†" if au in unsure else "") for au in aus], fontsize=8)
    for label, au in zip(ax.get_xticklabels(), aus):
        if au in unsure:
            label.set_color("#8a8a8a")
    ax.set_xlim(-0.6, len(aus) - 0.4)
    ax.set_ylim(0, 1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylabel("frames with the AU present", fontsize=8)
    ax.grid(axis="y", color="#dddddd", lw=0.5)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if names:
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.02), ncol=min(len(ranges), 6), fontsize=8,
                  frameon=False, handlelength=1.2, borderaxespad=0)
    return fig


def _au_legend(whole: RangeStats, unsure: set[str] = frozenset()) -> str:
    named = [f"{_au(au)}{'†' if au in unsure else ''} {AU_BY_NUMBER[int(au[2:])].name.lower()}"
             for au in whole.au_occurrence if int(au[2:]) in AU_BY_NUMBER]
    note = (" † Weak, too few examples or not checked on real video: see <a href=\"#trust\">How far each AU "
            "holds</a>." if unsure & set(whole.au_occurrence) else "")
    return f"<p class=legend>{_e(', '.join(named))}.{note}</p>" if named else ""


def _comparison_table(stats: Statistics, person: str, names: list[str], colours: dict[str, str]) -> str:
    """Measures down, the whole recording and each segment across, for one person."""
    ranges = [stats.get(person, name) for name in [WHOLE_RECORDING, *names]]
    head = "".join(f"<th>{'' if r.segment == WHOLE_RECORDING else _swatch(colours[r.segment])}"
                   f"{_e(r.segment)}</th>" for r in ranges)
    rows: list[tuple[str, list[str]]] = [
        ("Face frames", [f"{r.face_frames} / {r.frames}" for r in ranges]),
        ("Face share", [_pct(r.face_share) for r in ranges]),
        ("Face time", [_duration(r.seconds) for r in ranges])]
    for emotion in ranges[0].emotion_share:
        rows.append((f"{emotion}, share of face time", [_pct(r.emotion_share.get(emotion)) for r in ranges]))
    rows.append(("Expression episodes", [_episode_count(r) for r in ranges]))
    rows.append(("Blinks per minute", [_number(r.blinks_per_minute, 1) for r in ranges]))
    for axis, _ in POSE_AXES:
        if axis in ranges[0].head_pose_range:
            rows.append((f"Head {POSE_NAMES[axis]}, range (°)", [_number(r.head_pose_range.get(axis), 0)
                                                                 for r in ranges]))
    for au in _aus_shown(ranges):
        rows.append((f"{_au(au)} occurrence", [_pct(r.au_occurrence.get(au)) for r in ranges]))
    body = "\n".join(f"<tr><th scope=row>{_e(label)}</th>" + "".join(f"<td class=num>{v}</td>" for v in values)
                     + "</tr>" for label, values in rows)
    return (f"<div class=wide><table class=\"grid compare\" data-person=\"{_e(person)}\">\n<thead><tr><th></th>{head}"
            f"</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table></div>\n<p class=note>AUs present in 5% of face "
            "frames or more in some column; all AUs are in the statistics below.</p>")


# --- statistics, all people -----------------------------------------------------------------

def _statistics_section(result: Result, stats: Statistics, names: list[str]) -> str:
    """Three tables, one row per person and range each: face time and movement, emotion shares,
    AU occurrence."""
    emotions = list(result.emotions)
    axes = [axis for axis, column in POSE_AXES if column in result]
    head = ("<tr><th rowspan=2>Person</th><th rowspan=2>Segment</th><th colspan=3>Face</th>"
            + ("<th rowspan=2>Expression episodes<br>(count, mean length)</th>" if emotions else "")
            + "<th rowspan=2>Blinks per<br>minute</th>"
            + (f"<th colspan={len(axes)}>Head-pose range (°)</th>" if axes else "") + "</tr>\n"
            + "<tr><th>frames</th><th>share</th><th>time</th>" + "".join(f"<th>{axis}</th>" for axis in axes)
            + "</tr>")
    rows = []
    for r in stats.ranges:
        cells = [("face_frames", f"{r.face_frames} / {r.frames}"), ("face_share", _pct(r.face_share)),
                 ("seconds", _duration(r.seconds))]
        if emotions:
            cells.append(("episodes", _episodes(r)))
        cells.append(("blinks_per_minute", _number(r.blinks_per_minute, 1)))
        cells += [(f"head_pose_range.{axis}", _number(r.head_pose_range.get(axis), 0)) for axis in axes]
        rows.append(_stats_row(r, cells))
    parts = ["<section id=statistics>", "<h2>Statistics, all people and segments</h2>",
             "<p class=note>One row per person and range (the whole recording, then each segment); "
             "definitions above.</p>", "<h3>Face time, expression episodes, blinks and head movement</h3>",
             _stats_table("", head, rows)]
    if emotions:
        head = "<tr><th>Person</th><th>Segment</th>" + "".join(f"<th>{_e(e)}</th>" for e in emotions) + "</tr>"
        rows = [_stats_row(r, [(f"emotion_share.{e}", _pct(r.emotion_share.get(e))) for e in emotions])
                for r in stats.ranges]
        parts += ["<h3>Emotion share of face time (the top emotion)</h3>", _stats_table("", head, rows)]
    aus = list(dict.fromkeys(au for r in stats.ranges for au in r.au_occurrence))
    if aus:
        head = "<tr><th>Person</th><th>Segment</th>" + "".join(f"<th>{_au(au)}</th>" for au in aus) + "</tr>"
        rows = [_stats_row(r, [(f"au_occurrence.{au}", _pct(r.au_occurrence.get(au))) for au in aus])
                for r in stats.ranges]
        parts += ["<h3>AU occurrence (share of face frames with the AU present)</h3>", _stats_table("aus", head, rows)]
    return "\n".join(parts + ["</section>"])


def _stats_table(kind: str, head: str, rows: list[str]) -> str:
    return (f"<div class=wide><table class=\"grid stats {kind}\">\n<thead>\n{head}\n</thead>\n<tbody>\n"
            + "\n".join(rows) + "\n</tbody>\n</table></div>")


def _stats_row(r: RangeStats, cells: list[tuple[str, str]]) -> str:
    return (f"<tr data-person=\"{_e(r.person)}\" data-segment=\"{_e(r.segment)}\"><td class=name>{_e(r.person)}</td>"
            f"<td class=name>{_e(r.segment)}</td>"
            + "".join(f"<td class=num data-key=\"{_e(k)}\">{v}</td>" for k, v in cells) + "</tr>")


def _episodes(r: RangeStats) -> str:
    shown = [f"{_e(e)} {v.count}, {_duration(v.mean_seconds)}" for e, v in r.episodes.items() if v.count]
    if not r.episodes or r.face_frames == 0:
        return "–"
    return "<br>".join(shown) or "none"


def _episode_count(r: RangeStats) -> str:
    if not r.episodes or r.face_frames == 0:
        return "–"
    shown = [f"{_e(e)} {v.count}" for e, v in r.episodes.items() if v.count]
    return ", ".join(shown) or "none"


def _aus_shown(ranges: list[RangeStats]) -> list[str]:
    return [au for au in ranges[0].au_occurrence if any((r.au_occurrence.get(au) or 0) >= 0.05 for r in ranges)]


# --- plotting helpers -----------------------------------------------------------------------

def _bins(n: int) -> np.ndarray:
    """Start indices of at most `MAX_POINTS` runs of frames of (nearly) equal length."""
    if n <= MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n, MAX_POINTS, endpoint=False).astype(np.int64))


def _points_seconds(result: Result) -> float:
    n = len(result.frames)
    return result.duration / MAX_POINTS if n > MAX_POINTS else 0.0


def _smoothed(values: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean over ``window`` frames, empty values left out; frames that are empty
    stay empty (a gap stays a gap)."""
    if window <= 1:
        return values
    ok = np.isfinite(values)
    sums = np.r_[0.0, np.cumsum(np.where(ok, values, 0.0))]
    counts = np.r_[0, np.cumsum(ok)]
    i = np.arange(len(values))
    lo, hi = np.clip(i - window // 2, 0, len(values)), np.clip(i + window // 2 + 1, 0, len(values))
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (sums[hi] - sums[lo]) / n
    return np.where(ok, mean, np.nan)


def _binned(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The mean of each run of values from each start to the next (empty values left out; NaN
    where a run has none)."""
    if len(starts) == len(values):
        return values
    ok = np.isfinite(values)
    sums = np.add.reduceat(np.where(ok, values, 0.0), starts)
    counts = np.add.reduceat(ok.astype(np.int64), starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _emotion_colour(emotion: str, emotions: Sequence[str]) -> str:
    if emotion in EMOTION_COLOURS:
        return EMOTION_COLOURS[emotion]
    others = [e for e in emotions if e not in EMOTION_COLOURS]
    return OTHER_COLOURS[others.index(emotion) % len(OTHER_COLOURS)]


def _figure(fig: Figure, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", metadata={"Software": None})
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f"<figure><img alt=\"{_e(alt)}\" src=\"data:image/png;base64,{data}\"></figure>"


# --- text helpers ---------------------------------------------------------------------------

def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _au(stem: str) -> str:
    """``AU01`` (a column's stem) as FACS writes it: ``AU1``."""
    return f"AU{int(stem[2:])}" if stem[2:].isdigit() else stem


def _anchor(index: int) -> str:
    return f"person-{index + 1}"


def _swatch(colour: str) -> str:
    return f"<span class=swatch style=\"background:{colour}\"></span>"


def _pct(value: float | None) -> str:
    """`core.validation.share`, for HTML."""
    return _e(share(value))


def _number(value: float | None, decimals: int) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.{decimals}f}"


def _duration(seconds: float | None) -> str:
    """``3.1 s``, ``4 min 05 s``, ``1 h 02 min``."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _clock(seconds: float, short: bool = False) -> str:
    """``0:03.12``, ``12:05.00``, ``1:02:05.00`` (``short``: to the whole second, ``1:02:05``)."""
    sign = "-" if seconds < 0 else ""
    unit = 1 if short else 100
    total = int(round(abs(seconds) * unit))
    rest, fraction = divmod(total, unit)
    minutes, secs = divmod(rest, 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{secs:02d}" + ("" if short else f".{fraction:02d}")
    return f"{sign}{hours}:{minutes:02d}:{text}" if hours else f"{sign}{minutes}:{text}"


def _when(made: datetime) -> str:
    zone = made.strftime("%Z")
    return made.strftime("%Y-%m-%d %H:%M") + (f" {zone}" if zone else "")


_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #1a1a1a; max-width: 1140px;
       margin: 24px auto; padding: 0 16px; font-size: 14px; line-height: 1.45; }
h1 { font-size: 24px; margin: 0; }
.sub { margin: 2px 0 14px; color: #555; font-size: 15px; }
h2 { font-size: 19px; border-bottom: 2px solid #4e79a7; padding-bottom: 3px; margin-top: 30px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 10px; }
th, td { padding: 3px 8px; vertical-align: top; }
.facts th { text-align: left; color: #555; font-weight: normal; white-space: nowrap; padding-left: 0; }
.grid th, .grid td { border: 1px solid #c8c8c8; }
.grid thead th { background: #eef2f7; font-weight: 600; text-align: center; }
.compare thead th { text-align: right; min-width: 5em; }
.grid tbody th { text-align: left; font-weight: normal; white-space: nowrap; }
.grid tbody tr:nth-child(even) { background: #f7f7f7; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.stats { font-size: 12.5px; }
.stats td.name { max-width: 12em; overflow-wrap: anywhere; }
.stats th, .stats td { padding: 3px 5px; }
.aus { font-size: 12px; }
.aus th, .aus td { padding: 2px 4px; }
.wide { overflow-x: auto; }
.note, .legend { color: #555; font-size: 12.5px; }
.trust { font-size: 13px; }
.trust td.warn { color: #9a4a00; }
nav { margin: 12px 0; font-size: 13px; }
nav a { color: #2a5d9f; }
dl { margin: 6px 0; font-size: 13px; }
dt { font-weight: 600; float: left; clear: left; width: 170px; }
dd { margin: 0 0 4px 180px; }
figure { margin: 4px 0 2px; }
figure img { max-width: 100%; height: auto; display: block; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 5px; border-radius: 2px;
          vertical-align: baseline; opacity: 0.8; }
code { font-size: 12.5px; background: #f2f2f2; padding: 0 3px; }
footer { margin-top: 30px; padding-top: 6px; border-top: 1px solid #ccc; color: #666; font-size: 12px; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  nav { display: none; }
  figure, table, dl { page-break-inside: avoid; }
  section.person { page-break-before: always; }
  .stats, .aus { font-size: 9px; }
  .wide { overflow: visible; }
}
</style>
</head>
<body>"""
