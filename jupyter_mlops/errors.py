"""The core's exceptions; the adapters map them to 4xx/5xx, UsageError or exit codes."""

from __future__ import annotations


class MLOpsError(Exception):
    """Base of every error the core raises on purpose; its message is one line for the user."""

    #: HTTP status the REST layer answers with.
    http_status = 500


class UserInputError(MLOpsError):
    """The caller asked for something malformed or impossible (bad argument, bad file)."""

    http_status = 400


class ConfigError(UserInputError):
    """A configuration file or variable is unreadable or has a bad value."""


class NotFoundError(UserInputError):
    """The named thing (run, view, deployment, file) does not exist."""

    http_status = 404


class PathOutsideRootError(UserInputError):
    """A path resolves outside the project or server root."""

    http_status = 403


class BackendUnavailableError(MLOpsError):
    """A backend (tracking server, git, GPU) could not be reached or used."""

    http_status = 503
