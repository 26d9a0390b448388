"""Plain-data wire between the trusted kernel (T) and the student's kernel (S) (issue #12, see verdicts.py).

Both kernels import this module. What crosses is JSON only: builtin scalars and containers, NumPy arrays and
scalars, pandas Series/DataFrame/Index with their dtypes and index, tagged references to functions and objects
that stay on their own side, and descriptions of matplotlib Axes. Nothing is pickled and nothing received is
evaluated: :func:`decode` builds only builtin, NumPy and pandas objects from JSON values, and resolves references
through the receiver's own tables.

Only the trusted side's decoding matters for soundness: the student's side may replace anything here (it runs in
the student's interpreter), which only changes what its own functions appear to return.

Transport: a side that needs the other side sends a JSON message through ``input()`` with :data:`PREFIX`; the
grader (socialcredit.verdicts) relays it as the other side's input reply (the student's side waits for requests in
:func:`serve_loop`). While waiting for its answer, a side may receive a request instead (a callback); it serves it
and answers through ``input()`` again (:meth:`Runtime.wait`).
"""
from __future__ import annotations

import builtins
import hashlib
import json
import math
import sys
import types

PREFIX = "\x1esocialcredit-verdict:"
MIME = "application/x-socialcredit-verdict+json"
REQUESTS = ("call", "get", "getattr", "getitem", "len", "iter", "str", "repr", "with_globals")
#: builtin exception types the trusted side may re-raise by name (anything else becomes StudentError)
_EXC_OK = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)
           and issubclass(getattr(builtins, n), Exception)}


class WireError(BaseException):
    """The other side's answer could not be received or decoded: the test cell must fail.

    A BaseException, so that a test's ``except Exception`` around a call cannot swallow it."""


class StudentError(Exception):
    """The student's function raised an exception that is not one of Python's builtin ones."""


def _np():
    import numpy
    return numpy


def _pd():
    import pandas
    return pandas


# ------------------------------------------------------------------------------------------------ encoding

def encode(x, rt):
    """A JSON-able description of ``x``; functions and other objects become references into ``rt``'s tables."""
    t = type(x)
    if x is None or t is bool or t is str or t is int:
        return x
    if t is float:
        return x if math.isfinite(x) else {"$": "float", "v": repr(x)}
    if t is list:
        return [encode(v, rt) for v in x]
    if t is tuple:
        return {"$": "tuple", "v": [encode(v, rt) for v in x]}
    if t is dict:
        return {"$": "dict", "k": [encode(k, rt) for k in x], "v": [encode(v, rt) for v in x.values()]}
    if t in (set, frozenset):
        return {"$": t.__name__, "v": [encode(v, rt) for v in x]}
    if "numpy" in sys.modules:
        np = _np()
        if isinstance(x, np.generic):
            return {"$": "npscalar", "c": _col(np.asarray([x]), rt)}
        if t is np.ndarray:
            return _cached(x, lambda: {"$": "ndarray", "shape": list(x.shape), "c": _col(x.reshape(-1), rt)}, x.size,
                           rt)
    if "pandas" in sys.modules:
        pd = _pd()
        if x is pd.NA:
            return {"$": "NA"}
        if x is pd.NaT:
            return {"$": "NaT"}
        if t is pd.Series:
            return _cached(x, lambda: {"$": "series", "name": encode(x.name, rt), "index": _index(x.index, rt),
                                       "c": _col(x.array, rt)}, len(x), rt)
        if t is pd.DataFrame:
            return _cached(x, lambda: {"$": "frame", "columns": _index(x.columns, rt), "index": _index(x.index, rt),
                                       "cols": [_col(x.iloc[:, i].array, rt) for i in range(x.shape[1])]}, x.size, rt)
        if isinstance(x, pd.Index):
            return _index(x, rt)
        if t is pd.Timestamp:
            return {"$": "ts", "v": x.isoformat(), "tz": None if x.tz is None else str(x.tz)}
        if t is pd.Timedelta:
            return {"$": "td", "v": int(x.value)}
        if t is pd.Interval:
            return {"$": "interval", "l": encode(x.left, rt), "r": encode(x.right, rt), "closed": x.closed}
    cls = type(x)
    if getattr(cls, "__module__", "").startswith("socialcredit.") and hasattr(cls, "__dataclass_fields__"):
        import dataclasses
        return {"$": "dataclass", "module": cls.__module__, "name": cls.__qualname__,
                "fields": {f.name: encode(getattr(x, f.name), rt) for f in dataclasses.fields(x)}}
    # subclasses of builtin scalars: their plain value (what a str()/int()/float() would compare)
    for base in (bool, int, float, str):
        if isinstance(x, base):
            return encode(base(x) if base is not str else str.__str__(x), rt)
    return rt.export(x)


#: T sends a table or array of at least this many values once per student's kernel; later only its key
_CACHE_MIN = 5000
_CACHE_MAX_BYTES = 256 * 2 ** 20
#: tables T remembers having sent (each held with a copy of it): the most recent ones only
_MEMO_MAX = 16


def _cached(x, build, size, rt):
    """(T) ``build()``, the encoding of the table or array ``x``, or a reference to the copy S already holds of the
    same encoding (its BLAKE2 digest).

    Only the trusted side's tables go this way (T -> S), so the cache only decides what the student's function
    is given; S hands each call a fresh copy of its decoded table, so a function that changes its input in
    place does not change the next call's. A key S does not know is a wire failure (the cell fails).
    T remembers the object it last sent under each key, with a copy of it: the same object sent again, unchanged
    (compared with the copy, a few ms), is sent by its key without being encoded again."""
    if rt.role != "T" or size < _CACHE_MIN:
        return build()
    seen = rt.sent_objects.get(id(x))
    if seen is not None and seen[0] is x and seen[2] in rt.sent:
        try:
            if _same_as(x, seen[1]):
                return {"$": "cached", "key": seen[2]}
        except Exception:  # noqa: BLE001 (compared the slow way below)
            pass
    d = build()
    import hashlib
    text = json.dumps(d)
    key = hashlib.blake2b(text.encode(), digest_size=20).hexdigest()
    if key not in rt.sent:
        if rt.sent_bytes + len(text) > _CACHE_MAX_BYTES:
            return d
        rt.sent.add(key)
        rt.sent_bytes += len(text)
        out = {"$": "cache", "key": key, "v": d}
    else:
        out = {"$": "cached", "key": key}
    try:
        snap = _snapshot(x)
    except Exception:  # noqa: BLE001
        snap = None
    if snap is not None:
        rt.sent_objects.pop(id(x), None)
        rt.sent_objects[id(x)] = (x, snap, key)  # (holding x: its id is not reused by another object)
        while len(rt.sent_objects) > _MEMO_MAX:  # (a test that sends a new table on every call keeps only the last
            rt.sent_objects.pop(next(iter(rt.sent_objects)))  # few, each with its copy, alive in T)
    return out


