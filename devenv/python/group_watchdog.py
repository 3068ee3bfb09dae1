"""Runs a service so that it cannot outlive the process that started it (devenv/processGroup.ts).

    group_watchdog.py GRACE_SECONDS COMMAND [ARG...]

Started as the leader of a new process group, with fd 0 a pipe whose write end only the starting process
holds. The kernel closes that end however the starter ends (exit, crash, SIGKILL), so EOF on fd 0 means the
starter is gone even when none of its cleanup ran: then the whole group gets SIGTERM and, GRACE_SECONDS
later, SIGKILL (this process included). The service runs as a child in the same group with /dev/null as its
stdin; when it exits, whatever it left in the group is killed and this process exits as the service did.
A stop by signal to the group (SIGTERM, SIGINT) is the service's to answer; this process waits for it.
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


def others_in_group():
    me, group = os.getpid(), os.getpgrp()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            pids.append(int(name))
    return pids


def end_group(pid, grace):
    """The starter is gone: SIGTERM to the group, SIGKILL to all of it after `grace` seconds."""
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not exited(pid):
        time.sleep(0.05)
    os.killpg(0, signal.SIGKILL)


def main():
    grace, command = float(sys.argv[1]), sys.argv[2:]
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
    # The service's own children (server workers) go with it, also when it crashed.
    for _ in range(5):
        rest = others_in_group()
        if not rest:
            break
        for p in rest:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
