"""Notebook review: cell-aware diffs against git (or the last checkpoint), comment threads
anchored to cells, suggestions, approvals — stored as one JSON file per event under
``.mlops/reviews/`` so that a commit shares them.

    from jupyter_mlops.review import diff, open_review
    d = diff("train.ipynb")                  # working copy against HEAD
    d.summary, d.cells, d.to_nbdime()
    review = open_review("train.ipynb")
    review.comment(d.cells[0].cell_id, "why 0.1?", line=3)
    review.approve()

Importing this package is cheap (standard library only): its modules load on first use
(nbformat when a suggestion is applied).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..verb import Capability, dispatched, lazy_exports

if TYPE_CHECKING:
    from .diffs import changes, diff
    from .export_html import ExportedReview, export_review, review_html
    from .files import diff_files
    from .merge import Conflict, MergeResult, merge
    from .model import CellDiff, DiffFilters, DiffSummary, LineDiff, NotebookDiff, Revision
    from .reviews import Comment, Review, Thread, open_review, reviews_under

__all__ = [
    "CAPABILITY",
    "CellDiff",
    "Comment",
    "Conflict",
    "DiffFilters",
    "DiffSummary",
    "ExportedReview",
    "LineDiff",
    "MergeResult",
    "NotebookDiff",
    "Review",
    "Revision",
    "Thread",
    "changes",
    "diff",
    "diff_files",
    "export_review",
    "merge",
    "open_review",
    "review_html",
    "reviews_under",
]

__getattr__, __dir__ = lazy_exports(globals(), {
    **dict.fromkeys(["changes", "diff"], "diffs"),
    **dict.fromkeys(["ExportedReview", "export_review", "review_html"], "export_html"),
    "diff_files": "files",
    **dict.fromkeys(["Conflict", "MergeResult", "merge"], "merge"),
    **dict.fromkeys(["CellDiff", "DiffFilters", "DiffSummary", "LineDiff", "NotebookDiff",
                     "Revision"], "model"),
    **dict.fromkeys(["Comment", "Review", "Thread", "open_review", "reviews_under"],
                    "reviews"),
})

_VERBS = "jupyter_mlops.review.verbs"
_MERGE_VERBS = "jupyter_mlops.review.merge_verbs"
CAPABILITY = Capability("review", "Review", __name__, verbs=(
    dispatched(_VERBS, "diff",
               "cell-aware diff of a notebook against git (or its checkpoint)"),
    dispatched(_VERBS, "review",
               "list, show, comment on, approve or request changes to a notebook change"),
    dispatched(_MERGE_VERBS, "merge",
               "three-way merge of notebooks cell by cell (git's merge-driver contract)"),
    dispatched(_MERGE_VERBS, "git-config",
               "make this tool git's merge driver (and difftool) for notebooks"),
))