def _index(idx, rt):
    pd = _pd()
    if type(idx) is pd.RangeIndex:
        return {"$": "range", "start": idx.start, "stop": idx.stop, "step": idx.step, "name": encode(idx.name, rt)}
    if isinstance(idx, pd.MultiIndex):
        return {"$": "multi", "names": [encode(n, rt) for n in idx.names],
                "levels": [_col(idx.get_level_values(i).array, rt) for i in range(idx.nlevels)]}
    return {"$": "index", "name": encode(idx.name, rt), "c": _col(idx.array, rt)}


def _col(values, rt):
    """One column of values (a NumPy array or a pandas ExtensionArray) with its dtype."""
    np = _np()
    if type(values).__name__ == "NumpyExtensionArray":
        values = values.to_numpy()
    dtype = values.dtype
    if isinstance(dtype, np.dtype):
        values = np.asarray(values)
        if dtype.kind in "fmM" and dtype.itemsize in (2, 4, 8):
            # floats and times as their bytes (base64), much faster than JSON numbers; integers stay JSON lists
            # (shorter: most are small). Every bit pattern of these dtypes is a plain value (the decoder also
            # takes integers this way, never booleans: a byte other than 0/1 makes a bool that is True yet sums to 2)
            import base64
            return {"dtype": dtype.str, "b": base64.b64encode(np.ascontiguousarray(values).tobytes()).decode("ascii")}
        if dtype.kind in "biu":
            return {"dtype": dtype.str, "v": values.tolist()}
        if dtype.kind == "f":
            return {"dtype": dtype.str, "v": [v if math.isfinite(v) else repr(v) for v in values.tolist()], "f": 1}
        if dtype.kind in "mM":
            return {"dtype": dtype.str, "v": values.view("i8").tolist()}
        if dtype.kind == "U":
            return {"dtype": dtype.str, "v": values.tolist()}
        if dtype.kind == "O":
            vals = values.tolist()
            if _types(vals) <= _SAME_IN_JSON:  # (what encode() returns unchanged: no call per value)
                return {"dtype": "|O", "v": vals}
            return {"dtype": "|O", "v": [encode(v, rt) for v in vals]}
        raise TypeError(f"cannot send an array of dtype {dtype}")
    pd = _pd()
    if isinstance(dtype, pd.CategoricalDtype):
        return {"dtype": "category", "cats": _index(dtype.categories, rt), "ordered": bool(dtype.ordered),
                "codes": np.asarray(values.codes).tolist()}
    name = str(dtype)
    if isinstance(dtype, pd.StringDtype):  # the common case, without a call per value
        vals = values.tolist() if hasattr(values, "tolist") else list(values)
        if _types(vals) <= _STR:
            return {"dtype": name, "v": vals}
    if isinstance(dtype, (pd.StringDtype, pd.BooleanDtype, pd.DatetimeTZDtype)) or name in _NULLABLE:
        mask = np.asarray(pd.isna(values))
        return {"dtype": name, "v": [None if m else encode(v, rt) for v, m in zip(values.tolist() if hasattr(values, "tolist") else list(values), mask)]}
    if isinstance(dtype, pd.IntervalDtype):
        return {"dtype": "interval", "v": [encode(v, rt) for v in list(values)]}
    raise TypeError(f"cannot send values of dtype {name}")


def _types(values):
    """The set of the exact types of ``values`` (computed without a Python-level loop)."""
    return set(map(type, values))


_STR = {str}
_STR_OR_NONE = {str, type(None)}
_INT_OR_BOOL = {int, bool}
_NUMBER = {int, float}
#: values that encode() and decode() return as they are (a float may be non-finite: it goes through encode)
_SAME_IN_JSON = {str, int, bool, type(None)}

_NULLABLE = {"Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64", "Float32", "Float64",
             "boolean", "string", "str"}
#: a time-zone datetime dtype: a unit and a zone name (letters, digits, _ + - /), nothing else
_TZ_DTYPE = __import__("re").compile(r"datetime64\[(s|ms|us|ns), [A-Za-z][A-Za-z0-9_+\-/]{0,63}\]")
#: the course's dataclasses that may cross: frozen value types only, rebuilt by their constructor
_DATACLASSES = {("socialcredit.world", "WorldParams"), ("socialcredit.simulate.params", "SimParams"),
                ("socialcredit.simulate.environment", "Observation"),
                ("socialcredit.simulate.environment", "Decisions")}


# ------------------------------------------------------------------------------------------------ decoding

