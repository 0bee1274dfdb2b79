"""Line and intra-line diffs of strings, in two shapes from one alignment: the contract's
``LineDiff`` list (for people) and nbdime's string diff ops (lines of ``splitlines(True)``,
changed lines patched character by character, as ``nbdime.patch`` expects)."""

from __future__ import annotations

from difflib import SequenceMatcher

from .model import DiffEntry, InlineOp, LineDiff

#: Lines longer than this are compared whole (a character diff of them costs too much).
MAX_INLINE_CHARS = 400
#: Two lines this similar (difflib ratio) are one changed line; less, a line replaced.
LINE_SIMILARITY = 0.5



def split_lines(text: str) -> list[str]:
    """Lines as nbdime splits strings: ``str.splitlines(keepends=True)``."""
    return text.splitlines(True)


def _strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def _char_matcher(a: str, b: str) -> SequenceMatcher[str] | None:
    """A character matcher for two similar lines, or None when they are not alike."""
    if len(a) > MAX_INLINE_CHARS or len(b) > MAX_INLINE_CHARS:
        return None
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < LINE_SIMILARITY or matcher.quick_ratio() < LINE_SIMILARITY \
            or matcher.ratio() < LINE_SIMILARITY:
        return None
    return matcher


def _inline(matcher: SequenceMatcher[str]) -> list[InlineOp]:
    parts: list[InlineOp] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            parts.append(InlineOp("equal", (i1, i2), (j1, j2)))
            continue
        if i2 > i1:
            parts.append(InlineOp("delete", (i1, i2), None))
        if j2 > j1:
            parts.append(InlineOp("insert", None, (j1, j2)))
    return parts


def _char_ops(matcher: SequenceMatcher[str], b: str) -> list[DiffEntry]:
    """nbdime ops turning one line into another, character keys (add before remove)."""
    ops: list[DiffEntry] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("insert", "replace"):
            ops.append({"op": "addrange", "key": i1, "valuelist": b[j1:j2]})
        if tag in ("delete", "replace"):
            ops.append({"op": "removerange", "key": i1, "length": i2 - i1})
    return ops


