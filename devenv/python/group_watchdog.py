"""Runs a service so that it cannot outlive the process that started it (devenv/processGroup.ts).

    group_watchdog.py GRACE_SECONDS COMMAND [ARG...]

Started as the leader of a new process group, with fd 0 a pipe whose write end only the starting process
holds. The kernel closes that end however the starter ends (exit, crash, SIGKILL), so EOF on fd 0 means the
starter is gone even when none of its cleanup ran: then the whole group gets SIGTERM and, GRACE_SECONDS
later, SIGKILL (this process included). The service runs as a child in the same group with /dev/null as its
stdin; when it exits, whatever it left in the group is killed and this process exits as the service did.
A stop by signal to the group (SIGTERM, SIGINT) is the service's to answer; this process waits for it.

A descendant that moved to a process group of its own (the Pulumi CLI starts each plugin, the language host
among them, in its own group) is ended too: this process is a child subreaper, so such a descendant stays its
descendant even once its parent is gone, and every descendant is killed with the group.
Standard library only, so that any python3 runs it (with -S: no site packages, a fast start).
"""

import os
import select
import signal
import sys
import time


def exited(pid):
    """True once the service has exited; it stays a zombie (its pid held) until reaped."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def become_subreaper():
    """Orphaned descendants are re-parented to this process, not to init (Linux PR_SET_CHILD_SUBREAPER)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        pass


def the_rest():
    """Every live process of this group and every live descendant of this process, but this one."""
    me, group = os.getpid(), os.getpgrp()
    procs = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            procs[int(name)] = (int(fields[1]), int(fields[2]))
    descendants, frontier = set(), {me}
    while frontier:
        frontier = {p for p, (ppid, _) in procs.items() if ppid in frontier and p not in descendants}
        descendants |= frontier
    return sorted(descendants | {p for p, (_, pgrp) in procs.items() if pgrp == group})


def kill_all(sig, pids):
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def kill_the_rest():
    """SIGKILL to what is left of the group and its descendants, until nothing is (a few rounds: a fork may race)."""
    for _ in range(5):
        rest = the_rest()
        if not rest:
            return
        kill_all(signal.SIGKILL, rest)
        time.sleep(0.05)


def end_group(pid, grace):
    """The starter is gone: SIGTERM to the group and the descendants, SIGKILL to all of them after `grace` seconds."""
    kill_all(signal.SIGTERM, the_rest())
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not exited(pid):
        time.sleep(0.05)
    kill_the_rest()


def main():
    grace, command = float(sys.argv[1]), sys.argv[2:]
    become_subreaper()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        try:
            os.execvp(command[0], command)
        except OSError as e:
            sys.stderr.write(f"group_watchdog: cannot run {command[0]}: {e}\n")
            os._exit(127)
    # A handler, not SIG_IGN: the service was forked before it and an ignored signal would survive its exec.
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: None)
    try:
        watched, tick = [0, os.pidfd_open(pid)], None
    except (AttributeError, OSError):
        watched, tick = [0], 0.2
    while not exited(pid):
        ready = select.select(watched, [], [], tick)[0]
        if 0 in ready and not os.read(0, 4096):
            end_group(pid, grace)
    # The service's own children (server workers, plugins) go with it, also when it crashed.
    kill_the_rest()
    status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