def decode(d, rt):
    """The value a JSON description stands for: builtin, NumPy or pandas objects, or ``rt``'s proxies."""
    if d is None or type(d) in (bool, int, str):
        return d
    if type(d) is float:
        return d
    if type(d) is list:
        return [decode(v, rt) for v in d]
    if type(d) is not dict:
        raise WireError(f"unexpected {type(d).__name__} in a reply")
    tag = d.get("$")
    if tag == "float":
        if d["v"] not in ("nan", "inf", "-inf"):
            raise WireError("bad float")
        return float(d["v"])
    if tag == "tuple":
        return tuple(decode(v, rt) for v in _list(d["v"]))
    if tag == "dict":
        return {decode(k, rt): decode(v, rt) for k, v in zip(_list(d["k"]), _list(d["v"]), strict=True)}
    if tag == "set":
        return {decode(v, rt) for v in _list(d["v"])}
    if tag == "frozenset":
        return frozenset(decode(v, rt) for v in _list(d["v"]))
    if tag == "npscalar":
        return _uncol(d["c"], rt)[0]
    if tag == "ndarray":
        np = _np()
        arr = _uncol(d["c"], rt)
        shape = tuple(int(s) for s in _list(d["shape"]))
        return np.asarray(arr).reshape(shape)
    pd = _pd() if tag in ("NA", "NaT", "series", "frame", "ts", "td", "range", "multi", "index", "interval") else None
    if tag == "NA":
        return pd.NA
    if tag == "NaT":
        return pd.NaT
    if tag == "ts":
        ts = pd.Timestamp(str(d["v"]))
        tz = d.get("tz")
        if tz is not None:
            if type(tz) is not str or not _TZ_DTYPE.fullmatch(f"datetime64[ns, {tz}]"):
                raise WireError("bad time zone")
            ts = ts.tz_convert(tz)
        return ts
    if tag == "td":
        return pd.Timedelta(int(d["v"]))
    if tag == "interval":
        if d["closed"] not in ("left", "right", "both", "neither"):
            raise WireError("bad interval")
        return pd.Interval(decode(d["l"], rt), decode(d["r"], rt), closed=d["closed"])
    if tag in ("range", "multi", "index"):
        return _unindex(d, rt)
    if tag == "series":
        values = _uncol(d["c"], rt)
        return pd.Series(values, index=_unindex(d["index"], rt), name=decode(d["name"], rt),
                         dtype=getattr(values, "dtype", None), copy=False)
    if tag == "frame":
        columns = _unindex(d["columns"], rt)
        index = _unindex(d["index"], rt)
        cols = [_uncol(c, rt) for c in _list(d["cols"])]
        if len(cols) != len(columns):
            raise WireError("a table's columns and data differ in number")
        frame = pd.DataFrame({i: pd.Series(c, index=index, dtype=getattr(c, "dtype", None), copy=False)
                              for i, c in enumerate(cols)}, index=index)
        frame.columns = columns
        return frame
    if tag in ("cache", "cached") and rt.role == "S":  # (never accepted by T)
        key = str(d["key"])
        if tag == "cache":
            rt.cache[key] = decode(d["v"], rt)
        if key not in rt.cache:
            raise WireError("a table the student's side does not hold")
        obj = rt.cache[key]
        return obj.copy(deep=True) if hasattr(obj, "iloc") else obj.copy()
    if tag == "dataclass":
        import importlib
        module, name = str(d["module"]), str(d["name"])
        if not module.startswith("socialcredit.") or not name.isidentifier():
            raise WireError("a dataclass from outside the course package")
        if (module, name) not in _DATACLASSES:
            raise WireError(f"not a dataclass that may cross: {module}.{name}")
        cls = getattr(importlib.import_module(module), name, None)
        params = getattr(cls, "__dataclass_params__", None)
        if not isinstance(cls, type) or params is None or not params.frozen:
            raise WireError("not a frozen dataclass of the course package")
        return cls(**{str(k): decode(v, rt) for k, v in d["fields"].items()})
    return rt.resolve(d)


def _list(v):
    if type(v) is not list:
        raise WireError("expected a list")
    return v


def _unindex(d, rt):
    pd = _pd()
    tag = d.get("$") if type(d) is dict else None
    if tag == "range":
        return pd.RangeIndex(int(d["start"]), int(d["stop"]), int(d["step"]), name=decode(d["name"], rt))
    if tag == "multi":
        return pd.MultiIndex.from_arrays([_uncol(c, rt) for c in _list(d["levels"])],
                                         names=[decode(n, rt) for n in _list(d["names"])])
    if tag == "index":
        values = _uncol(d["c"], rt)
        return pd.Index(values, name=decode(d["name"], rt), dtype=getattr(values, "dtype", None), copy=False)
    raise WireError("expected an index")


def _uncol(c, rt):
    np = _np()
    if type(c) is not dict or type(c.get("dtype")) is not str:
        raise WireError("expected a column")
    dtype = c["dtype"]
    if dtype == "|O":
        vals = _list(c["v"])
        out = np.empty(len(vals), dtype=object)
        if _types(vals) <= _SAME_IN_JSON:  # (what decode() returns unchanged: no call per value)
            out[:] = vals
            return out
        for i, v in enumerate(vals):
            out[i] = decode(v, rt)
        return out
    if dtype == "category":
        pd = _pd()
        cats = _unindex(c["cats"], rt)
        return pd.Categorical.from_codes(np.asarray(_list(c["codes"]), dtype="i8"), categories=cats,
                                         ordered=bool(c["ordered"]))
    if dtype == "interval":
        return _pd().arrays.IntervalArray([decode(v, rt) for v in _list(c["v"])])
    if dtype in _NULLABLE or _TZ_DTYPE.fullmatch(dtype):
        pd = _pd()
        vals = _list(c["v"])
        if not _types(vals) <= _STR_OR_NONE:  # (only text and missing values skip decode)
            vals = [None if v is None else decode(v, rt) for v in vals]
        try:
            return pd.array(vals, dtype=pd.api.types.pandas_dtype(dtype))
        except WireError:
            raise
        except Exception as exc:  # noqa: BLE001 (a zone that does not exist, values of the wrong kind)
            raise WireError(f"a column of dtype {dtype!r} that cannot be built: {type(exc).__name__}") from None
    try:
        npdt = np.dtype(dtype)
    except TypeError:
        raise WireError(f"unknown dtype {dtype!r}") from None
    if "b" in c:
        import base64
        import binascii
        if npdt.kind not in "iufmM" or npdt.itemsize not in (1, 2, 4, 8) or type(c["b"]) is not str:
            raise WireError(f"dtype {dtype!r} is not accepted as bytes")
        try:
            raw = base64.b64decode(c["b"], validate=True)
        except (binascii.Error, ValueError):
            raise WireError("a column's bytes are not base64") from None
        if len(raw) % npdt.itemsize:
            raise WireError("a column's bytes do not fit its dtype")
        return np.frombuffer(raw, dtype=npdt).copy()
    vals = _list(c["v"])
    if npdt.kind in "biu":
        if not _types(vals) <= _INT_OR_BOOL:
            raise WireError("non-integer in an integer column")
        return np.asarray(vals, dtype=npdt)
    if npdt.kind == "f":
        out = [float(v) if v in ("nan", "inf", "-inf") and type(v) is str else v for v in vals]
        if not _types(out) <= _NUMBER:
            raise WireError("non-number in a float column")
        return np.asarray(out, dtype=npdt)
    if npdt.kind in "mM":
        return np.asarray(vals, dtype="i8").view(npdt)
    if npdt.kind == "U":
        if not _types(vals) <= _STR:
            raise WireError("non-text in a text column")
        return np.asarray(vals, dtype=npdt)
    raise WireError(f"dtype {dtype!r} is not accepted")