def _opcodes(a: list[str], b: list[str]) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes for two line lists; the common head and tail are matched first, so
    the usual one-block change (a re-run output, an edited line) needs no SequenceMatcher, nor
    do two blocks without a line in common."""
    n, m = len(a), len(b)
    start = 0
    while start < n and start < m and a[start] == b[start]:
        start += 1
    end = 0
    while end < n - start and end < m - start and a[n - 1 - end] == b[m - 1 - end]:
        end += 1
    codes: list[tuple[str, int, int, int, int]] = []
    if start:
        codes.append(("equal", 0, start, 0, start))
    i2, j2 = n - end, m - end
    if i2 - start and j2 - start and (i2 - start > 1 or j2 - start > 1) and \
            not set(a[start:i2]).isdisjoint(b[start:j2]):
        for tag, x1, x2, y1, y2 in SequenceMatcher(None, a[start:i2], b[start:j2],
                                                   autojunk=False).get_opcodes():
            codes.append((tag, x1 + start, x2 + start, y1 + start, y2 + start))
    elif i2 - start and j2 - start:
        codes.append(("replace", start, i2, start, j2))
    elif i2 - start:
        codes.append(("delete", start, i2, start, start))
    elif j2 - start:
        codes.append(("insert", start, start, start, j2))
    if end:
        codes.append(("equal", i2, n, j2, m))
    return codes


def diff_lines(base: str, head: str, *, want_lines: bool = True, by_char: bool = True
               ) -> tuple[list[LineDiff], list[DiffEntry]]:
    """The per-line view (when ``want_lines``) and nbdime's ops for ``base`` → ``head``;
    changed lines patched character by character when ``by_char``, else replaced whole."""
    lines: list[LineDiff] = []
    ops: list[DiffEntry] = []
    if base == head:
        if want_lines:
            lines = [LineDiff("equal", n, n, t, t) for n, t in enumerate(base.splitlines(), 1)]
        return lines, ops
    a, b = split_lines(base), split_lines(head)
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        if tag == "equal":
            if want_lines:
                lines.extend(LineDiff("equal", i1 + k + 1, j1 + k + 1, _strip_eol(a[i1 + k]),
                                      _strip_eol(a[i1 + k])) for k in range(i2 - i1))
            continue
        if tag == "insert":
            ops.append({"op": "addrange", "key": i1, "valuelist": b[j1:j2]})
            if want_lines:
                lines.extend(LineDiff("insert", None, j + 1, None, _strip_eol(b[j]))
                             for j in range(j1, j2))
            continue
        if tag == "delete":
            ops.append({"op": "removerange", "key": i1, "length": i2 - i1})
            if want_lines:
                lines.extend(LineDiff("delete", i + 1, None, _strip_eol(a[i]), None)
                             for i in range(i1, i2))
            continue
        if by_char:
            _replace(a, b, i1, i2, j1, j2, lines, ops, want_lines)
            continue
        ops.append({"op": "addrange", "key": i1, "valuelist": b[j1:j2]})
        ops.append({"op": "removerange", "key": i1, "length": i2 - i1})
    return lines, ops


def _replace(a: list[str], b: list[str], i1: int, i2: int, j1: int, j2: int,
             lines: list[LineDiff], ops: list[DiffEntry], want_lines: bool) -> None:
    """A block of changed lines: pairs of similar lines are patched by character; the rest
    are added and removed whole."""
    n, m = i2 - i1, j2 - j1
    matchers = [_char_matcher(a[i1 + k], b[j1 + k]) for k in range(min(n, m))]
    if n == m and all(matchers):
        for k, matcher in enumerate(matchers):
            assert matcher is not None
            ops.append({"op": "patch", "key": i1 + k, "diff": _char_ops(matcher, b[j1 + k])})
            if want_lines:
                lines.append(_changed_line(a[i1 + k], b[j1 + k], i1 + k + 1, j1 + k + 1,
                                           True))
        return
    ops.append({"op": "addrange", "key": i1, "valuelist": b[j1:j2]})
    ops.append({"op": "removerange", "key": i1, "length": n})
    if not want_lines:
        return
    for k in range(max(n, m)):
        if k < n and k < m:
            lines.append(_changed_line(a[i1 + k], b[j1 + k], i1 + k + 1, j1 + k + 1,
                                       matchers[k] is not None))
        elif k < n:
            lines.append(LineDiff("delete", i1 + k + 1, None, _strip_eol(a[i1 + k]), None))
        else:
            lines.append(LineDiff("insert", None, j1 + k + 1, None, _strip_eol(b[j1 + k])))


def _changed_line(a: str, b: str, base_line: int, head_line: int, alike: bool) -> LineDiff:
    """A line paired with its new version; one that differs only in its line ending (the
    last line, given a newline) reads as equal."""
    ta, tb = _strip_eol(a), _strip_eol(b)
    if ta == tb:
        return LineDiff("equal", base_line, head_line, ta, tb)
    return LineDiff("replace", base_line, head_line, ta, tb, _inline_of(a, b) if alike else None)


def _inline_of(a: str, b: str) -> list[InlineOp] | None:
    """Character parts of two similar lines, offsets within the lines without their ends."""
    matcher = _char_matcher(_strip_eol(a), _strip_eol(b))
    return _inline(matcher) if matcher is not None else None


def all_lines(text: str, op: str) -> list[LineDiff]:
    """Every line of an added (``insert``) or removed (``delete``) cell."""
    if op == "insert":
        return [LineDiff("insert", None, i + 1, None, _strip_eol(t))
                for i, t in enumerate(split_lines(text))]
    return [LineDiff("delete", i + 1, None, _strip_eol(t), None)
            for i, t in enumerate(split_lines(text))]


def string_ops(base: str, head: str) -> list[DiffEntry]:
    """nbdime's ops for one string (outputs' text, metadata values): by line, changed lines
    replaced whole (a character diff of every re-run output would cost the most of all)."""
    return diff_lines(base, head, want_lines=False, by_char=False)[1]
