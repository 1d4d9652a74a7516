"""Child-side prelude: the first thing ``python -I -B`` runs inside the sandbox.

It imports nothing from orchestra_env (it runs as a plain script, or via ``-c`` in a
container) and takes one JSON argument::

    {"filename": "/code/main.py", "code": "..." | null, "stdin": "..." | null,
     "audit": true, "writable": ["/sandbox", "/tmp"], "drop_to": [65534, 65534] | null,
     "report_fd": 3 | null}

Without ``code`` the program arrives on stdin: a line with its length in bytes, the
program, then the bytes the program itself reads as its stdin. So an interpreter can be
started ahead of time and wait, already unprivileged, until the host hands it a program
(the warm pool, ``pool.py``).

Steps, in order: apply the limits the host chose (``runner.Limits``); optionally lower privileges (root becomes ``nobody``, so
the RLIMIT_NPROC set by the host applies); wait for and read the user's code; optionally
install the audit hook; run the code as ``__main__`` with tracebacks that start at the
user's code.

The audit hook is defence in depth, NOT a security boundary: CPython's audit hooks see
only the operations CPython reports, and code that corrupts interpreter memory, or a C
extension calling libc directly, bypasses them. The OS layers (namespaces, rlimits,
uid) are the boundary; see docs/sandbox.md.
"""
import atexit
import builtins
import io
import json
import os
import sys
import traceback
import types

# Events refused outright: processes, signals to others, network. ctypes is allowed: numpy and
# torch load their libraries through it, and the hook could not contain native code anyway.
DENIED = {
    "subprocess.Popen": "starting a process",
    "os.system": "running a shell command",
    "os.exec": "replacing the process",
    "os.posix_spawn": "starting a process",
    "os.spawn": "starting a process",
    "os.fork": "forking",
    "os.forkpty": "forking",
    "os.kill": "sending signals",
    "os.killpg": "sending signals",
    "signal.pthread_kill": "sending signals",
    "socket.connect": "network access",
    "socket.bind": "network access",
    "socket.sendto": "network access",
    "socket.sendmsg": "network access",
    "socket.getaddrinfo": "network access",
    "socket.gethostbyname": "network access",
    "socket.gethostbyaddr": "network access",
}
# Events that change the filesystem: argument positions holding a path that must be writable.
PATH_EVENTS = {
    "os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
    "os.chmod": (0,), "os.chown": (0,), "os.symlink": (1,), "os.link": (1,),
    "os.truncate": (0,), "os.utime": (0,), "shutil.rmtree": (0,),
}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def refuse(what, event):
    raise PermissionError(f"sandbox policy: {what} is not allowed (audit event {event!r})")