# ---------------------------------------------------------------------------------------- matplotlib Axes

_LOC = ("data", "axes fraction", "figure fraction", "offset points", "offset pixels", "axes points",
        "figure points", "figure pixels", "axes pixels", "textcoords")


def describe_axes(ax, rt):
    """What a test reads from an Axes, as plain data (the student's side, after the call)."""
    from matplotlib.patches import Rectangle
    ax.figure.canvas.draw()

    def tr(artist):
        t = artist.get_transform()
        for name, ref in (("data", ax.transData), ("x", ax.get_xaxis_transform()),
                          ("y", ax.get_yaxis_transform()), ("axes", ax.transAxes)):
            if t == ref:
                return name
        return "other"

    np = _np()
    lines = [{"x": encode(np.asarray(ln.get_xdata()), rt), "y": encode(np.asarray(ln.get_ydata()), rt),
              "marker": str(ln.get_marker()), "ls": str(ln.get_linestyle()), "label": str(ln.get_label()),
              "tr": tr(ln)} for ln in ax.lines]
    texts = []
    for t in ax.texts:
        item = {"s": t.get_text(), "pos": [float(v) for v in t.get_position()]}
        if hasattr(t, "xy"):
            item["xy"] = [float(v) for v in t.xy]
            item["xyc"] = t.xycoords if isinstance(t.xycoords, str) and t.xycoords in _LOC else "data"
            item["tc"] = t.anncoords if isinstance(t.anncoords, str) and t.anncoords in _LOC else item["xyc"]
        texts.append(item)
    legend = ax.get_legend()
    return {
        "touched": bool(ax.lines or ax.patches or ax.collections or ax.texts or legend or ax.get_title()
                        or ax.get_xlabel() or ax.get_ylabel()),
        "patches": [[float(p.get_x()), float(p.get_y()), float(p.get_width()), float(p.get_height())]
                    for p in ax.patches if isinstance(p, Rectangle)],
        "lines": lines,
        "colls": [np.asarray(c.get_offsets(), dtype=float).reshape(-1, 2).tolist() for c in ax.collections],
        "texts": texts,
        "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
        "xticks": [float(v) for v in ax.get_xticks()], "xticklabels": [t.get_text() for t in ax.get_xticklabels()],
        "yticks": [float(v) for v in ax.get_yticks()], "yticklabels": [t.get_text() for t in ax.get_yticklabels()],
        "xlim": [float(v) for v in ax.get_xlim()], "ylim": [float(v) for v in ax.get_ylim()],
        "legend": None if legend is None else [t.get_text() for t in legend.get_texts()],
    }


def replay_axes(ax, d, rt):
    """Draw a description from :func:`describe_axes` on the trusted side's own Axes."""
    from matplotlib.collections import PathCollection
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle
    np = _np()
    if type(d) is not dict or not d.get("touched"):
        return ax
    for x, y, w, h in _list(d["patches"]):
        ax.add_patch(Rectangle((float(x), float(y)), float(w), float(h)))
    for ln in _list(d["lines"]):
        xs, ys = decode(ln["x"], rt), decode(ln["y"], rt)
        line = Line2D(xs, ys, marker=str(ln["marker"]), linestyle=str(ln["ls"]), label=str(ln["label"]))
        trs = {"data": ax.transData, "x": ax.get_xaxis_transform(), "y": ax.get_yaxis_transform()}
        line.set_transform(trs.get(ln["tr"], ax.transAxes))
        ax.add_line(line)
    for offs in _list(d["colls"]):
        arr = np.asarray(offs, dtype=float).reshape(-1, 2)
        ax.add_collection(PathCollection([], offsets=arr, offset_transform=ax.transData))
    for t in _list(d["texts"]):
        if "xy" in t:
            xyc = t["xyc"] if t["xyc"] in _LOC else "data"
            tc = t["tc"] if t["tc"] in _LOC else xyc
            ax.annotate(str(t["s"]), xy=tuple(float(v) for v in t["xy"]), xytext=tuple(float(v) for v in t["pos"]),
                        xycoords=xyc, textcoords=tc)
        else:
            ax.text(float(t["pos"][0]), float(t["pos"][1]), str(t["s"]))
    ax.set_title(str(d["title"]))
    ax.set_xlabel(str(d["xlabel"]))
    ax.set_ylabel(str(d["ylabel"]))
    ax.set_xticks([float(v) for v in d["xticks"]], [str(v) for v in d["xticklabels"]])
    ax.set_yticks([float(v) for v in d["yticks"]], [str(v) for v in d["yticklabels"]])
    ax.set_xlim(*[float(v) for v in d["xlim"]])
    ax.set_ylim(*[float(v) for v in d["ylim"]])
    if d["legend"] is not None:
        labels = [str(v) for v in _list(d["legend"])]
        ax.legend([Line2D([], []) for _ in labels], labels)
    return ax


# ------------------------------------------------------------------------------------------------ transport

#: a message of at least this many characters crosses compressed (zlib, base64): the grader and both kernels'
#: Jupyter layers then carry about a fifth of the bytes, as one string without escapes
_PACK_MIN = 64 * 1024
_MAX_UNPACKED = 64 * 2 ** 20


def pack(msg):
    """A wire message as text: its JSON, or ``{"op": <op>, "z": <base64 of the zlib'd JSON>}`` when that is large.
    Either way the text starts with the message's op, which is all the grader reads of it."""
    text = json.dumps(msg)
    if len(text) < _PACK_MIN:
        return text
    import base64
    import zlib
    return json.dumps({"op": msg["op"], "z": base64.b64encode(zlib.compress(text.encode(), 1)).decode("ascii")})


