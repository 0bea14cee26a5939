"""The LFW View 2 evaluator: strict parsing, exact metrics, honest failure counting."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import facewarden.eval
from facewarden.errors import EvaluationError
from facewarden.eval.lfw import (
    best_threshold,
    evaluate_lfw,
    fold_accuracies,
    format_report,
    parse_pairs,
    plot_roc,
    roc_auc,
    roc_curve,
    tar_at_far,
)
from facewarden.vision.pipeline import Pipeline

LFW = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "lfw-fold1"
needs_lfw = pytest.mark.skipif(
    not (LFW / "pairs.txt").is_file(),
    reason="../shared/data/lfw-fold1 is absent (a fresh clone); CI has it",
)

GOOD = """2\t2
Ann\t1\t2
Bob\t1\t3
Ann\t1\tBob\t2
Cy\t4\tAnn\t2
Cy\t1\t2
Dee\t2\t1
Bob\t1\tCy\t1
Dee\t1\tAnn\t3
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_eval_package_exports_what_it_declares() -> None:
    for name in facewarden.eval.__all__:
        assert hasattr(facewarden.eval, name), name


def test_parse_pairs_reads_the_official_format(tmp_path: Path) -> None:
    pairs = parse_pairs(write(tmp_path, GOOD), tmp_path / "lfw")
    assert len(pairs) == 8
    assert [p.same for p in pairs] == [True, True, False, False] * 2
    assert [p.fold for p in pairs] == [0, 0, 0, 0, 1, 1, 1, 1]
    assert [p.line for p in pairs] == list(range(2, 10))
    assert pairs[0].first == tmp_path / "lfw" / "Ann" / "Ann_0001.jpg"
    assert pairs[0].second == tmp_path / "lfw" / "Ann" / "Ann_0002.jpg"
    assert pairs[3].first == tmp_path / "lfw" / "Cy" / "Cy_0004.jpg"
    assert pairs[3].second == tmp_path / "lfw" / "Ann" / "Ann_0002.jpg"


def test_parse_pairs_accepts_trailing_blank_lines_and_crlf(tmp_path: Path) -> None:
    text = GOOD.replace("\n", "\r\n") + "\r\n\r\n"
    assert len(parse_pairs(write(tmp_path, text), tmp_path)) == 8


def replace_line(number: int, text: str) -> str:
    lines = GOOD.splitlines()
    lines[number - 1] = text
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (replace_line(1, "2"), r"pairs\.txt:1: the header"),
        (replace_line(1, "two 2"), r"pairs\.txt:1: 'two' is not a positive integer"),
        (replace_line(1, "0\t2"), r"pairs\.txt:1: '0' is not a positive integer"),
        (replace_line(2, "Ann\t1\tBob\t2"), r"pairs\.txt:2: fold 1 expects a matched pair"),
        (replace_line(3, "Bob\t1"), r"pairs\.txt:3: fold 1 expects a matched pair"),
        (replace_line(4, "Ann\t1\t2"), r"pairs\.txt:4: fold 1 expects a mismatched pair"),
        (replace_line(8, "Bob\t1\tCy"), r"pairs\.txt:8: fold 2 expects a mismatched pair"),
        (replace_line(2, "Ann\tone\t2"), r"pairs\.txt:2: 'one' is not a positive integer"),
        (replace_line(2, "Ann\t0\t2"), r"pairs\.txt:2: '0' is not a positive integer"),
        (replace_line(2, "Ann\t-1\t2"), r"pairs\.txt:2: '-1' is not a positive integer"),
        (replace_line(6, "Cy\t2\t2"), r"pairs\.txt:6: the pair compares image 2 with itself"),
        (replace_line(5, "Cy\t4\tCy\t2"), r"pairs\.txt:5: the pair names Cy twice"),
        (replace_line(2, "../etc\t1\t2"), r"pairs\.txt:2: '\.\./etc' is not a valid LFW name"),
        (replace_line(4, ""), r"pairs\.txt:4: fold 1 expects a mismatched pair"),
    ],
)
def test_parse_pairs_names_the_malformed_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        parse_pairs(write(tmp_path, text), tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # Fewer lines than announced: the file stops inside fold 2.
        ("\n".join(GOOD.splitlines()[:7]) + "\n", r"announces 2 fold\(s\) .* ends after 6"),
        # More lines than announced: the first extra line is named.
        (GOOD + "Ann\t1\t2\n", r"pairs\.txt:10: the header announces only 8 pair lines"),
        # A 1-fold header over a 2-fold file.
        (GOOD.replace("2\t2", "1\t2", 1), r"pairs\.txt:6: the header announces only 4"),
        # One matched pair per fold announced, two present: line 3 is in the mismatched block.
        (GOOD.replace("2\t2", "2\t1", 1), r"pairs\.txt:3: fold 1 expects a mismatched pair"),
        ("", r"pairs\.txt:1: the header"),
    ],
)
def test_parse_pairs_checks_the_header_against_the_lines(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(EvaluationError, match=message):
        parse_pairs(write(tmp_path, text), tmp_path)


def test_parse_pairs_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError, match="cannot read pairs file"):
        parse_pairs(tmp_path / "nope.txt", tmp_path)


