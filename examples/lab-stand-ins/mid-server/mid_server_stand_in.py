"""LAB STAND-IN for a ServiceNow MID Server image. It is not a MID Server.

It behaves like one only as a deployment sees it from outside: it is slow to
start (START_DELAY seconds; the real Java agent takes minutes), then its
healthcheck passes, and it stops promptly on SIGTERM. At start it logs the CPU
and memory limits its container was given, so the lab can show that a stack's
MID Server limits and reservations reached it.

    python3 mid_server_stand_in.py           run the stand-in
    python3 mid_server_stand_in.py --check   exit 0 if the running one is healthy
"""

import http.server
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request

HEALTH_ADDRESS = ("127.0.0.1", int(os.environ.get("HEALTH_PORT", "8099")))
DEFAULT_START_DELAY = 20


def log(message):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(f"{stamp} mid-server-stand-in: {message}", flush=True)


def start_delay():
    text = os.environ.get("START_DELAY", str(DEFAULT_START_DELAY))
    try:
        delay = float(text)
    except ValueError:
        delay = -1
    if delay < 0:
        sys.exit(f"START_DELAY {text!r} is not a number of seconds: use a value such as 20")
    return delay


def read(path):
    try:
        with open(path, encoding="ascii") as handle:
            value = handle.read().strip()
    except OSError:
        return None
    # cgroup v1 writes "no limit" as a page-aligned 2**63 - 1; v2 writes "max".
    if value.isdigit() and int(value) >= 2**62:
        return "max"
    return value


def cgroup_limits():
    """The container's limits as the kernel enforces them (cgroup v2, else v1)."""
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        quota, period = (read("/sys/fs/cgroup/cpu.max") or "max 100000").split()
        return {
            "memory_limit": read("/sys/fs/cgroup/memory.max"),
            "memory_reservation": read("/sys/fs/cgroup/memory.low"),
            "cpus": "max" if quota == "max" else f"{int(quota) / int(period):g}",
            "cpu_weight": read("/sys/fs/cgroup/cpu.weight"),
        }
    quota = read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") or "-1"
    period = read("/sys/fs/cgroup/cpu/cpu.cfs_period_us") or "100000"
    return {
        "memory_limit": read("/sys/fs/cgroup/memory/memory.limit_in_bytes"),
        "memory_reservation": read("/sys/fs/cgroup/memory/memory.soft_limit_in_bytes"),
        "cpus": "max" if int(quota) < 0 else f"{int(quota) / int(period):g}",
        "cpu_shares": read("/sys/fs/cgroup/cpu/cpu.shares"),
    }


def health_handler(ready):
    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # pylint: disable=invalid-name  # the name http.server calls
            code, body = (200, b"up\n") if ready.is_set() else (503, b"starting\n")
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            # A healthcheck every few seconds would drown the log.
            pass

    return Health


def check():
    url = f"http://{HEALTH_ADDRESS[0]}:{HEALTH_ADDRESS[1]}/health"
    try:
        with urllib.request.urlopen(url, timeout=5):
            return 0
    except (urllib.error.URLError, OSError) as exc:
        print(f"mid-server-stand-in check: {url}: {exc}", file=sys.stderr)
        return 1


def run():
    delay = start_delay()
    stop = threading.Event()
    ready = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    log("LAB STAND-IN for a ServiceNow MID Server: it runs no MID Server and talks to no instance")
    instance = os.environ.get("MID_INSTANCE_URL")
    name = os.environ.get("MID_SERVER_NAME")
    if instance or name:
        # The credentials a real MID Server needs are deliberately not logged.
        log(f"configured for instance {instance or '(unset)'} as {name or '(unset)'}")
    limits = " ".join(f"{key}={value}" for key, value in cgroup_limits().items())
    log(f"container limits: {limits}")

    server = http.server.ThreadingHTTPServer(HEALTH_ADDRESS, health_handler(ready))
    threading.Thread(target=server.serve_forever, daemon=True).start()

    log(f"starting up, which takes {delay:g} seconds")
    if not stop.wait(delay):
        ready.set()
        log("started: healthy")
        stop.wait()
    log("stopping")
    server.shutdown()
    return 0


def main(argv):
    if argv[1:] == ["--check"]:
        return check()
    if argv[1:]:
        sys.exit(f"unknown arguments {argv[1:]!r}: use no argument or --check")
    return run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