def unpack(text, limit=_MAX_UNPACKED):
    """The message ``pack`` made; a packed message must unpack to at most ``limit`` bytes (a small packed message
    may stand for a huge one: it is never inflated past that) and to a message with the same op."""
    msg = json.loads(text)
    if type(msg) is not dict or "z" not in msg:
        return msg
    import base64
    import binascii
    import zlib
    if set(msg) != {"op", "z"} or type(msg["z"]) is not str:
        raise WireError("a packed message with other fields")
    try:
        raw = zlib.decompressobj()
        data = raw.decompress(base64.b64decode(msg["z"], validate=True), limit + 1)
    except (binascii.Error, zlib.error, ValueError):
        raise WireError("a packed message that does not unpack") from None
    if len(data) > limit or raw.unconsumed_tail:
        raise WireError(f"a message larger than {limit // 2 ** 20} MB once unpacked")
    inner = json.loads(data)
    if type(inner) is not dict or inner.get("op") != msg["op"]:
        raise WireError("a packed message whose op differs from its label")
    return inner


# ------------------------------------------------------------------------------------------------ runtime

class Runtime:
    """One side's tables of exported objects and proxies, and its half of the request/answer protocol."""

    def __init__(self, role):
        self.role = role            # "T" (trusted) or "S" (student)
        self.exports = {}           # id -> object of this side the other side may use
        self._ids = {}              # id(object) -> export id
        self.standins = {}          # (S) T's Axes id -> stand-in Axes of this call
        self.failures = []          # (T) wire failures seen (the grader fails the cell on any)
        self.answer_names = ()      # (T) names the student's answer cells define (for _reference overrides)
        self._portable = {}         # (T) export id -> what S needs to run that instructor function itself, or None
        self._local = {}            # (S) export id -> S's own copy of a portable instructor function
        self.sent, self.sent_bytes = set(), 0   # (T) keys of the tables S holds (see _cached)
        self.sent_objects = {}      # (T) id -> (a table T sent, a copy of it then, its key)
        self.cache = {}             # (S) key -> a table T sent
        self.user_ns = None
        # the largest message the other side may send, once decompressed: bounded for T (what the student's side
        # sends); the student's side takes whatever T sends (T's tables are the course's)
        self.max_unpacked = _MAX_UNPACKED if role == "T" else 2 ** 31

    # --- references
    def export(self, obj):
        if self.role == "T":
            if getattr(obj, "_tv_axes", False) or _is_axes(obj):
                return {"$": "axes", "id": self._export(obj)}
            if isinstance(obj, (RemoteFunction, RemoteObject)):
                return {"$": "back", "id": obj._tv_id}
            if callable(obj):
                k = self._export(obj)
                if k not in self._portable:
                    self._portable[k] = portable(obj)
                return {"$": "fn", "id": k, **(self._portable[k] or {})}
            raise TypeError(f"cannot send a {type(obj).__name__} to the student's code")
        # student side
        if _is_axes(obj):
            for k, ax in self.standins.items():
                if ax is obj:
                    return {"$": "axes", "id": k}
            return {"$": "newaxes", "d": describe_axes(obj, self)}
        back = getattr(obj, "__tv_back__", None)
        if type(back) is int:
            return {"$": "back", "id": back}
        return {"$": "fn" if callable(obj) else "obj", "id": self._export(obj), "type": type(obj).__name__}

    def _export(self, obj):
        key = id(obj)
        if key in self._ids and self.exports.get(self._ids[key]) is obj:
            return self._ids[key]
        k = len(self.exports) + 1
        self.exports[k] = obj
        self._ids[key] = k
        return k

    def resolve(self, d):
        tag, k = d.get("$"), d.get("id")
        if tag == "back":
            if self.role == "T":  # the grader's own functions are never an answer: a student's side that hands one
                # back (a kept reference function, as its answer or under an answer's name) is not judged by it
                raise WireError("the student's side sent back one of the grader's own functions")
            if k not in self.exports:
                raise WireError("a reference to an unknown object")
            return self.exports[k]
        if self.role == "T":
            if tag == "fn" and d.get("type") == "function":
                return RemoteFunction(self, int(k), "function")
            if tag == "fn":
                return RemoteObject(self, int(k), str(d.get("type", "object")))
            if tag == "obj":
                return RemoteObject(self, int(k), str(d.get("type", "object")))
            if tag == "axes":
                ax = self.exports.get(k)
                if not _is_axes(ax):
                    raise WireError("a reference to an unknown Axes")
                return ax
            if tag == "newaxes":
                import matplotlib.pyplot as plt
                _fig, ax = plt.subplots()
                return replay_axes(ax, d["d"], self)
            raise WireError(f"unknown tag {tag!r}")
        if tag == "fn":
            if "src" in d:
                if k not in self._local:
                    self._local[k] = _rebuild(d) or self._stub(int(k))
                return self._local[k]
            return self._stub(int(k))
        if tag == "axes":
            if k not in self.standins:
                import matplotlib.pyplot as plt
                _fig, self.standins[k] = plt.subplots()
            return self.standins[k]
        raise WireError(f"unknown tag {tag!r}")

    def _stub(self, k):
        rt = self

        def remote(*args, **kwargs):
            return rt.call(k, args, kwargs)
        remote.__tv_back__ = k
        return remote

    # --- transport
    def send(self, msg):
        text = builtins.input(PREFIX + pack(msg))
        try:
            reply = unpack(text, self.max_unpacked)
        except WireError:
            raise
        except Exception:  # noqa: BLE001 (not JSON, or JSON nested too deep to parse: RecursionError)
            raise WireError("the answer was not JSON (or was nested too deep)") from None
        if type(reply) is not dict:
            raise WireError("the answer was not a message")
        return reply

    def wait(self, msg):
        """Send a request; serve the other side's requests until its answer comes; return the answer."""
        reply = self.send(msg)
        while reply.get("op") in REQUESTS:
            reply = self.send(self.handle(reply))
        if reply.get("op") == "fail":
            raise WireError(str(reply.get("why", "the student's side did not answer")))
        if reply.get("op") not in ("ok", "err"):
            raise WireError("an unexpected message")
        return reply

    def call(self, k, args, kwargs, op="call", **extra):
        msg = {"op": op, "id": k, "args": encode(list(args), self), "kwargs": encode(dict(kwargs), self), **extra}
        if self.role == "T" and op == "call":
            msg["cur"] = self._current_axes()
            msg["over"] = self._overrides()
        try:
            reply = self.wait(msg)
        except WireError as exc:
            self.failures.append(str(exc))
            raise
        if reply["op"] == "err":
            name, text = str(reply.get("type")), str(reply.get("msg"))
            if self.role == "T":
                cls = getattr(builtins, name, None) if name in _EXC_OK else None
                raise (cls or StudentError)(text if cls else f"{name}: {text}")
            raise RuntimeError(f"{name}: {text}")
        try:
            if self.role == "T":
                for key, desc in (reply.get("axes") or {}).items():
                    ax = self.exports.get(int(key))
                    if _is_axes(ax):
                        replay_axes(ax, desc, self)
                # the student's function changed an argument in place: T's object changes the same way
                for where, desc in (reply.get("mutated") or {}).items():
                    target = kwargs[where[2:]] if where.startswith("k:") else args[int(where)]
                    _mirror(target, None if desc is None else decode(desc, self))
            return decode(reply.get("v"), self)
        except WireError as exc:
            self.failures.append(str(exc))
            raise
        except Exception as exc:  # noqa: BLE001 (T's own decoding of the other side's data failed)
            if self.role == "T":
                self.failures.append(f"undecodable answer: {exc}")
                raise WireError(f"the student's side sent an answer that cannot be decoded ({exc})") from None
            raise

    def _current_axes(self):
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None or not plt.get_fignums():
            return None
        return self._export(plt.gca())

    def _overrides(self):
        ns = self.user_ns or {}
        out = {}
        for name in self.answer_names:
            v = ns.get(name)
            if v is not None and callable(v) and not isinstance(v, (RemoteFunction, RemoteObject)) \
                    and not isinstance(v, type):
                out[name] = self.export(v)
        return out

    # --- serving the other side's requests
    def handle(self, req):
        try:
            return {"op": "ok", **self._handle(req)}
        except WireError as exc:
            self.failures.append(str(exc))
            return {"op": "fail", "why": str(exc)}
        except Exception as exc:  # the function raised: the caller re-raises it
            return {"op": "err", "type": type(exc).__name__, "msg": str(exc)[:2000]}

    def _encode_answer(self, value):
        """(student side) The function's result as JSON data; a result the wire cannot carry is a wire failure (the
        trusted side fails the cell), not an exception of the student's function."""
        try:
            return encode(value, self)
        except WireError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise WireError(f"the answer cannot be sent across the process boundary ({type(exc).__name__}: {exc})") \
                from None

    def _handle(self, req):
        op, k = req.get("op"), req.get("id")
        if self.role == "T":
            if op != "call" or k not in self.exports or not callable(self.exports[k]) or _is_axes(self.exports[k]):
                raise WireError(f"the student's side asked for something it may not ({op})")
            args = decode(req.get("args"), self)
            kwargs = decode(req.get("kwargs"), self)
            return {"v": encode(self.exports[k](*args, **kwargs), self)}
        # student side
        ns = self.user_ns if self.user_ns is not None else _user_ns()
        if op == "get":
            out = {}
            for n in req["names"]:
                try:
                    out[n] = encode(ns[n], self) if n in ns else {"$": "missing"}
                except Exception as exc:  # noqa: BLE001 (that name stays unbound on the trusted side)
                    out[n] = {"$": "missing", "why": f"{type(exc).__name__}: {exc}"}
            return {"v": out}
        obj = self.exports[k]
        if op == "call":
            args, kwargs = decode(req.get("args"), self), decode(req.get("kwargs"), self)
            over = {n: decode(v, self) for n, v in (req.get("over") or {}).items()}
            saved = {n: ns[n] for n in over if n in ns}
            if req.get("cur") is not None:
                import matplotlib.pyplot as plt
                plt.sca(self.resolve({"$": "axes", "id": req["cur"]}))
            ns.update(over)
            watched = _watch(args, kwargs, self)
            try:
                result = obj(*args, **kwargs)
            finally:
                for n in over:
                    if n in saved:
                        ns[n] = saved[n]
                    else:
                        ns.pop(n, None)
            answer = {"v": self._encode_answer(result)}
            changed = _changed(watched, args, kwargs, self)
            if changed:
                answer["mutated"] = changed
            return answer
        if op == "with_globals":
            names = decode(req.get("kwargs"), self)
            if not isinstance(obj, types.FunctionType):
                return {"v": encode(obj, self)}
            new = types.FunctionType(obj.__code__, {**obj.__globals__, **names}, obj.__name__, obj.__defaults__,
                                     obj.__closure__)
            new.__kwdefaults__ = obj.__kwdefaults__
            return {"v": encode(new, self)}
        if op == "getattr":
            return {"v": self._encode_answer(getattr(obj, str(req["name"])))}
        if op == "getitem":
            return {"v": self._encode_answer(obj[decode(req["key"], self)])}
        if op == "len":
            return {"v": len(obj)}
        if op == "iter":
            return {"v": self._encode_answer(list(obj))}
        if op in ("str", "repr"):
            return {"v": (str if op == "str" else repr)(obj)}
        raise ValueError(f"unknown request {op!r}")