def test_perfectly_separable_scores_score_perfectly() -> None:
    scores = [0.9, 0.8, 0.7, 0.1, 0.2, 0.3]
    labels = [True, True, True, False, False, False]
    threshold, accuracy = best_threshold(scores, labels)
    assert accuracy == 1.0
    assert threshold == pytest.approx(0.5)  # midway between the closest opposite scores
    assert roc_auc(scores, labels) == 1.0
    assert tar_at_far(scores, labels, 1e-3)[0] == 1.0
    accuracies, _ = fold_accuracies(scores * 2, labels * 2, [0] * 6 + [1] * 6)
    assert accuracies.tolist() == [1.0, 1.0]


def test_metrics_on_a_hand_computed_case() -> None:
    # Sorted: 0.1n 0.3n 0.4p 0.5n 0.6p 0.9p. Of the 9 (match, mismatch) pairs only
    # 0.4 < 0.5 is out of order: AUC 8/9. Thresholds 0.35 and 0.55 both get 5 of 6
    # right; the stricter one is kept.
    scores = [0.9, 0.6, 0.4, 0.5, 0.3, 0.1]
    labels = [True, True, True, False, False, False]
    assert roc_auc(scores, labels) == pytest.approx(8 / 9)
    threshold, accuracy = best_threshold(scores, labels)
    assert threshold == pytest.approx(0.55)
    assert accuracy == pytest.approx(5 / 6)
    fpr, tpr = roc_curve(scores, labels)
    assert fpr.tolist() == pytest.approx([0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    assert tpr.tolist() == pytest.approx([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])


def test_fold_thresholds_come_from_the_other_folds() -> None:
    # Fold 0 alone is separated at 0.5; fold 1 alone is best cut at 0.425
    # (3 of 4 right). Each fold is scored at the other fold's threshold.
    scores = [0.9, 0.8, 0.2, 0.1, 0.6, 0.55, 0.7, 0.3]
    labels = [True, True, False, False, True, True, False, False]
    folds = [0, 0, 0, 0, 1, 1, 1, 1]
    accuracies, thresholds = fold_accuracies(scores, labels, folds)
    assert thresholds.tolist() == pytest.approx([0.425, 0.5])
    assert accuracies.tolist() == [1.0, 0.75]


def test_a_single_fold_chooses_its_threshold_on_itself() -> None:
    scores = [0.9, 0.6, 0.4, 0.5, 0.3, 0.1]
    labels = [True, True, True, False, False, False]
    accuracies, thresholds = fold_accuracies(scores, labels, [0] * 6)
    assert thresholds.tolist() == pytest.approx([0.55])
    assert accuracies.tolist() == pytest.approx([5 / 6])


def test_auc_by_ranks_equals_the_trapezoid_under_the_curve() -> None:
    rng = np.random.default_rng(7)
    labels = rng.random(400) < 0.5
    # Rounding makes many ties, which both methods must count as half.
    scores = np.round(rng.normal(labels.astype(float), 1.0), 1)
    fpr, tpr = roc_curve(scores, labels)
    assert roc_auc(scores, labels) == pytest.approx(float(np.trapezoid(tpr, fpr)), abs=1e-12)
    assert roc_auc([0.5, 0.5], [True, False]) == 0.5


def test_tar_at_far_allows_only_the_false_accepts_the_far_buys() -> None:
    impostor = np.arange(1000) / 1000  # highest 0.999, then 0.998
    genuine = np.array([0.9985, 0.5, 0.9999])
    scores = np.r_[genuine, impostor]
    labels = np.r_[np.ones(3, bool), np.zeros(1000, bool)]
    tar, threshold, achieved = tar_at_far(scores, labels, 1e-3)
    assert 0.998 < threshold < 0.9985  # just above the second-highest impostor
    assert achieved == pytest.approx(1e-3)
    assert tar == pytest.approx(2 / 3)
    # With 300 impostors, FAR 1e-3 allows no false accept at all.
    tar, threshold, achieved = tar_at_far(scores[:303], labels[:303], 1e-3)
    assert achieved == 0.0
    assert threshold > 0.299
    assert tar == 1.0


@pytest.mark.parametrize(
    ("scores", "labels", "folds"),
    [
        ([0.1, 0.2], [True, True], [0, 0]),  # no mismatched pair
        ([0.1, 0.2], [True], [0, 0]),  # lengths differ
        ([0.1, 0.2], [True, False], [0]),
    ],
)
def test_metrics_refuse_unusable_input(
    scores: list[float], labels: list[bool], folds: list[int]
) -> None:
    with pytest.raises(ValueError):
        fold_accuracies(scores, labels, folds)


def test_failures_to_enrol_are_counted_not_excluded(tmp_path: Path) -> None:
    # Plain grey pictures hold no face, and Bob_0002.jpg does not exist: every
    # pair fails and scores -1.0. The matched pairs then count as false
    # rejects and the mismatched ones as correct rejects: accuracy 0.5.
    root = tmp_path / "lfw"
    for name, number in [("Ann", 1), ("Ann", 2), ("Bob", 1)]:
        (root / name).mkdir(parents=True, exist_ok=True)
        grey = np.full((120, 120, 3), 128, dtype=np.uint8)
        Image.fromarray(grey).save(root / name / f"{name}_{number:04d}.jpg")
    pairs = write(tmp_path, "1\t2\nAnn\t1\t2\nBob\t1\t2\nAnn\t1\tBob\t1\nAnn\t2\tBob\t2\n")
    seen: list[tuple[int, int]] = []
    report = evaluate_lfw(
        root,
        pairs,
        pipeline=Pipeline.from_mode("fast"),
        workers=1,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    missing = str(root / "Bob" / "Bob_0002.jpg")
    assert report.unreadable_images == ((missing, "file not found"),)
    assert len(report.no_face_images) == 3
    assert report.scores.tolist() == [-1.0] * 4
    assert report.failed_pairs == 4
    assert report.accuracy_mean == 0.5
    assert report.fold_thresholds[0] > -1.0
    assert report.images == 4
    assert seen[-1] == (4, 4)
    assert "1 fold only" in report.protocol_note
    assert report.pipeline.startswith("fast (")
    assert report.pipeline.endswith("views averaged: chip + mirror)")
    assert "no face: " in format_report(report)
    json.dumps(report.to_dict(include_scores=True))  # plain data throughout


@needs_lfw
def test_a_missing_image_on_real_pairs_costs_exactly_its_pairs(tmp_path: Path) -> None:
    # Two good pairs of each kind decide right at the chosen threshold; a
    # matched pair with a missing image is a false reject, a mismatched one
    # with a missing image a correct reject: 5 of 6.
    pairs = write(
        tmp_path,
        "1\t3\nAbel_Pacheco\t1\t4\nAkhmed_Zakayev\t1\t3\nZico\t1\t999\n"
        "Abdel_Madi_Shabneh\t1\tDean_Barker\t1\nAbdul_Rahman\t1\tPortia_de_Rossi\t1\n"
        "Zico\t999\tDean_Barker\t1\n",
    )
    report = evaluate_lfw(LFW / "lfw", pairs, pipeline=Pipeline.from_mode("fast"), workers=1)
    assert report.no_face_images == ()
    assert [path for path, _ in report.unreadable_images] == [
        str(LFW / "lfw" / "Zico" / "Zico_0999.jpg")
    ]
    assert report.failed_pairs == 2
    assert report.scores[2] == report.scores[5] == -1.0
    assert report.accuracy_mean == pytest.approx(5 / 6)


@pytest.mark.slow
@needs_lfw
def test_fast_mode_verifies_real_lfw_pairs(tmp_path: Path) -> None:
    lines = (LFW / "pairs.txt").read_text(encoding="utf-8").splitlines()
    matched, mismatched = lines[1:301], lines[301:601]
    pairs = write(tmp_path, "\n".join(["1\t60", *matched[:60], *mismatched[:60]]) + "\n")
    report = evaluate_lfw(LFW / "lfw", pairs, pipeline=Pipeline.from_mode("fast"))
    # dlib's ResNet is published at 99.38% on all of LFW; 0.95 on 120 pairs
    # leaves room for six errors without letting a broken pipeline through.
    assert report.accuracy_mean >= 0.95
    assert report.no_face_images == ()
    assert report.unreadable_images == ()
    assert report.roc_auc >= 0.98
    assert math.isfinite(report.images_per_second)
    out = plot_roc(report, tmp_path / "roc.png")
    assert out.stat().st_size > 0
