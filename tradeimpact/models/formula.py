"""Formula front end, formula first as in fixest and pyfixest: ``feols("y ~ x | fe1 + fe2^fe3", data)``.

Grammar (fixest's, as pyfixest 0.60 parses it)::

    lhs ~ rhs | fe_1 + fe_2^fe_3 + ...

* ``lhs ~ rhs`` is a formulaic formula (pyfixest's choice of parser), evaluated with the context
  pyfixest uses: ``log`` (the natural log with non-positive values set to missing, so their
  rows are dropped, as pyfixest's ``log``) and ``i()`` (fixest's factor operator, below).
  Everything formulaic offers works in it: ``x1:x2`` and ``x1*x2`` interactions, ``C(f)``
  dummies, ``np.log1p(x)``, ``I(x**2)``, ``center(x)``, ``- 1``. Coefficient names are
  formulaic's, hence pyfixest's (``x1:x2``, ``C(f)[T.b]``, ``log(dist)``).
* ``i(var)``, ``i(var, ref=k)``, ``i(var, ref=[a, b])``, ``i(var, var2, ref=k)``: dummies of
  the levels of ``var`` (without the reference levels), multiplied by ``var2`` when ``var2``
  is numeric (an event study's ``i(rel, treat, ref=-1)``) or interacted with the levels of a
  categorical ``var2``. Named as fixest and pyfixest name them: ``rel::0``, ``rel::0:treat``,
  ``f::a:g::b``. Without ``ref`` and with an intercept in the model (also when fixed effects
  absorb it) the first level is dropped, as pyfixest does. ``ref=[a, b]`` (several reference
  levels) is fixest's; pyfixest 0.60 rejects it.
* the part after ``|`` lists the fixed effects: columns, and ``a^b`` for the combination of
  ``a`` and ``b`` (one effect per observed pair: exporter-year). ``| 0`` means none.
  Varying slopes as in fixest: ``id[z]`` (the ``id`` fixed effect and an ``id``-specific slope
  on ``z``), ``id[[z]]`` (the slope only), ``id[z1,z2]`` (several); absorbed with the fixed
  effects (:mod:`tradeimpact.core.slopes`).

Covariances (``vcov=``) in pyfixest's forms: ``"iid"`` (pyfixest's default, used when ``vcov``
is None), ``"hetero"`` / ``"HC1"``, ``{"CRV1": "unit"}``, ``{"CRV1": "unit + time"}`` (two-way,
Cameron-Gelbach-Miller with fixest's ``min(G)``), ``{"CRV1": "a^b"}`` (clusters of combined
columns); the keyword API's forms (``{"CR1": ...}``, ``"twoway"``, ``"DK"``) are also accepted,
and ``cluster="unit"`` is ``vcov={"CRV1": "unit"}``. One parser reads them all
(:func:`tradeimpact.core.covariance.parse_vcov`).
The small-sample corrections are pyfixest's defaults (``ssc(k_adj=True, k_fixef="nonnested",
G_adj=True, G_df="min")``), which are those of the keyword estimators.

The sample is pyfixest's: rows with a missing value in any variable of the formula are
dropped (``result.dropped["missing"]``), then singletons (``fixef_rm="singleton"``, the
default). The front end builds the columns and calls the keyword estimators
(:func:`tradeimpact.models.linear.feols`, :func:`tradeimpact.models.ppml.ppml`); its numbers
are tested against pyfixest ``feols`` / ``fepois`` on the same formulas (tests/test_formula.py).

Lives in ``models`` (not in ``core``) because it is a front end of the estimators, as DESIGN.md
places "formula and keyword front ends" in ``tradeimpact/models``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl

from tradeimpact.core.collinearity import COLLIN_TOL
from tradeimpact.core.covariance import VcovSpec, check_cluster_count, parse_vcov
from tradeimpact.core.frame import numeric_column, to_polars
from tradeimpact.errors import ModelSpecError, TradeImpactWarning
from tradeimpact.models.results import RegressionResult

__all__ = [
    "ParsedFormula",
    "feols",
    "feols_formula",
    "fepois",
    "i",
    "log",
    "parse_formula",
    "ppml",
]

#: fixest multiple-estimation operators, which this front end does not expand.
_MULTI = re.compile(r"\b(sw|csw|sw0|csw0|mvsw)\s*\(")
_NAME = re.compile(r"^[A-Za-z_.][A-Za-z0-9_.]*$")


class LogDomainWarning(TradeImpactWarning):
    """``log()`` met non-positive or non-finite values; their rows are dropped."""


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedFormula:
    """A fixest formula split into its parts.

    ``lhs`` and ``rhs`` are the formulaic text of the two sides, ``fixed_effects`` one list of
    columns per fixed effect (``["exp", "year"]`` for ``exp^year``).
    """

    formula: str
    lhs: str
    rhs: str
    fixed_effects: tuple[tuple[str, ...], ...]
    #: varying-slope terms as written by :attr:`tradeimpact.core.slopes.SlopeTerm.name`
    #: (``id[z]``, ``id[[z]]``), in order
    slopes: tuple[str, ...] = ()

    @property
    def fe_specs(self) -> list[Any]:
        """The fixed effects for the keyword estimators: columns, column lists for ``a^b``, and
        the varying-slope terms as strings."""
        return [list(f) if len(f) > 1 else f[0] for f in self.fixed_effects] + list(self.slopes)

    @property
    def slope_columns(self) -> list[str]:
        """The group and slope columns of the varying-slope terms."""
        from tradeimpact.core.slopes import parse_slope_term

        out: list[str] = []
        for term in self.slopes:
            t = parse_slope_term(term)
            assert t is not None
            out.extend([*t.group, *t.variables])
        return list(dict.fromkeys(out))

    @property
    def fe_names(self) -> list[str]:
        """The fixed effects as written, ``a`` or ``a^b``."""
        return ["^".join(f) for f in self.fixed_effects]

    @property
    def main(self) -> str:
        """The formulaic formula ``lhs ~ rhs``."""
        return f"{self.lhs} ~ {self.rhs}"


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and brackets."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ModelSpecError(f"unbalanced ')' in {text!r}")
        if ch == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if depth != 0:
        raise ModelSpecError(f"unbalanced '(' in {text!r}")
    parts.append("".join(cur).strip())
    return parts


def parse_formula(formula: str) -> ParsedFormula:
    """Split a fixest formula ``"lhs ~ rhs | fe1 + fe2^fe3"`` into its parts.

    Raises :class:`ModelSpecError` naming the offending part or term: no ``~``, more than one
    ``|`` (instrumental variables are not offered), fixest's multiple estimation
    (``sw()``, ``csw()``...), several outcomes, or a fixed-effect term that is not a column or
    a ``^`` combination of columns.
    """
    if not isinstance(formula, str):
        raise ModelSpecError(f"a formula must be a string, not {type(formula).__name__}")
    parts = _split_top(formula, "|")
    if len(parts) > 2:
        raise ModelSpecError(
            f"formula {formula!r} has {len(parts)} parts separated by '|': the formula interface "
            "takes 'y ~ x | fixed effects' (instrumental variables, a third part, are not offered)"
        )
    main = parts[0]
    if main.count("~") != 1:
        raise ModelSpecError(
            f"formula {formula!r} needs exactly one '~' before '|' (outcome ~ regressors), "
            f"found {main.count('~')}"
        )
    lhs, rhs = (p.strip() for p in main.split("~"))
    m = _MULTI.search(formula)
    if m:
        raise ModelSpecError(
            f"term {m.group(1)}(...) in {formula!r}: fixest's multiple estimation is not offered; "
            "fit one formula per model"
        )
    if not lhs:
        raise ModelSpecError(f"formula {formula!r} has no outcome before '~'")
    if len(_split_top(lhs, "+")) > 1:
        raise ModelSpecError(
            f"outcome {lhs!r}: one outcome per formula (fit one model per outcome)"
        )
    if not rhs:
        raise ModelSpecError(f"formula {formula!r} has nothing after '~' (write '1' for none)")
    fes: list[tuple[str, ...]] = []
    slopes: list[str] = []
    if len(parts) == 2:
        fe_text = parts[1]
        if "~" in fe_text:
            raise ModelSpecError(
                f"fixed-effect part {fe_text!r} contains '~': instrumental variables are not "
                "offered"
            )
        if fe_text.strip() not in ("0", "1", ""):
            for term in _split_top(fe_text, "+"):
                if "[" in term:
                    from tradeimpact.core.slopes import parse_slope_term

                    try:
                        st = parse_slope_term(term)
                    except ValueError as err:
                        raise ModelSpecError(f"{err} (in {formula!r})") from err
                    assert st is not None
                    slopes.append(st.name)
                    continue
                cols = tuple(c.strip() for c in term.split("^"))
                if not term or not all(_NAME.match(c) for c in cols):
                    raise ModelSpecError(
                        f"fixed-effect term {term!r} in {formula!r}: a fixed effect is a column "
                        "or columns combined with '^' (exporter^year), or a varying slope "
                        "(id[z], id[[z]]); ':' or '*' are not offered there"
                    )
                fes.append(cols)
    return ParsedFormula(formula, lhs, rhs, tuple(fes), tuple(slopes))


# ---------------------------------------------------------------------------------------------
# formulaic context: log() and i()
# ---------------------------------------------------------------------------------------------
def log(x: Any) -> npt.NDArray[np.float64]:
    """Natural log with non-positive and non-finite values set to missing (pyfixest's ``log``).

    Rows where the log is undefined are then dropped with the other missing values (counted in
    ``result.dropped["missing"]``), with a :class:`LogDomainWarning`.
    """
    arr = np.asarray(x, dtype=np.float64)
    out = np.full_like(arr, np.nan, dtype=np.float64)
    valid = np.isfinite(arr) & (arr > 0)
    if not valid.all():
        warnings.warn(
            f"log(): {int((~valid).sum())} rows with non-positive or missing values are dropped",
            LogDomainWarning,
            stacklevel=2,
        )
    np.log(arr, out=out, where=valid)
    return out


def _series_name(data: Any, default: str) -> str:
    from formulaic.materializers.types import FactorValues

    if isinstance(data, FactorValues):
        data = data.__wrapped__
    if isinstance(data, pd.Series) and data.name is not None:
        return str(data.name)
    return default


def _as_refs(ref: Any) -> list[Hashable] | None:
    if ref is None:
        return None
    if isinstance(ref, list | tuple | set | np.ndarray):
        return list(ref)
    return [ref]


def _dummies(
    data: pd.Series,
    refs: list[Hashable] | None,
    bins: Mapping[Hashable, Sequence[Hashable]] | None,
    drop_first: bool,
    state: dict[str, Any],
    key: str,
) -> pd.DataFrame:
    """Dummy columns (named by level) of ``data``; the levels are fixed at the first call."""
    if bins is not None:
        mapping = {old: new for new, olds in bins.items() for old in olds}
        data = data.replace(mapping)
    sub = state.setdefault(key, {})
    if "levels" not in sub:
        if isinstance(data.dtype, pd.CategoricalDtype):
            present = set(data.dropna().unique().tolist())
            levels = [c for c in data.cat.categories.tolist() if c in present]
        else:
            uniq = pd.unique(data.dropna()).tolist()
            try:
                levels = sorted(uniq)
            except TypeError:  # mixed types: sort by their text
                levels = sorted(uniq, key=str)
        if refs is not None:
            absent = [r for r in refs if not any(r == lv for lv in levels)]
            if absent:
                raise ModelSpecError(
                    f"i({data.name}): reference level(s) {absent} not among the levels of "
                    f"{data.name!r} ({levels[:10]}{'...' if len(levels) > 10 else ''})"
                )
        sub["levels"] = levels
    levels = sub["levels"]
    codes = pd.Categorical(data, categories=levels)
    mat = np.zeros((len(data), len(levels)))
    ok = codes.codes >= 0
    mat[np.flatnonzero(ok), codes.codes[ok]] = 1.0
    out = pd.DataFrame(mat, columns=levels, index=data.index)
    if refs is not None:
        out = out.drop(columns=[lv for lv in levels if any(r == lv for r in refs)])
    elif drop_first and levels:
        out = out.drop(columns=[levels[0]])
    return out


def i(
    data: Any,
    var2: Any = None,
    *,
    ref: Any = None,
    ref2: Any = None,
    bin: Mapping[Hashable, Sequence[Hashable]] | None = None,
    bin2: Mapping[Hashable, Sequence[Hashable]] | None = None,
) -> Any:
    """fixest's ``i()`` factor operator for formulas (pyfixest's ``factor_interaction``).

    ``i(f)``: a dummy per level of ``f``; ``i(f, ref=k)`` or ``ref=[a, b]``: without the
    reference level(s); ``i(f, x)`` with numeric ``x``: the dummies times ``x`` (the event
    study's ``i(rel, treat, ref=-1)``); ``i(f, g)`` with categorical ``g`` (or ``ref2``): the
    dummies of every ``f x g`` combination but the reference one. ``bin`` maps new levels to
    lists of old ones. Names follow fixest: ``f::a``, ``f::a:x``, ``f::a:g::b``. Without
    ``ref`` the first level is dropped when the model has an intercept (pyfixest's rule).
    Level order: sorted.
    """
    from formulaic.materializers.types import FactorValues

    fname = _series_name(data, "factor")
    vname = _series_name(var2, "var") if var2 is not None else None
    refs, refs2 = _as_refs(ref), _as_refs(ref2)

    def encoder(
        values: Any,
        reduced_rank: bool,
        drop_rows: Sequence[int],
        encoder_state: dict[str, Any],
        model_spec: Any,
    ) -> Any:
        raw = values.__wrapped__ if isinstance(values, FactorValues) else values
        d = pd.Series(raw["__data__"] if vname is not None else raw, name=fname)
        d = d.drop(index=d.index[list(drop_rows)])
        if vname is None:
            dm = _dummies(d, refs, bin, reduced_rank, encoder_state, f"__i_{fname}__")
            dm.columns = [f"{fname}::{lv}" for lv in dm.columns]
            return FactorValues(
                dm,
                kind="categorical",
                spans_intercept=refs is None and not reduced_rank,
                column_names=tuple(dm.columns),
                format="{field}",
            )
        v = pd.Series(raw["__var2__"], name=vname)
        v = v.drop(index=v.index[list(drop_rows)])
        dm = _dummies(d, refs, bin, False, encoder_state, f"__i_{fname}__")
        numeric = pd.api.types.is_numeric_dtype(v) and not pd.api.types.is_bool_dtype(v)
        if refs2 is None and bin2 is None and numeric:
            out = dm.multiply(v.to_numpy(dtype=np.float64), axis=0)
            out.columns = [f"{fname}::{lv}:{vname}" for lv in dm.columns]
            return FactorValues(
                out,
                kind="numerical",
                spans_intercept=False,
                column_names=tuple(out.columns),
                format="{field}",
            )
        dm2 = _dummies(v, None, bin2, False, encoder_state, f"__i_{vname}__")
        prod = (dm.to_numpy()[:, :, None] * dm2.to_numpy()[:, None, :]).reshape(len(dm), -1)
        cols = [f"{fname}::{a}:{vname}::{b}" for a in dm.columns for b in dm2.columns]
        out = pd.DataFrame(prod, columns=cols, index=dm.index)
        r1 = refs[0] if refs else encoder_state[f"__i_{fname}__"]["levels"][0]
        r2 = refs2[0] if refs2 else encoder_state[f"__i_{vname}__"]["levels"][0]
        out = out.drop(columns=[f"{fname}::{r1}:{vname}::{r2}"], errors="ignore")
        return FactorValues(
            out,
            kind="categorical",
            spans_intercept=True,
            column_names=tuple(out.columns),
            format="{field}",
        )

    wrapped = {"__data__": data, "__var2__": var2} if var2 is not None else data
    return FactorValues(wrapped, kind="categorical", spans_intercept=var2 is None, encoder=encoder)


_CONTEXT: dict[str, Any] = {"log": log, "i": i}


# ---------------------------------------------------------------------------------------------
# columns: existence and types
# ---------------------------------------------------------------------------------------------
def _did_you_mean(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(columns), n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _missing_column_error(name: str, where: str, columns: Sequence[str]) -> ModelSpecError:
    return ModelSpecError(
        f"{where}: {name!r} is not a column of the data{_did_you_mean(name, columns)} "
        f"(columns: {', '.join(columns)})"
    )


def _formula_variables(parsed: ParsedFormula) -> tuple[set[str], set[str]]:
    """Names the two sides of the formula read from the data (lhs, rhs), per formulaic."""
    import formulaic

    out: list[set[str]] = []
    for side, text in (("outcome", parsed.lhs), ("regressors", parsed.rhs)):
        try:
            f = formulaic.Formula(f"{text} ~ 1" if side == "outcome" else text)
            variables = f.lhs.required_variables if side == "outcome" else f.required_variables
        except Exception as err:
            raise ModelSpecError(_syntax_message(parsed, side, text, err)) from err
        out.append({str(v) for v in variables if "value" in {str(r.value) for r in v.roles}})
    return out[0], out[1]


def _syntax_message(parsed: ParsedFormula, side: str, text: str, err: Exception) -> str:
    """Name the first term of ``text`` that formulaic cannot parse."""
    import formulaic

    bad = text
    for term in _split_top(text, "+"):
        try:
            formulaic.Formula(term if term else "1")
        except Exception:
            bad = term
            break
    # formulaic's messages carry ANSI colour codes and a second line pointing at the operator
    reason = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()
    return f"cannot parse the {side} term {bad!r} of {parsed.formula!r}: {reason[0] if reason else err}"


def _bare_terms(text: str) -> list[str]:
    """Column names used directly (not inside a call) in ``+``, ``:`` and ``*`` terms."""
    names = []
    for term in _split_top(text, "+"):
        for piece in re.split(r"[:*]", term):
            p = piece.strip()
            if _NAME.match(p):
                names.append(p)
    return names


def _check_types(frame: pl.DataFrame, parsed: ParsedFormula) -> None:
    """Outcome columns must be numeric; a regressor column used bare must not be numbers as text.

    A text regressor is a categorical variable (dummies, as formulaic and pyfixest treat it),
    unless its entries are numbers written as text or it mixes numbers with text such as
    ``"n/a"``: those are misuse and raise, naming the column.
    """

    lhs_cols = [c for c in _bare_terms(parsed.lhs) if c in frame.columns]
    if _NAME.match(parsed.lhs) and parsed.lhs in frame.columns:
        lhs_cols = [parsed.lhs]
    inner = re.findall(r"\(([A-Za-z_.][A-Za-z0-9_.]*)\)", parsed.lhs)
    for c in dict.fromkeys([*lhs_cols, *(c for c in inner if c in frame.columns)]):
        numeric_column(frame, c, "outcome")
    for c in dict.fromkeys(_bare_terms(parsed.rhs)):
        if c not in frame.columns:
            continue
        s = frame[c]
        if s.dtype == pl.String:
            vals = s.drop_nulls()
            num = vals.str.strip_chars().cast(pl.Float64, strict=False)
            n_num = int(num.is_not_null().sum())
            if n_num:
                # numbers as text, or numbers mixed with text: not a categorical variable
                numeric_column(frame, c, "regressor")


# ---------------------------------------------------------------------------------------------
# covariance requests in pyfixest's forms
# ---------------------------------------------------------------------------------------------
def formula_vcov(
    vcov: Any, parsed: ParsedFormula, cluster: str | Sequence[str] | None = None
) -> VcovSpec:
    """A pyfixest ``vcov`` argument for a formula -> the request (one parser: ``parse_vcov``).

    ``None`` is pyfixest's default ``"iid"`` (``cluster=`` gives CR1 by it); ``"twoway"``
    clusters by the first two fixed effects (fixest's meaning; ``a^b`` allowed); ``"DK"`` reads
    the time from the second fixed effect (fixest's ``panel.id``). HC2, HC3, CRV3 and NW are not
    offered.
    """
    if isinstance(vcov, str) and vcov.upper() == "TWOWAY":
        # fixest's "twoway": clustered by the first two fixed effects
        if len(parsed.fixed_effects) < 2:
            raise ModelSpecError("vcov='twoway' clusters by the first two fixed effects: give two")
        vcov = {"CRV1": parsed.fe_names[:2]}
    spec = parse_vcov(vcov, cluster=cluster, fe=parsed.fe_names, default="iid")
    if spec.kind == "DK":
        spec = dataclasses.replace(spec, time_name=_dk_time(parsed))
    return spec


# ---------------------------------------------------------------------------------------------
# the model frame
# ---------------------------------------------------------------------------------------------
@dataclass
class ModelFrame:
    """The columns a formula asks for, on the rows formulaic keeps.

    ``frame`` holds the outcome column ``y``, the regressor columns ``x`` (named as formulaic,
    hence pyfixest, names them), the fixed-effect, cluster, weight and offset columns;
    ``n_missing`` counts the rows dropped for missing values; ``intercept`` whether the
    formula has one.
    """

    frame: pl.DataFrame
    y: str
    x: list[str]
    fe: list[str]
    intercept: bool
    n_missing: int


def model_frame(
    parsed: ParsedFormula,
    data: Any,
    *,
    cluster_terms: Sequence[str] = (),
    extra: Sequence[str | None] = (),
) -> ModelFrame:
    """Evaluate ``parsed`` on ``data`` with formulaic (pyfixest's context) -> :class:`ModelFrame`.

    Checks first that every variable is a column (a did-you-mean for a misspelling) and that
    outcome and numeric regressor columns hold numbers.
    """
    import formulaic
    from formulaic.errors import FormulaicError

    frame = to_polars(data)
    cols = frame.columns
    lhs_vars, rhs_vars = _formula_variables(parsed)
    for name in sorted(lhs_vars):
        if name not in cols:
            raise _missing_column_error(name, f"outcome {parsed.lhs!r}", cols)
    for name in sorted(rhs_vars):
        if name not in cols and name not in _CONTEXT:
            raise _missing_column_error(name, f"regressors {parsed.rhs!r}", cols)
    fe_cols = [c for fe in parsed.fixed_effects for c in fe]
    fe_cols = list(dict.fromkeys([*fe_cols, *parsed.slope_columns]))
    for c in fe_cols:
        if c not in cols:
            raise _missing_column_error(c, f"fixed effects of {parsed.formula!r}", cols)
    cl_cols = [c.strip() for t in cluster_terms for c in t.split("^")]
    for c in cl_cols:
        if c not in cols:
            raise _missing_column_error(c, "vcov cluster variable", cols)
    for e in extra:
        if e is not None and e not in cols:
            raise _missing_column_error(e, "weights/offset argument", cols)
    _check_types(frame, parsed)

    # every column the formula text names (formulaic's required_variables can miss some inside
    # stateful transforms), converted to pandas for formulaic
    idents = set(re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", parsed.main)) | lhs_vars | rhs_vars
    used = [c for c in cols if c in idents]
    pdf = frame.select(used).to_pandas() if used else pd.DataFrame(index=range(frame.height))
    # NaN labels in float fixed-effect or cluster columns are missing (pyfixest factorizes them
    # to missing); polars keeps NaN as a level, so turn them into nulls here
    keys = list(dict.fromkeys([*fe_cols, *cl_cols, *(c for c in extra if c is not None)]))
    lab = frame.select(
        [pl.col(c).fill_nan(None) if frame[c].dtype.is_float() else pl.col(c) for c in keys]
    )
    try:
        mm = formulaic.Formula(parsed.main).get_model_matrix(
            pdf,
            ensure_full_rank=True,
            na_action="drop",
            output="pandas",
            context=dict(_CONTEXT),
        )
    except ModelSpecError:
        raise
    except (FormulaicError, SyntaxError, NameError, KeyError, TypeError, ValueError) as err:
        raise ModelSpecError(_materialize_message(parsed, err, cols)) from err
    lhs, rhs = mm.lhs, mm.rhs
    if lhs.shape[1] != 1:
        raise ModelSpecError(
            f"outcome {parsed.lhs!r} must be numeric: it expands to {lhs.shape[1]} columns"
        )
    rows = np.asarray(lhs.index, dtype=np.int64)
    y_name = str(lhs.columns[0])
    intercept = "Intercept" in rhs.columns
    x_names = [str(c) for c in rhs.columns if c != "Intercept"]
    out = pl.DataFrame(
        {y_name: lhs.iloc[:, 0].to_numpy(dtype=np.float64)}
        | {c: rhs[c].to_numpy(dtype=np.float64) for c in x_names}
    )
    lab = lab.select(pl.all().gather(rows))
    # a numeric column used both as a regressor and as cluster or weights (clustering by a
    # regressor): the model matrix already holds it, with the same values
    for c in [c for c in keys if c in out.columns]:
        same = lab[c].dtype.is_numeric() and np.array_equal(
            lab[c].cast(pl.Float64).to_numpy(), out[c].to_numpy(), equal_nan=True
        )
        if not same:
            raise ModelSpecError(
                f"{c!r} names both a model term and a fixed effect, cluster or weight column "
                "with other values: rename one of them"
            )
        lab = lab.drop(c)
    if lab.width:
        out = out.with_columns(lab)
    for t in cluster_terms:
        parts = [c.strip() for c in t.split("^")]
        if len(parts) > 1:
            out = out.with_columns(pl.struct(parts).rank("dense").alias(t))
    return ModelFrame(
        out, y_name, x_names, parsed.fe_names, intercept, frame.height - int(rows.size)
    )


def _materialize_message(parsed: ParsedFormula, err: Exception, cols: Sequence[str]) -> str:
    text = str(err)
    m = re.search(r"name '([^']+)' is not defined", text)
    if m:
        return (
            f"formula {parsed.formula!r} uses {m.group(1)!r}, which is neither a column nor a "
            f"function{_did_you_mean(m.group(1), cols)}"
        )
    return f"cannot evaluate formula {parsed.formula!r}: {text.splitlines()[0] if text else err}"


# ---------------------------------------------------------------------------------------------
# estimators
# ---------------------------------------------------------------------------------------------
def _check_ssc(ssc: Mapping[str, Any] | None) -> None:
    """Only pyfixest's default small-sample corrections are offered through ``ssc``."""
    if ssc is None:
        return
    default = {"k_adj": True, "k_fixef": "nonnested", "G_adj": True, "G_df": "min"}
    other = {k: v for k, v in ssc.items() if k in default and default[k] != v}
    unknown = [k for k in ssc if k not in default]
    if other or unknown:
        raise ModelSpecError(
            f"ssc {dict(ssc)}: only pyfixest's default corrections {default} are offered "
            "(the keyword API's small_sample and G_df arguments give the others)"
        )


def feols_formula(
    fml: str,
    data: Any,
    vcov: Any = None,
    *,
    cluster: str | Sequence[str] | None = None,
    weights: str | None = None,
    ssc: Mapping[str, Any] | None = None,
    fixef_rm: str = "singleton",
    fixef_tol: float | None = None,
    drop_intercept: bool = False,
    engine: Literal["native", "linearmodels"] = "native",
) -> RegressionResult:
    """Fixed-effects least squares from a fixest formula (pyfixest ``feols``).

    ``feols("y ~ x1 + x2 | unit + time", data, vcov={"CRV1": "unit"})``: the model, the
    estimator and the covariances are those of :func:`tradeimpact.models.linear.feols`
    (``beta = (X~'WX~)^{-1} X~'Wy~`` after partialling out the fixed effects); see the module
    docstring for the formula grammar and the ``vcov`` forms. ``vcov=None`` is pyfixest's
    default, ``"iid"``; ``cluster="unit"`` is ``vcov={"CRV1": "unit"}``. ``weights`` names a
    column of analytic weights; ``fixef_rm`` is
    ``"singleton"`` (default) or ``"none"``; ``fixef_tol`` the demeaning tolerance (1e-10).
    ``data`` may be an Ibis table: the fit is computed by its engine (columns and ``a:b``
    products on the right, fixed effects ``a`` and ``a^b``;
    :func:`tradeimpact.models.engines.feols_formula_ibis`); ``engine="linearmodels"`` fits
    with linearmodels (:func:`tradeimpact.models.engines.feols_linearmodels`).

    Returns
    -------
    RegressionResult
        With ``extra["formula"]`` the formula.
    """
    from tradeimpact.models.linear import feols as feols_kw

    parsed = parse_formula(fml)
    _check_ssc(ssc)
    spec = formula_vcov(vcov, parsed, cluster)
    from tradeimpact.core.ibis_engine import is_ibis_table

    if is_ibis_table(data):  # computed by the table's engine (tradeimpact.models.engines)
        from tradeimpact.models.engines import feols_formula_ibis

        if engine != "native":
            raise ModelSpecError(f"engine={engine!r} fits in memory: collect the Ibis table first")
        res = feols_formula_ibis(
            parsed, data, spec, weights=weights, drop_singletons=_fixef_rm(fixef_rm),
            fixef_tol=1e-10 if fixef_tol is None else fixef_tol, drop_intercept=drop_intercept,
            rhs_terms=_split_top(parsed.rhs, "+"),
        )  # fmt: skip
        res.extra["formula"] = fml
        return res
    cl_terms = list(spec.cluster_names)
    mf = model_frame(parsed, data, cluster_terms=cl_terms, extra=[weights])
    res = feols_kw(
        mf.frame,
        mf.y,
        mf.x,
        fe=parsed.fe_specs,
        weights=weights,
        vcov=spec,
        drop_singletons=_fixef_rm(fixef_rm),
        intercept=mf.intercept and not drop_intercept,
        fixef_tol=1e-10 if fixef_tol is None else fixef_tol,
        dropped={"missing": mf.n_missing},
        engine=engine,
    )
    res.extra["formula"] = fml
    return res


def _fixef_rm(value: str) -> bool:
    if value not in ("singleton", "none"):
        raise ModelSpecError(f"fixef_rm must be 'singleton' or 'none', not {value!r}")
    return value == "singleton"


def _dk_time(parsed: ParsedFormula) -> str:
    """Driscoll-Kraay reads the time column: the second fixed effect, as fixest's panel.id."""
    if len(parsed.fixed_effects) < 2 or len(parsed.fixed_effects[1]) != 1:
        raise ModelSpecError(
            "vcov='DK' through a formula needs 'y ~ x | unit + time' (time the second fixed "
            "effect); or use the keyword API's time argument"
        )
    return parsed.fixed_effects[1][0]


def fepois(
    fml: str,
    data: Any,
    vcov: Any = None,
    *,
    cluster: str | Sequence[str] | None = None,
    weights: str | None = None,
    offset: str | None = None,
    ssc: Mapping[str, Any] | None = None,
    fixef_rm: str = "singleton",
    iwls_tol: float = 1e-8,
    iwls_maxiter: int = 50,
    fixef_tol: float | None = None,
    collin_tol: float = COLLIN_TOL,
    separation_check: Sequence[str] | None = None,
    weights_type: str = "aweights",
) -> Any:
    """Poisson pseudo-maximum likelihood from a fixest formula (pyfixest ``fepois``).

    ``fepois("trade ~ rta | exp^year + imp^year + pair", data, vcov={"CRV1": "pair"})``: the
    estimator of :func:`tradeimpact.models.ppml.ppml` (IRLS with the fixed effects partialled
    out; Correia, Guimaraes & Zylkin 2020) on the columns the formula builds; see the module
    docstring for the grammar and ``vcov``. ``vcov=None`` is pyfixest's default, ``"iid"``;
    ``cluster="pair"`` is ``vcov={"CRV1": "pair"}``. ``separation_check`` as pyfixest's (``["fe", "ir"]`` -> ppml's ``["fe", "relu"]``); by
    default ppml's (fe, simple and relu). ``weights_type`` as pyfixest's (``"aweights"`` or
    ``"fweights"``: frequency weights, see ppml). The other arguments are ppml's.

    Returns
    -------
    PPMLResult
    """
    from tradeimpact.models.ppml import ppml as ppml_kw

    parsed = parse_formula(fml)
    _check_ssc(ssc)
    spec = formula_vcov(vcov, parsed, cluster)
    if spec.kind == "DK":
        raise ModelSpecError("fepois: vcov='DK' (Driscoll-Kraay) is offered for feols only")
    cl_terms = list(spec.cluster_names)
    mf = model_frame(parsed, data, cluster_terms=cl_terms, extra=[weights, offset])
    # one cluster among the formula's rows means at most one in the estimation sample: say so
    # with the column's name before the IRLS runs (the shared covariance code checks again)
    check_cluster_count(
        [mf.frame[t].drop_nulls().n_unique() for t in cl_terms] if cl_terms else [], cl_terms
    )
    sep: Sequence[str] = ("fe", "simple", "relu")
    if separation_check is not None:
        tr = {"fe": "fe", "ir": "relu", "relu": "relu", "simple": "simple", "mu": "mu"}
        bad = [s for s in separation_check if s not in tr]
        if bad:
            raise ModelSpecError(
                f"separation_check {bad} unknown: use 'fe', 'ir', 'simple' or 'mu'"
            )
        sep = [tr[s] for s in separation_check]
    if mf.intercept is False and not parsed.fixed_effects and not parsed.slopes:
        raise ModelSpecError("fepois without fixed effects needs an intercept")
    res = ppml_kw(
        mf.frame,
        mf.y,
        mf.x,
        parsed.fe_specs,
        weights=weights,
        offset=offset,
        vcov=spec,
        tol=iwls_tol,
        maxiter=iwls_maxiter,
        fixef_tol=1e-10 if fixef_tol is None else fixef_tol,
        collin_tol=collin_tol,
        drop_singletons=_fixef_rm(fixef_rm),
        separation=sep,
        weights_type=weights_type,
    )
    if mf.n_missing:
        res.dropped["missing"] = res.dropped.get("missing", 0) + mf.n_missing
    res.extra["formula"] = fml
    return res


def _is_formula(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    return (bool(args) and isinstance(args[0], str)) or "fml" in kwargs


def feols(*args: Any, **kwargs: Any) -> RegressionResult:
    """Fixed-effects least squares: formula first (pyfixest) or keywords (programs).

    ``feols("y ~ x | fe", data, vcov=...)`` -> :func:`feols_formula`;
    ``feols(data, y, x, fe=..., vcov=...)`` -> :func:`tradeimpact.models.linear.feols`
    (unchanged).
    """
    if _is_formula(args, kwargs):
        return feols_formula(*args, **kwargs)
    from tradeimpact.models.linear import feols as feols_kw

    return feols_kw(*args, **kwargs)


def ppml(*args: Any, **kwargs: Any) -> Any:
    """PPML: formula first (``ppml("trade ~ rta | exp^year + imp^year", data)``, as pyfixest's
    ``fepois``) -> :func:`fepois`; or keywords (``ppml(data, y, x, fe, ...)``) ->
    :func:`tradeimpact.models.ppml.ppml` (unchanged)."""
    if _is_formula(args, kwargs):
        return fepois(*args, **kwargs)
    from tradeimpact.models.ppml import ppml as ppml_kw

    return ppml_kw(*args, **kwargs)