# ------------------------------------------------------------------- instructor functions S may run itself
#
# A callback (a test's statistic handed to the student's permutation_null, a reference function of _reference or
# _with_refs) normally stays in T: each call crosses the wire twice, about 4 ms, and Lesson 3 makes thousands.
# When the function is plain instructor code that needs nothing of T's but modules on this list (no closure, no
# decorator, no other global), T sends its source and S runs its own copy. This gives the student nothing: its
# result only goes into the student's own code, whose answer T still decodes and judges, and the student could
# compute the same function itself; the test's source was in the student's kernel in the one-kernel grader anyway.
# Anything else (a function that records its calls in a T list, draws, or uses a T helper) stays in T.
_PORTABLE_MODULES = {"numpy", "pandas", "math", "statistics", "scipy", "sklearn", "fairlearn", "itertools",
                     "functools", "operator", "collections", "re"}


def portable(fn):
    """(T) {"src", "name", "lam", "mods"} for S to rebuild ``fn`` from, or None if it must stay in T."""
    try:
        import ast
        import linecache
        import symtable
        if type(fn) is not types.FunctionType or fn.__closure__ or fn.__code__.co_flags & 0x180:  # coroutine/gen
            return None
        code = fn.__code__
        text = "".join(linecache.getlines(code.co_filename))
        if not text:
            return None
        lam = fn.__name__ == "<lambda>"
        nodes = [n for n in ast.walk(ast.parse(text))
                 if getattr(n, "lineno", None) == code.co_firstlineno
                 and ((lam and isinstance(n, ast.Lambda))
                      or (not lam and isinstance(n, ast.FunctionDef) and n.name == fn.__name__
                          and not n.decorator_list))]
        if len(nodes) != 1:
            return None
        src = ast.unparse(nodes[0])
        # the rebuilt function must be this one (a guard against a stale source): same names, arguments, constants
        ns = {}
        rebuilt = eval(compile(src, "<portable>", "eval"), {}) if lam else \
            (exec(compile(src, "<portable>", "exec"), ns) or ns.get(fn.__name__))

        def shape(c):
            return (c.co_names, c.co_varnames, c.co_argcount, c.co_kwonlyargcount, c.co_posonlyargcount,
                    [shape(k) if isinstance(k, types.CodeType) else repr(k) for k in c.co_consts])
        if shape(rebuilt.__code__) != shape(code) or rebuilt.__defaults__ != fn.__defaults__:
            return None
        free = set()
        tables = [symtable.symtable(src, "<portable>", "exec")]
        while tables:
            t = tables.pop()
            for sym in t.get_symbols():
                if (t.get_type() == "module" and sym.is_referenced()) or \
                        (t.get_type() != "module" and sym.is_global()):
                    free.add(sym.get_name())
            tables.extend(t.get_children())
        mods = {}
        for name in free - {fn.__name__}:
            v = fn.__globals__.get(name, _MISSING)
            if v is _MISSING:
                if not hasattr(builtins, name):
                    return None
            elif isinstance(v, types.ModuleType) and v.__name__.split(".")[0] in _PORTABLE_MODULES:
                mods[name] = v.__name__
            else:
                return None
        return {"src": src, "name": fn.__name__, "lam": lam, "mods": mods}
    except Exception:  # noqa: BLE001 (it then stays in T)
        return None