def make_guard(writable):
    roots = [os.path.realpath(p) for p in writable]
    busy = []  # re-entrancy flag: realpath() itself may raise audit events

    def may_write(path):
        if isinstance(path, int) or path is None:
            return True  # an already-open descriptor was checked when it was opened
        real = os.path.realpath(os.fsdecode(path))
        return real == os.devnull or any(real == r or real.startswith(r + os.sep) for r in roots)

    def guard(event, args):
        if busy:
            return
        if event in DENIED:
            refuse(DENIED[event], event)
        busy.append(1)
        try:
            if event == "open":
                path, mode, flags = (tuple(args) + (None, None, None))[:3]
                writes = bool(mode and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
                if writes and not may_write(path):
                    refuse(f"writing {os.fsdecode(path)!r} outside the work directory", event)
            elif event in PATH_EVENTS:
                for i in PATH_EVENTS[event]:
                    if i < len(args) and not may_write(args[i]):
                        refuse(f"changing {os.fsdecode(args[i])!r} outside the work directory", event)
        finally:
            busy.clear()

    return guard


def report_done(fd, status):
    """Tell the host the program has finished: ``done <status> <VmHWM kB>``, one write.

    The host stops waiting on this line (the namespace teardown that follows is not the
    program's time). VmHWM is this process's peak resident memory.

    The host cannot take it from ``wait4``: a child forked from a large host process
    (one that loaded torch, say) inherits that process's resident pages until ``exec``, and
    Linux keeps that high-water mark in the child's ``ru_maxrss``. VmHWM is per address
    space, so it starts afresh at ``exec`` and measures the program alone.
    """
    peak = b"0"
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    peak = line.split()[1]
                    break
    except OSError:
        pass
    try:
        os.write(fd, b"done %d %s\n" % (status, peak))
    except OSError:
        pass


def apply_limits(limits, pdeathsig):
    """Kernel limits on this process (inherited by all it starts), set before any user
    code runs; hard = soft, so the program cannot raise them. The CPU limit waits for the
    program (see ``limit_cpu``): a pre-started interpreter must not spend it waiting."""
    import resource

    for name, key in (("RLIMIT_AS", "as"), ("RLIMIT_FSIZE", "fsize"), ("RLIMIT_NPROC", "nproc")):
        resource.setrlimit(getattr(resource, name), (limits[key], limits[key]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if pdeathsig:  # die with the host process even if it is SIGKILLed
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the host died before the line above
            os._exit(1)


def limit_cpu(seconds):
    """SIGXCPU after ``seconds`` more CPU time, SIGKILL one second later."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = int(usage.ru_utime + usage.ru_stime) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (used + seconds, used + seconds + 1))


def drop_privileges(uid, gid):
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def run_as_main(source, filename):
    main = types.ModuleType("__main__")
    main.__file__ = filename
    main.__builtins__ = builtins
    sys.modules["__main__"] = main
    sys.argv = [filename]
    try:
        exec(compile(source, filename, "exec"), main.__dict__)
    except SystemExit:
        raise
    except BaseException as exc:  # print the user's traceback without this frame
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        sys.exit(1)


def exit_status(exc):
    """The status CPython would exit with for ``SystemExit(exc.code)``."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def finish(status, report_fd):
    """Exit like CPython (non-daemon threads joined, atexit run, streams flushed) but skip
    tearing the interpreter down: that is most of an empty run's cost on the warm path."""
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                status = status or 120  # what CPython returns when the final flush fails
        if report_fd is not None and os.getpid() == MAIN_PID:  # not a child the program forked
            report_done(report_fd, status)
        os._exit(status)


def read_program():
    """The program the host sends on stdin (see the module docstring); the rest of stdin
    stays in ``sys.stdin``'s buffer for the program."""
    header = sys.stdin.buffer.readline()
    size = int(header)
    data = sys.stdin.buffer.read(size)
    if len(data) != size:
        raise SystemExit(f"sandbox prelude: program truncated ({len(data)} of {size} bytes)")
    return data.decode("utf-8")


MAIN_PID = None


def main():
    global MAIN_PID
    cfg = json.loads(sys.argv[1])
    site = cfg.get("site") or {}  # started with -S: do what `site` would, minus the .pth files
    sys.path.extend(p for p in site.get("dirs", ()) if p not in sys.path)
    sys.prefix = site.get("prefix", sys.prefix)
    sys.exec_prefix = site.get("exec_prefix", sys.exec_prefix)
    MAIN_PID = os.getpid()
    limits = cfg.get("limits")
    if limits:
        apply_limits(limits, cfg.get("pdeathsig"))
    if cfg.get("drop_to"):
        drop_privileges(*cfg["drop_to"])
    filename = cfg.get("filename") or "<sandbox>"
    if cfg.get("report_fd") is not None and cfg.get("code") is None:
        os.write(cfg["report_fd"], b"ready\n")  # started and unprivileged: the pool may count us
    source = cfg["code"] if cfg.get("code") is not None else read_program()
    if limits:
        limit_cpu(limits["cpu"])
    if cfg.get("stdin") is not None:
        sys.stdin = io.StringIO(cfg["stdin"])
    if cfg.get("audit"):
        sys.addaudithook(make_guard(cfg.get("writable") or [os.getcwd()]))
    try:
        run_as_main(source, filename)
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    finish(status, cfg.get("report_fd"))


main()
