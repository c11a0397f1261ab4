"""Errors of the write stage. All of them are raised before ``out/`` is touched."""


class OutputError(Exception):
    """Base class: the output tree cannot be rendered, checked or written (a tool error, exit code 2)."""


class LayoutError(OutputError):
    """Objects or workspaces cannot be laid out as files: a bad name, or two of them map to one path."""


class InvalidTree(OutputError):
    """A tree handed to ``write_tree``/``check_tree`` is malformed or its ownership lock does not match it."""


class OwnershipConflict(OutputError):
    """Writing would overwrite or shadow a file or directory that kaito-compile did not generate."""


class WriterBusy(OutputError):
    """Another process holds the writer lock of this output directory."""


class WriteFailed(OutputError):
    """A system call failed while writing (a full disk, a read-only file system): the message names the path and
    the reason. The swap is one rename, so ``out/`` is still the old tree; the staging area was removed."""
