"""jsii's node kernel started without its relay process, and without one eager message format per value.

How jsii runs node, and what this changes (measured in bench/PROFILE.md, round 4):

* **No relay.** jsii starts ``node bin/jsii-runtime.js``, which only spawns a second node running
  ``lib/program.js`` (the kernel, which talks on its file descriptor 3) and copies every request and every answer
  between its own stdin/stdout and that descriptor. Here the kernel is started directly, with one end of a
  socket pair as its descriptor 3: each of a build's thousands of round trips skips two copies through another
  process's event loop, and the build has one node process fewer (0.65 s of CPU per 1,000 bench workspaces; the
  cold build's peak RSS went from 377 to 323 MB).
* **Lazy assertion message.** The kernel's ``computeSerializationType`` asserts that it was given type
  information with a message built eagerly by ``util.inspect`` of that information, and it is called for every
  value of every ``any``-typed result (a chart's JSON) with a type object made for that call, which its cache
  never holds: formatting messages that are never shown was a fifth of node's time. The patched kernel builds the
  message only when the assertion fails, with the same text.

Its files live in one directory per kernel, ``kaito-compile-kernel-*`` in the temporary directory: the kernel's
script and the assemblies node unpacks (its ``TMPDIR``, 30 MB). The directory is removed when the kernel stops; one
left by a build killed with SIGKILL, which nothing of it could remove, is removed by the next build that starts a
kernel (:func:`reap_abandoned`).

Both reach into jsii's private internals, so they are used only with the jsii version the speedups are verified
with, and only when the kernel script's bytes are the verified ones (:data:`VERIFIED_PROGRAM_SHA256`) and the
patched expression occurs exactly once. Anything else (another jsii, ``JSII_RUNTIME`` set, no ``sh``, a kernel
that does not answer) starts jsii's own way: a slower build, never a failed one. ``KAITO_COMPILE_JSII_SPEEDUPS=0``
turns this off with the other speedups; tests/emit/test_jsii_speedups.py checks both ways write the same bytes.

:func:`install` must run before ``cdk8s`` is first imported: importing it loads its assembly, which starts node.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.resources
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .jsii_speedups import DISABLE_ENV, VERIFIED_JSII

VERIFIED_PROGRAM_SHA256 = "ae39a922c041b41d2fc0acc0164699f779b7afd48f50aad05b3f70d3b96a0841"
PROGRAM = "lib/program.js"
EAGER_ASSERTION = "(0,B.default)(null!=e,`Kernel error: expected type information, got ${(0,K.inspect)(e)}`)"
LAZY_ASSERTION = "null!=e||(0,B.default)(!1,`Kernel error: expected type information, got ${(0,K.inspect)(e)}`)"
# sh makes the socket the kernel's descriptor 3 (subprocess can only pass a descriptor under its own number)
LAUNCH = 'exec "$0" "$@" 3<&0 0</dev/null'
ROOT_PREFIX = "kaito-compile-kernel-"
LOCK = ".lock"
ABANDONED_AFTER_S = 60  # a younger directory may be one whose owner has not locked it yet

@functools.cache
def install() -> bool:
    """Make jsii start its kernel directly and patched (once per process); whether it will."""
    return _install()


def _install() -> bool:
    if os.environ.get(DISABLE_ENV) == "0" or os.environ.get("JSII_RUNTIME") or shutil.which("sh") is None:
        return False
    try:
        import jsii
        import jsii._embedded.jsii as embedded
        from jsii._kernel.providers.process import _NodeProcess

        if jsii.__version__ != VERIFIED_JSII:
            return False
        files = _kernel_files(embedded)
        if files is None or not all(hasattr(_NodeProcess, name) for name in ("start", "handshake", "stop")):
            return False
    except Exception:  # noqa: BLE001 - jsii's internals changed: it starts node its own way
        return False
    _NodeProcess.start = _direct_start(_NodeProcess.start, files)
    return True


def _kernel_files(embedded) -> dict[str, bytes] | None:
    """jsii's embedded runtime files by relative path, the kernel patched; None unless it is the verified one."""
    files = {path: importlib.resources.files(embedded).joinpath(resource).read_bytes()
             for resource, path in embedded.EMBEDDED_FILES.items()}
    program = files.get(PROGRAM)
    if program is None or hashlib.sha256(program).hexdigest() != VERIFIED_PROGRAM_SHA256:
        return None
    text = program.decode()
    if text.count(EAGER_ASSERTION) != 1:
        return None
    files[PROGRAM] = text.replace(EAGER_ASSERTION, LAZY_ASSERTION).encode()
    return files


def _direct_start(original_start, files: dict[str, bytes]):
    def start(self) -> None:
        try:
            _start_kernel(self, files)
        except Exception as exc:  # noqa: BLE001 - start it jsii's way instead, and say so
            sys.stderr.write(f"kaito-compile: warning: jsii's kernel could not be started directly ({exc}); "
                             f"starting it through jsii's relay (slower).\n")
            original_start(self)

    return start