_MISSING = object()


def _rebuild(d):
    """(S) Its own copy of a portable instructor function; None if it cannot be built here."""
    try:
        import importlib
        ns = {"__builtins__": builtins}
        for name, mod in d.get("mods", {}).items():
            ns[str(name)] = importlib.import_module(str(mod))
        src = str(d["src"])
        if d.get("lam"):
            fn = eval(compile(src, "<instructor>", "eval"), ns)
        else:
            exec(compile(src, "<instructor>", "exec"), ns)
            fn = ns[str(d["name"])]
        fn.__tv_back__ = int(d["id"])  # sent back to T, it is T's own function again
        return fn
    except Exception:  # noqa: BLE001
        return None


# ------------------------------------------------------------------- arguments the student's function changes
#
# S works on its own copies of T's arguments. A function that changes an argument in place (drop(..., inplace=True),
# list.append) must change T's too, or a test that checks "the caller's table is unchanged" would pass a function
# that changes it. S fingerprints each mutable argument before the call and again after; T applies what changed.

def _mutable(x):
    t = type(x)
    if t in (list, dict, set):
        return True
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    return (np is not None and t is np.ndarray) or (pd is not None and t in (pd.DataFrame, pd.Series))


def _fingerprint(value, rt):
    """A digest of a mutable argument's content, types and labels; cheap for tables (no JSON of their values)."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    h = hashlib.blake2b(digest_size=16)
    t = type(value)
    try:
        if pd is not None and t in (pd.DataFrame, pd.Series):
            labels = list(value.columns) if t is pd.DataFrame else [value.name]
            dtypes = list(value.dtypes) if t is pd.DataFrame else [value.dtype]
            h.update(repr((t.__name__, value.shape, [str(x) for x in labels], [str(x) for x in dtypes],
                           [str(x) for x in value.index.names])).encode())
            h.update(np.asarray(pd.util.hash_pandas_object(value, index=True)).tobytes())
            if t is pd.DataFrame:  # hash_pandas_object combines a row's columns: a swap of two columns' values shows
                for c in range(value.shape[1]):  # only per column
                    h.update(np.asarray(pd.util.hash_pandas_object(value.iloc[:, c], index=False)).tobytes())
            return h.hexdigest()
        if np is not None and t is np.ndarray and value.dtype.kind not in "OV":
            h.update(repr((value.shape, value.dtype.str)).encode())
            h.update(np.ascontiguousarray(value).tobytes())
            return h.hexdigest()
    except Exception:  # noqa: BLE001 (values pandas cannot hash, e.g. lists in cells): the slow, exact way
        pass
    h.update(json.dumps(encode(value, rt), sort_keys=True).encode())
    return h.hexdigest()


def _watch(args, kwargs, rt):
    """(student side) What each mutable argument was before the call: a copy of a table or array (a few ms, where a
    content hash of a 20,000-row table took 50-80 ms), else a fingerprint."""
    out = {}
    for where, value in [(str(i), a) for i, a in enumerate(args)] + [(f"k:{k}", v) for k, v in kwargs.items()]:
        if _mutable(value):
            try:
                out[where] = _snapshot(value)
                if out[where] is None:
                    out[where] = _fingerprint(value, rt)
            except Exception:  # noqa: BLE001
                pass
    return out


def _snapshot(value):
    """(student side) ("copy", a deep copy) of a table or a non-object array, None for anything else."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    t = type(value)
    if (pd is not None and t in (pd.DataFrame, pd.Series)) or \
            (np is not None and t is np.ndarray and value.dtype.kind not in "OV"):
        if pd is not None and t in (pd.DataFrame, pd.Series) and any(
                d == object for d in (value.dtypes if t is pd.DataFrame else [value.dtype])):
            return None  # (object columns may hold lists or dicts, which a deep copy shares: fingerprinted)
        return ("copy", value.copy())
    return None


