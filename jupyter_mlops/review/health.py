"""Health of notebook review: git, and the folder the review threads are written to."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..checks import Check, check_git, check_writable, find, health_check, plural
from ..config import Config


@health_check("git")
def git(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    return check_git(config.project_root, timeout)


@health_check("review store")
def review_store(config: Config, timeout: float, environ: Mapping[str, str]) -> Check:
    """The review folder is writable; how many notebooks have reviews and open threads; the
    files there that are not review events (a warning that names them)."""
    writable = check_writable("review store", config["review.path"], config.project_root)
    if not writable.ok or "://" in config["review.path"]:
        return writable
    from .reviews import named, review_counts, unreadable_line

    counts = review_counts(config.path("review.path"))
    if not counts.reviews and not counts.unreadable:
        return writable
    message = writable.message
    if counts.reviews:
        message += (f"; {plural(counts.reviews, 'review')}, "
                    f"{plural(counts.open_threads, 'open thread')}")
    if counts.unreadable:
        message += "; " + unreadable_line([named(p, config.project_root)
                                           for p in counts.unreadable])
        return Check("review store", True, message, level="warning")
    return Check("review store", True, message)


CHECKS = (git, review_store)


def summary(config: Config, checks: Sequence[Check]) -> str:
    """Git and the branch reviews compare against."""
    return find(checks, "git").message