def _start_kernel(node_process, files: dict[str, bytes]) -> None:
    """What jsii's ``_NodeProcess.start`` does, with ``node lib/program.js`` on a socket pair instead of the relay."""
    import atexit

    root = node_process._ctx_stack.enter_context(_kernel_root())
    directory = root / "runtime"
    for path, data in files.items():
        (directory / path).parent.mkdir(parents=True, exist_ok=True)
        (directory / path).write_bytes(data)
    (root / "tmp").mkdir()
    environment = {**os.environ, "JSII_AGENT": f"Python/{sys.version.split()[0]}", "TMPDIR": str(root / "tmp")}
    ours, theirs = socket.socketpair()
    with theirs:
        process = subprocess.Popen(
            ["sh", "-c", LAUNCH, environment.get("JSII_NODE", "node"), "--max-old-space-size=4069",
             str(directory / PROGRAM)], stdin=theirs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=environment)
    console = process.stdout
    process.stdin, process.stdout, process.stderr = ours.makefile("wb"), ours.makefile("rb"), console
    node_process._process = process
    started = _Started(process, ours, root, threading.Event())
    node_process.sink_thread = threading.Thread(name="process.stderr_sink", daemon=True, target=_to_stderr,
                                                args=(console, started.silenced))
    node_process.sink_thread.start()
    try:
        node_process.handshake()
    except BaseException:
        process.kill()
        process.wait()
        ours.close()
        raise
    _STARTED.append(started)
    atexit.register(node_process.stop)


@contextlib.contextmanager
def _kernel_root():
    """A new kernel directory, locked for as long as this process uses it, removed afterwards: the lock is how
    :func:`reap_abandoned` tells a directory still in use (the kernel's files are needed while it starts) from one
    whose process is gone, across processes and PID namespaces, whatever way the process ended."""
    temporary = Path(tempfile.gettempdir())
    reap_abandoned(temporary)
    root = Path(tempfile.mkdtemp(prefix=ROOT_PREFIX, dir=temporary))
    lock = os.open(root / LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)
        os.close(lock)


def reap_abandoned(temporary: Path) -> list[str]:
    """Remove the kernel directories in ``temporary`` that no process uses any more; their names.

    One is removed only when all of this holds: its name has :data:`ROOT_PREFIX`, it is a directory (not a link)
    owned by this user, it is older than :data:`ABANDONED_AFTER_S`, and its lock file can be locked, which means
    the process that made it has ended (a live one holds the lock, whose descriptor node does not inherit).
    Anything else is left alone."""
    reaped = []
    try:
        entries = list(os.scandir(temporary))
    except OSError:
        return reaped
    for entry in entries:
        if entry.name.startswith(ROOT_PREFIX) and _abandoned(entry):
            shutil.rmtree(entry.path, ignore_errors=True)
            reaped.append(entry.name)
    return reaped


def _abandoned(entry: os.DirEntry) -> bool:
    try:
        if not entry.is_dir(follow_symlinks=False):
            return False
        status = entry.stat(follow_symlinks=False)
        if status.st_uid != os.getuid() or time.time() - status.st_mtime < ABANDONED_AFTER_S:
            return False
        lock = os.open(os.path.join(entry.path, LOCK), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False  # its process holds the lock
    finally:
        os.close(lock)


def _to_stderr(console, silenced: threading.Event) -> None:
    """The kernel's console output, as jsii's relay forwards it, but to stderr: stdout may carry the build's own
    report (``--format json``); nothing once :func:`stop_now` stopped it (it then prints why it failed)."""
    for line in iter(console.readline, b""):
        if not silenced.is_set():
            sys.stderr.buffer.write(line)
            sys.stderr.buffer.flush()


@dataclass(frozen=True)
class _Started:
    process: subprocess.Popen
    connection: socket.socket
    root: Path
    silenced: threading.Event


_STARTED: list[_Started] = []  # the kernel this process started, for stop_now


def stop_now(timeout: float = 2.0) -> None:
    """Stop the kernel this process started at once, in the middle of a request or not, and remove its files: for a
    process told to stop (the emit worker of a cancelled build). jsii's own stop asks the kernel to exit and waits,
    which never ends when the kernel is blocked writing an answer nobody reads. Closing the connection both ways
    makes its next read or write fail, and the kernel then exits the way it does on any error: its ``exit``
    handlers remove its unpacked assemblies (30 MB); its message about it is not shown."""
    for started in _STARTED:
        started.silenced.set()
        try:
            started.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            started.process.wait(timeout)
        except subprocess.TimeoutExpired:
            started.process.kill()
            started.process.wait()
        shutil.rmtree(started.root, ignore_errors=True)
