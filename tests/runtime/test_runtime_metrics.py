"""edgecv.metrics against hand-computed values (numpy only, shared with eval)."""
import subprocess
import sys

import numpy as np
import pytest

from edgecv import metrics


def test_accuracy_confusion_precision_recall():
    t, p = [0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 0, 2]
    assert metrics.accuracy(t, p) == pytest.approx(4 / 6)
    cm = metrics.confusion_matrix(t, p, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    prf = metrics.precision_recall_f1(cm)
    np.testing.assert_allclose(prf["precision"], [1 / 2, 2 / 3, 1.0])
    np.testing.assert_allclose(prf["recall"], [1 / 2, 1.0, 1 / 2])
    np.testing.assert_allclose(prf["f1"], [0.5, 0.8, 2 / 3])
    assert prf["support"].tolist() == [2, 2, 2]


def test_zero_division_and_empty():
    cm = metrics.confusion_matrix([0, 0], [0, 0], 3)     # classes 1, 2 never seen nor predicted
    prf = metrics.precision_recall_f1(cm)
    assert prf["precision"].tolist() == [1.0, 0.0, 0.0] and prf["recall"].tolist() == [1.0, 0.0, 0.0]
    assert np.isnan(metrics.accuracy([], []))
    with pytest.raises(ValueError):
        metrics.confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError):
        metrics.accuracy([0, 1], [0])


def test_topk_accuracy():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    assert metrics.topk_accuracy([2, 1, 0], scores, k=1) == 0.0
    assert metrics.topk_accuracy([2, 1, 0], scores, k=2) == pytest.approx(2 / 3)
    assert metrics.topk_accuracy([2, 1, 0], scores, k=10) == 1.0


def test_rmse_mae_per_target_and_pooled():
    t = np.array([[0.0, 0.0], [10.0, 10.0]])
    p = np.array([[3.0, 0.0], [10.0, 14.0]])
    np.testing.assert_allclose(metrics.rmse(t, p), [np.sqrt(4.5), np.sqrt(8.0)])
    np.testing.assert_allclose(metrics.mae(t, p), [1.5, 2.0])
    assert metrics.point_rmse(t, p, [0, 1]) == pytest.approx(np.sqrt((9 + 16) / 4))
    np.testing.assert_allclose(metrics.rmse([1.0, 2.0], [1.0, 4.0]), [np.sqrt(2.0)])


def test_metrics_module_is_numpy_only():
    code = "import sys, edgecv.metrics; bad = [m for m in ('torch', 'sklearn', 'cv2', 'onnxruntime') if m in sys.modules]; assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