def _same_as(value, before):
    """(student side) Whether ``value`` still equals its snapshot: type, shape, labels, dtypes and every value (a NaN
    equals a NaN in the same place)."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    old = before[1]
    t = type(old)
    if type(value) is not t or value.shape != old.shape:
        return False
    if t is np.ndarray:
        return value.dtype == old.dtype and bool(np.array_equal(value, old, equal_nan=value.dtype.kind in "fc"))
    if t is pd.DataFrame:
        if not (value.columns.equals(old.columns) and list(value.columns) == list(old.columns)
                and list(value.dtypes) == list(old.dtypes)):
            return False
    elif value.dtype != old.dtype or value.name != old.name:
        return False
    return (value.index.equals(old.index) and value.index.dtype == old.index.dtype
            and list(value.index.names) == list(old.index.names) and value.equals(old))


def _changed(watched, args, kwargs, rt):
    """(student side) {where: new encoding or None (cannot be sent)} for the arguments the call changed."""
    out = {}
    for where, before in watched.items():
        value = kwargs[where[2:]] if where.startswith("k:") else args[int(where)]
        try:
            if _same_as(value, before) if type(before) is tuple else _fingerprint(value, rt) == before:
                continue
            out[where] = encode(value, rt)
        except Exception:  # noqa: BLE001
            out[where] = None
    return out


def _mirror(target, new):
    """(trusted side) Make T's argument what the student's function made of S's copy of it."""
    np, pd = sys.modules.get("numpy"), sys.modules.get("pandas")
    t = type(target)
    if new is not None and pd is not None and t in (pd.DataFrame, pd.Series) and type(new) is t:
        target._update_inplace(new)
    elif new is not None and t is list and type(new) is list:
        target[:] = new
    elif new is not None and t in (dict, set) and type(new) is t:
        target.clear()
        target.update(new)
    elif new is not None and np is not None and t is np.ndarray and type(new) is np.ndarray \
            and new.shape == target.shape and new.dtype == target.dtype:
        target[...] = new
    else:
        raise WireError(f"the student's function changed its {t.__name__} argument in a way the grader cannot "
                        "reproduce")


def _is_axes(obj):
    mod = sys.modules.get("matplotlib.axes")
    return mod is not None and isinstance(obj, mod.Axes)


def _user_ns():
    from IPython import get_ipython
    return get_ipython().user_ns


class RemoteFunction:
    """(trusted side) A function of the student's, called across the wire."""

    def __init__(self, rt, k, type_name="function"):
        self._tv_rt, self._tv_id, self._tv_type = rt, k, type_name

    def __call__(self, *args, **kwargs):
        return self._tv_rt.call(self._tv_id, args, kwargs)

    def with_globals(self, **names):
        """The same function, with some of its global names bound to (trusted) callables: ``_with_refs``."""
        return self._tv_rt.call(self._tv_id, (), names, op="with_globals")

    def __repr__(self):
        return f"<the student's {self._tv_type} (graded across a process boundary)>"


class RemoteObject(RemoteFunction):
    """(trusted side) Another object of the student's: attributes, items, calls, len and iteration over the wire."""

    __call__ = RemoteFunction.__call__

    def __getattr__(self, name):
        if name.startswith("_tv_") or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)
        return self._tv_rt.call(self._tv_id, (), {}, op="getattr", name=name)

    def __getitem__(self, key):
        return self._tv_rt.call(self._tv_id, (), {}, op="getitem", key=encode(key, self._tv_rt))

    def __len__(self):
        return self._tv_rt.call(self._tv_id, (), {}, op="len")

    def __iter__(self):
        return iter(self._tv_rt.call(self._tv_id, (), {}, op="iter"))

    def __str__(self):
        return self._tv_rt.call(self._tv_id, (), {}, op="str")

    def __repr__(self):
        return self._tv_rt.call(self._tv_id, (), {}, op="repr")


# ------------------------------------------------------------------------------------------ entry points

_RUNTIME = {}


def runtime(role):
    if role not in _RUNTIME:
        _RUNTIME[role] = Runtime(role)
    return _RUNTIME[role]


def _serve_one(req, rt):
    """(student's kernel) The answer to one top-level request of the trusted side, as a JSON-able message."""
    top = req.get("op") == "call"
    if top:
        import matplotlib.pyplot as plt
        plt.close("all")
        rt.standins = {}
    answer = rt.handle(req)
    if top and answer.get("op") == "ok" and rt.standins:
        answer["axes"] = {str(k): describe_axes(ax, rt) for k, ax in rt.standins.items()}
    return answer


def serve_loop():
    """(student's kernel) Answer the trusted side's requests until the grader says ``done``.

    One execute_request for all the requests of one trusted cell: each answer goes out as the prompt of the
    ``input()`` that then waits for the next request (the first prompt says ``ready``). The student's code runs
    here and may break this loop; the trusted side then gets no usable answer and its cell fails."""
    rt = runtime("S")
    rt.user_ns = _user_ns()
    out = {"op": "ready"}
    while True:
        try:
            text_out = pack(out)
        except Exception as exc:  # noqa: BLE001
            text_out = json.dumps({"op": "fail", "why": f"the student's side could not answer: {exc}"})
        text = builtins.input(PREFIX + text_out)
        try:
            req = unpack(text, rt.max_unpacked)
            if type(req) is not dict:
                raise ValueError("not a message")
            if req.get("op") == "done":
                return
            out = _serve_one(req, rt)
        except Exception as exc:  # noqa: BLE001 (anything: the trusted side sees a failure)
            out = {"op": "fail", "why": f"the student's side could not answer: {type(exc).__name__}: {exc}"}


def bind(names, answer_names):
    """(trusted kernel) Bind the student's values of ``names`` in this namespace (functions as proxies)."""
    from IPython import get_ipython
    rt = runtime("T")
    ns = rt.user_ns = get_ipython().user_ns
    rt.answer_names = tuple(answer_names)
    if not names:
        return
    try:
        reply = rt.wait({"op": "get", "names": list(names)})
        if reply["op"] != "ok" or type(reply.get("v")) is not dict:
            raise WireError("the student's side did not give its names")
        for name in names:
            d = reply["v"].get(name)
            if type(d) is dict and d.get("$") == "missing":
                continue
            ns[name] = decode(d, rt)
    except WireError as exc:
        rt.failures.append(str(exc))
    except Exception as exc:  # noqa: BLE001
        rt.failures.append(f"undecodable names: {type(exc).__name__}: {exc}")
