"""Clarify's bias metrics on boolean columns, as smclarify computes them (its definitions,
its special cases and its error texts), from counts rather than pandas filters.

Every metric takes `Rows`: `facet` (the sensitive group d; the rest is a), `label` and
`predicted` (positive or not) and `group` (the group variable's values). A metric that is
undefined on the rows (an empty group, no positive labels, ...) raises `Undefined`; analysis.json
then carries `"value": null` and the reason, as Clarify writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Bools = npt.NDArray[np.bool_]
INFINITY = float("inf")


class Undefined(ValueError):
    """The metric has no value on these rows; the message says why (smclarify's words)."""


@dataclass(frozen=True, slots=True)
class Rows:
    facet: Bools
    label: Bools | None = None
    predicted: Bools | None = None
    group: npt.NDArray[np.int64] | None = None  # the group variable as codes 0..k-1
    features: npt.NDArray[Any] | None = None  # FT: every feature but the facet, row by row


def _count(mask: Bools) -> int:
    return int(np.count_nonzero(mask))


def divide(a: float, b: float) -> float:
    """smclarify's division: 0/0 is 0, x/0 is +-infinity."""
    if b == 0 and a == 0:
        return 0.0
    if b == 0:
        return -INFINITY if a < 0 else INFINITY
    return a / b


def _need(value: Bools | None, what: str) -> Bools:
    if value is None:
        raise Undefined(f"{what} are needed for this metric")
    return value


def _sides(rows: Rows, prefix: str = "") -> tuple[Bools, Bools]:
    d = rows.facet
    if not d.any():
        raise Undefined(f"{prefix}Facet set is empty")
    if d.all():
        raise Undefined(f"{prefix}Negated Facet set is empty")
    return d, ~d


def ci(rows: Rows) -> float:
    nd = _count(rows.facet)
    na = rows.facet.size - nd
    if na == 0:
        raise Undefined("CI: negated facet set is empty. Check that x[~facet] has non-zero length.")
    if nd == 0:
        raise Undefined("CI: facet set is empty. Check that x[facet] has non-zero length.")
    return float(na - nd) / (na + nd)


def _dpl(facet: Bools, positive: Bools) -> float:
    nd = _count(facet)
    na = facet.size - nd
    if na == 0:
        raise Undefined("Negative facet set is empty.")
    if nd == 0:
        raise Undefined("Facet set is empty.")
    return _count(~facet & positive) / na - _count(facet & positive) / nd


def dpl(rows: Rows) -> float:
    return _dpl(rows.facet, _need(rows.label, "labels"))


def dppl(rows: Rows) -> float:
    return _dpl(rows.facet, _need(rows.predicted, "predicted labels"))


def _aligned(rows: Rows) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The label distributions of a and d over the values both have (smclarify's
    pdfs_aligned_nonzero: a value missing from either side is left out, not smoothed)."""
    label = _need(rows.label, "labels")
    sides = []
    for side in (~rows.facet, rows.facet):
        total = _count(side)
        positive = _count(side & label)
        counts = (total - positive, positive)  # values in order: False, True
        sides.append([c / total if total else 0.0 for c in counts])
    keep = [k for k in (0, 1) if sides[0][k] != 0 and sides[1][k] != 0]
    pa = np.array([sides[0][k] for k in keep])
    pd = np.array([sides[1][k] for k in keep])
    if len(pa) == 0:
        raise Undefined("No instance of common facet found, dataset may be too small")
    return pa, pd


def kl(rows: Rows) -> float:
    pa, pd = _aligned(rows)
    return float(np.sum(pa * np.log(pa / pd)))


def js(rows: Rows) -> float:
    pa, pd = _aligned(rows)
    p = 1 / 2 * (pa + pd)
    return float(0.5 * (np.sum(pa * np.log(pa / p)) + np.sum(pd * np.log(pd / p))))


def lp(rows: Rows) -> float:
    pa, pd = _aligned(rows)
    return float(np.linalg.norm(pa - pd, 2))


def tvd(rows: Rows) -> float:
    pa, pd = _aligned(rows)
    return 0.5 * float(np.linalg.norm(pa - pd, 1))


def ks(rows: Rows) -> float:
    pa, pd = _aligned(rows)
    return float(np.linalg.norm(pa - pd, np.inf))


def _cdd(rows: Rows, positive: Bools) -> float:
    if rows.group is None or rows.group.size == 0:
        raise Undefined("Group variable is empty or not provided")
    if not positive.any():
        raise Undefined("No positive labels in set")
    if positive.all():
        raise Undefined("No negative labels in set")
    groups = int(rows.group.max()) + 1
    counts = np.bincount(rows.group, minlength=groups).astype(np.float64)

    def per_group(mask: Bools) -> npt.NDArray[np.int64]:
        return np.bincount(rows.group[mask], minlength=groups)  # type: ignore[index]

    num_a, den_a = per_group(positive & rows.facet), per_group(positive)
    num_d, den_d = per_group(~positive & rows.facet), per_group(~positive)
    cdd = np.array(
        [
            (num_d[i] / den_d[i] if den_d[i] else 0) - (num_a[i] / den_a[i] if den_a[i] else 0)
            for i in range(groups)
        ]
    )
    present = counts > 0
    return divide(float(np.sum(counts[present] * cdd[present])), float(np.sum(counts[present])))


def cddl(rows: Rows) -> float:
    return _cdd(rows, _need(rows.label, "labels"))


def cddpl(rows: Rows) -> float:
    return _cdd(rows, _need(rows.predicted, "predicted labels"))


def di(rows: Rows) -> float:
    predicted = _need(rows.predicted, "predicted labels")
    nd = _count(rows.facet)
    na = rows.facet.size - nd
    if na == 0:
        raise Undefined("Negated facet set is empty")
    if nd == 0:
        raise Undefined("Facet set is empty")
    return divide(_count(predicted & rows.facet) / nd, _count(predicted & ~rows.facet) / na)


def _both(rows: Rows) -> tuple[Bools, Bools]:
    return _need(rows.label, "labels"), _need(rows.predicted, "predicted labels")


def _dco(rows: Rows) -> tuple[float, float]:
    y, yhat = _both(rows)
    d, a = _sides(rows, "DCO: ")
    ca = divide(_count(y & a), _count(yhat & a))
    cd = divide(_count(y & d), _count(yhat & d))
    rr_a = divide(_count(~y & a), _count(~yhat & a))
    rr_d = divide(_count(~y & d), _count(~yhat & d))
    dca = 0.0 if ca == cd == INFINITY else ca - cd
    dcr = 0.0 if rr_a == rr_d == INFINITY else rr_d - rr_a
    return dca, dcr


def dca(rows: Rows) -> float:
    return _dco(rows)[0]


def dcr(rows: Rows) -> float:
    return _dco(rows)[1]


def _quadrants(y: Bools, yhat: Bools, side: Bools) -> tuple[int, int, int, int]:
    """TP, FP, FN, TN within one side."""
    return (
        _count(y & yhat & side),
        _count(~y & yhat & side),
        _count(y & ~yhat & side),
        _count(~y & ~yhat & side),
    )


def _dlr(rows: Rows) -> tuple[float, float]:
    y, yhat = _both(rows)
    d, a = _sides(rows, "DLR: ")
    tp_a, fp_a, fn_a, tn_a = _quadrants(y, yhat, a)
    tp_d, fp_d, fn_d, tn_d = _quadrants(y, yhat, d)
    ar_a, ar_d = divide(tp_a, tp_a + fp_a), divide(tp_d, tp_d + fp_d)
    rr_a, rr_d = divide(tn_a, tn_a + fn_a), divide(tn_d, tn_d + fn_d)
    dar = 0.0 if ar_a == ar_d == INFINITY else ar_a - ar_d
    drr = 0.0 if rr_a == rr_d == INFINITY else rr_d - rr_a
    return dar, drr


def dar(rows: Rows) -> float:
    return _dlr(rows)[0]


def drr(rows: Rows) -> float:
    return _dlr(rows)[1]


def _dla(rows: Rows) -> tuple[float, float]:
    y, yhat = _both(rows)
    d, a = _sides(rows, "DLA: ")
    tp_a, fp_a, fn_a, tn_a = _quadrants(y, yhat, a)
    tp_d, fp_d, fn_d, tn_d = _quadrants(y, yhat, d)
    rec_a, rec_d = divide(tp_a, tp_a + fn_a), divide(tp_d, tp_d + fn_d)
    sp_a, sp_d = divide(tn_a, tn_a + fp_a), divide(tn_d, tn_d + fp_d)
    rd = 0.0 if rec_a == rec_d == INFINITY else rec_a - rec_d
    sd = 0.0 if sp_a == sp_d == INFINITY else sp_d - sp_a
    return rd, sd


def rd(rows: Rows) -> float:
    return _dla(rows)[0]


def sd(rows: Rows) -> float:
    return _dla(rows)[1]


def ad(rows: Rows) -> float:
    y, yhat = _both(rows)
    d, a = _sides(rows)
    tp_a, fp_a, fn_a, tn_a = _quadrants(y, yhat, a)
    tp_d, fp_d, fn_d, tn_d = _quadrants(y, yhat, d)
    acc_a = divide(tp_a + tn_a, tp_a + tn_a + fp_a + fn_a)
    acc_d = divide(tp_d + tn_d, tp_d + tn_d + fp_d + fn_d)
    return 0.0 if acc_a == acc_d == INFINITY else acc_a - acc_d


def te(rows: Rows) -> float:
    y, yhat = _both(rows)
    d, a = _sides(rows)
    _, fp_a, fn_a, _ = _quadrants(y, yhat, a)
    _, fp_d, fn_d, _ = _quadrants(y, yhat, d)
    tau_a, tau_d = divide(fn_a, fp_a), divide(fn_d, fp_d)
    return 0.0 if tau_a == tau_d == INFINITY else tau_d - tau_a


def ge(rows: Rows) -> float:
    """Generalized entropy with alpha 2 over every row (the facet plays no part)."""
    y, yhat = _both(rows)
    n = y.size
    if n == 0:
        raise Undefined("dataset must be non-empty")
    benefit = yhat.astype(np.int64) - y.astype(np.int64) + 1
    mean = benefit.mean()
    if mean == 0:
        raise Undefined(
            "All predicted labels are false negatives. There should be at least one prediction "
            "that is not false negative."
        )
    ratio = benefit / mean
    return float((ratio**2 - 1).sum() / (n * 2 * (2 - 1)))


def ft(rows: Rows) -> float:
    """Flip test: a k-nearest-neighbours model of the predictions of group a, asked about group
    d; (d's rows the model favours over it - those it disfavours) / d's size, as smclarify."""
    predicted = _need(rows.predicted, "predicted labels")
    d, a = _sides(rows)
    if rows.features is None:
        raise Undefined("FlipTest needs the features, and none were read")
    if rows.features.dtype == object:
        raise Undefined("FlipTest does not support non-numeric columns")
    try:
        from sklearn.neighbors import KNeighborsClassifier
    except ImportError:
        raise Undefined("FlipTest needs scikit-learn (pip install 'infertap[clarify]')") from None
    neighbours = 5 if _count(a) > 9 else 1  # smclarify's: 1 neighbour below 10 samples
    knn = KNeighborsClassifier(n_neighbors=neighbours).fit(rows.features[a], predicted[a])
    if_a = np.asarray(knn.predict(rows.features[d]), dtype=np.bool_)
    model = predicted[d]
    return divide(_count(model & ~if_a) - _count(~model & if_a), _count(d))


METRICS: dict[str, Callable[[Rows], float]] = {
    "CI": ci,
    "DPL": dpl,
    "KL": kl,
    "JS": js,
    "LP": lp,
    "TVD": tvd,
    "KS": ks,
    "CDDL": cddl,
    "DPPL": dppl,
    "DI": di,
    "DCA": dca,
    "DCR": dcr,
    "RD": rd,
    "SD": sd,
    "DAR": dar,
    "DRR": drr,
    "AD": ad,
    "CDDPL": cddpl,
    "TE": te,
    "FT": ft,
    "GE": ge,
}
