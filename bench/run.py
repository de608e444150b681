"""Load a running provider the way ServiceTitan and its tenants do, and report what it cost.

    python bench/run.py --url http://127.0.0.1:8000 --client-id ID --client-secret SECRET \
        --redirect-uri https://bench.invalid/callback --password PASSWORD \
        --server-pid "$(cat gunicorn.pid)" --postgres

Workloads:
  W1  discovery and JWKS, as a relying party refreshing its metadata;
  W2  the whole pairing round trip as ServiceTitan performs it: the authorization request
      with a signed-in tenant session, the consent page when shown, the form_post page,
      the code exchange with credentials in the Basic header and the body, the id_token
      verified (signature against JWKS, iss, aud, exp), account-info with the base64 bearer;
  W3  the code exchange alone, with codes minted beforehand through the real sign-in and
      consent path.

Method: each workload warms up, then runs for a fixed duration with a fixed number of
virtual users (threads; each a tenant with its own session). Throughput and p50/p99 per step
come from the measured window only. With --server-pid, the server's CPU time over the window
is read from /proc for its whole process tree (the gunicorn master and its workers) and
divided by the operations completed: the figure that stays comparable on a shared machine.
With --postgres, the CPU of every PostgreSQL process is reported on its own line, and the
peak resident memory of each worker at the end. Pin the server and this driver to separate
cores (bench/run-all.sh does, with taskset).
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

import requests
from jwcrypto import jwk, jwt

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_PENDING = re.compile(r'name="pending" value="([^"]*)"')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """The server answered something a correct provider would not."""


# -- the server's cost, from /proc ----------------------------------------------------------


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields after "pid (comm)", from state on


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for child in _children(pid):
        pids += _tree(child)
    return pids


def tree_cpu_seconds(root: int) -> float:
    """CPU of ``root`` and all its descendants, the reaped ones included (cutime/cstime)."""
    total = 0
    for index, pid in enumerate(_tree(root)):
        try:
            fields = _stat(pid)
        except FileNotFoundError:
            continue
        # utime, stime, cutime, cstime are fields 14-17 of /proc/pid/stat.
        utime, stime, cutime, cstime = (int(fields[i]) for i in range(11, 15))
        total += utime + stime + (cutime + cstime if index == 0 else 0)
    return total / CLOCK_TICKS


def postgres_cpu_seconds() -> float:
    """CPU of every PostgreSQL process (postmaster, backends, background workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() not in ("postgres", "postmaster"):
                continue
            fields = _stat(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        total += sum(int(fields[i]) for i in range(11, 15))
    return total / CLOCK_TICKS


def worker_peak_rss_mb(root: int) -> dict[int, float]:
    """VmHWM (peak resident set) of each worker process, in MB."""
    peaks = {}
    for pid in _children(root):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks[pid] = int(line.split()[1]) / 1024
    return peaks


def cpu_list(pid: int) -> str:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    return "?"


# -- the clients -----------------------------------------------------------------------------


@dataclass
class Settings:
    url: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    password: str
    user_pattern: str


class KeySet:
    """ServiceTitan's cached JWKS: fetched once, again only for a kid it does not know."""

    def __init__(self, url: str):
        self.url = url
        self.lock = threading.Lock()
        self.keys = self._fetch()

    def _fetch(self) -> jwk.JWKSet:
        return jwk.JWKSet.from_json(requests.get(self.url + "/jwks.json", timeout=30).text)

    def verify(self, id_token: str, settings: Settings) -> dict:
        header = json.loads(base64.urlsafe_b64decode(id_token.split(".")[0] + "=="))
        if header["alg"] == "HS256":
            key = jwk.JWK(kty="oct", k=base64.urlsafe_b64encode(settings.client_secret.encode()).decode().rstrip("="))
        else:
            with self.lock:
                if self.keys.get_key(header["kid"]) is None:
                    self.keys = self._fetch()
                key = self.keys
        token = jwt.JWT(
            jwt=id_token,
            key=key,
            expected_type="JWS",
            check_claims={
                "iss": settings.url,
                "aud": settings.client_id,
                "exp": None,
            },
        )
        return json.loads(token.claims)


class Tenant:
    """One virtual user: a tenant's browser (its own session) and ServiceTitan's back channel."""

    def __init__(self, settings: Settings, number: int, keys: KeySet):
        self.settings = settings
        self.email = settings.user_pattern.format(n=number)
        self.keys = keys
        self.browser = requests.Session()
        self.back_channel = requests.Session()
        self.back_channel.auth = (settings.client_id, settings.client_secret)

    def _authorize_url(self) -> str:
        s = self.settings
        return (
            s.url
            + "/authorize?"
            + urlencode(
                {
                    "client_id": s.client_id,
                    "response_type": "code",
                    "response_mode": "form_post",
                    "scope": s.scope,
                    "state": uuid.uuid4().hex,
                    "redirect_uri": s.redirect_uri,
                }
            )
        )

    def sign_in(self) -> None:
        """The real sign-in path: authorization request, sign-in page, its form."""
        first = self.browser.get(self._authorize_url(), allow_redirects=False, timeout=30)
        if first.status_code != 302:
            return  # already signed in
        page = self.browser.get(self.settings.url + first.headers["Location"], timeout=30)
        answer = self.browser.post(
            self.settings.url + "/login",
            data={
                "csrf_token": _CSRF.search(page.text).group(1),
                "pending": _PENDING.search(page.text).group(1),
                "email": self.email,
                "password": self.settings.password,
            },
            allow_redirects=False,
            timeout=30,
        )
        if answer.status_code != 302:
            raise BenchError(f"sign-in of {self.email} answered {answer.status_code}")

    def authorize(self, timings: dict) -> str:
        """The authorization request with a signed-in session; the consent page when shown.
        Answers the code of the form_post page."""
        started = time.perf_counter()
        page = self.browser.get(self._authorize_url(), allow_redirects=False, timeout=30)
        timings["authorize"] = time.perf_counter() - started
        if page.status_code == 302 and "/authorize/resume" in page.headers["Location"]:
            page = self.browser.get(self.settings.url + page.headers["Location"], timeout=30)
        if page.status_code == 200 and 'name="decision"' in page.text:
            started = time.perf_counter()
            fields = {
                "csrf_token": _CSRF.search(page.text).group(1),
                "pending": _PENDING.search(page.text).group(1),
                "decision": "allow",
            }
            account = dict(_HIDDEN.findall(page.text)).get("account_id")
            if account:
                fields["account_id"] = account
            page = self.browser.post(self.settings.url + "/authorize/decision", data=fields, timeout=30)
            timings["consent"] = time.perf_counter() - started
        if page.status_code != 200 or "code" not in page.text:
            raise BenchError(f"authorization answered {page.status_code}: {page.text[:200]}")
        if html.unescape(_ACTION.search(page.text).group(1)) != self.settings.redirect_uri:
            raise BenchError("the form_post page does not post to the redirect URI")
        return html.unescape(dict(_HIDDEN.findall(page.text))["code"])

    def exchange(self, code: str, timings: dict) -> dict:
        """ServiceTitan's token request: Basic header and body credentials at once."""
        s = self.settings
        started = time.perf_counter()
        response = self.back_channel.post(
            s.url + "/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": s.redirect_uri,
                "client_id": s.client_id,
                "client_secret": s.client_secret,
            },
            timeout=30,
        )
        timings["token"] = time.perf_counter() - started
        if response.status_code != 200:
            raise BenchError(f"token answered {response.status_code}: {response.text[:200]}")
        return response.json()

    def verify(self, id_token: str, timings: dict) -> None:
        started = time.perf_counter()
        self.keys.verify(id_token, self.settings)
        timings["verify_id_token"] = time.perf_counter() - started

    def account_info(self, access_token: str, timings: dict) -> None:
        started = time.perf_counter()
        response = requests.get(
            f"{self.settings.url}/account-info?{urlencode({'request_id': uuid.uuid4().hex})}",
            headers={"Authorization": "Bearer " + base64.b64encode(access_token.encode()).decode()},
            timeout=30,
        )
        timings["account_info"] = time.perf_counter() - started
        if response.status_code != 200 or response.json().get("Status") != "COMPLETED":
            raise BenchError(f"account-info answered {response.status_code}: {response.text[:200]}")


# -- workloads -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    concurrency: int
    duration: float
    operations: int = 0
    errors: list[str] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    server_cpu: float | None = None
    postgres_cpu: float | None = None
    note: str = ""

    def summary(self) -> dict:
        def pct(values, q):
            ordered = sorted(values)
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return {
            "workload": self.name,
            "concurrency": self.concurrency,
            "duration_s": round(self.duration, 2),
            "operations": self.operations,
            "throughput_per_s": round(self.operations / self.duration, 1) if self.duration else 0,
            "errors": len(self.errors),
            "first_error": self.errors[0] if self.errors else None,
            "server_cpu_ms_per_op": round(self.server_cpu * 1000 / self.operations, 3)
            if self.server_cpu is not None and self.operations
            else None,
            "postgres_cpu_ms_per_op": round(self.postgres_cpu * 1000 / self.operations, 3)
            if self.postgres_cpu is not None and self.operations
            else None,
            "steps": {
                step: {
                    "p50_ms": round(statistics.median(v) * 1000, 2),
                    "p99_ms": round(pct(v, 0.99), 2),
                    "count": len(v),
                }
                for step, v in self.steps.items()
                if v
            },
            "note": self.note,
        }


def run_window(name, tenants, operation, duration, warmup, options, note="", until=None) -> Result:
    """Every tenant repeats ``operation(tenant, timings)`` in its own thread: ``warmup``
    seconds unmeasured, then ``duration`` seconds measured (or until ``until()`` says stop)."""
    result = Result(name, len(tenants), duration, note=note)
    lock = threading.Lock()
    phase = {"measuring": False, "stop": False}

    def loop(tenant):
        while not phase["stop"]:
            timings: dict[str, float] = {}
            try:
                if not operation(tenant, timings):
                    return
            except (BenchError, requests.RequestException, KeyError, AttributeError) as error:
                with lock:
                    if phase["measuring"]:
                        result.errors.append(f"{type(error).__name__}: {error}")
                continue
            if phase["measuring"]:
                with lock:
                    result.operations += 1
                    for step, seconds in timings.items():
                        result.steps.setdefault(step, []).append(seconds)

    threads = [threading.Thread(target=loop, args=(t,), daemon=True) for t in tenants]
    for thread in threads:
        thread.start()
    time.sleep(warmup)
    cpu_before = tree_cpu_seconds(options.server_pid) if options.server_pid else None
    pg_before = postgres_cpu_seconds() if options.postgres else None
    started = time.perf_counter()
    phase["measuring"] = True
    deadline = started + duration
    while time.perf_counter() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    phase["measuring"] = False
    result.duration = time.perf_counter() - started
    if cpu_before is not None:
        result.server_cpu = tree_cpu_seconds(options.server_pid) - cpu_before
    if pg_before is not None:
        result.postgres_cpu = postgres_cpu_seconds() - pg_before
    phase["stop"] = True
    for thread in threads:
        thread.join(timeout=60)
    return result


def w1(settings, concurrency, options, keys) -> Result:
    def discovery_and_jwks(tenant, timings):
        for step, path in (("discovery", "/.well-known/openid-configuration"), ("jwks", "/jwks.json")):
            started = time.perf_counter()
            response = requests.get(settings.url + path, timeout=30)
            timings[step] = time.perf_counter() - started
            if response.status_code != 200:
                raise BenchError(f"{path} answered {response.status_code}")
        return True

    tenants = [Tenant(settings, n, keys) for n in range(1, concurrency + 1)]
    return run_window(
        "W1 discovery+JWKS",
        tenants,
        discovery_and_jwks,
        options.duration,
        options.warmup,
        options,
        note="one operation = one discovery and one JWKS request",
    )


def w2(settings, concurrency, options, keys) -> Result:
    tenants = [Tenant(settings, n, keys) for n in range(1, concurrency + 1)]
    for tenant in tenants:
        tenant.sign_in()

    def round_trip(tenant, timings):
        code = tenant.authorize(timings)
        tokens = tenant.exchange(code, timings)
        tenant.verify(tokens["id_token"], timings)
        tenant.account_info(tokens["access_token"], timings)
        return True

    return run_window(
        "W2 pairing round trip",
        tenants,
        round_trip,
        options.duration,
        options.warmup,
        options,
        note="one operation = authorize (+consent) + form_post + token + id_token check + account-info",
    )


def w3(settings, concurrency, options, keys) -> Result:
    tenants = [Tenant(settings, n, keys) for n in range(1, concurrency + 1)]
    for tenant in tenants:
        tenant.sign_in()
    # Codes for the warm-up and the window, minted through the real authorization path.
    per_tenant = options.codes_per_user
    codes = {id(t): [t.authorize({}) for _ in range(per_tenant)] for t in tenants}

    def exchange(tenant, timings):
        queue = codes[id(tenant)]
        if not queue:
            return False
        tenant.exchange(queue.pop(), timings)
        return True

    result = run_window(
        "W3 code exchange",
        tenants,
        exchange,
        options.duration,
        options.warmup,
        options,
        note=f"{per_tenant} codes minted per user beforehand",
    )
    if any(not queue for queue in codes.values()):
        result.note += "; the codes ran out before the end of the window"
    return result


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3}


def describe_setup(options) -> dict:
    setup = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "url": options.url,
        "driver_cpus": ",".join(str(c) for c in sorted(os.sched_getaffinity(0))),
        "python": platform.python_version(),
        "duration_s": options.duration,
        "warmup_s": options.warmup,
        "concurrency": {"W1": options.w1_concurrency, "W2": options.concurrency, "W3": options.w3_concurrency},
        "machine_cpus": os.cpu_count(),
        # Other work on the machine inflates CPU time too (caches, frequency): say how busy it was.
        "loadavg_at_start": Path("/proc/loadavg").read_text().split()[0],
    }
    if options.server_pid:
        setup["server_pid"] = options.server_pid
        setup["server_cpus"] = cpu_list(options.server_pid)
        setup["server_workers"] = len(_children(options.server_pid))
        setup["server_command"] = Path(f"/proc/{options.server_pid}/cmdline").read_text().replace("\0", " ").strip()
    try:
        setup["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
        ).stdout.strip()
    except OSError:
        pass
    return setup


def print_table(setup: dict, results: list[dict], memory: dict[int, float] | None, out) -> None:
    print("setup: " + ", ".join(f"{k}={v}" for k, v in setup.items()), file=out)
    print(file=out)
    header = (
        f"{'workload':24} {'c':>3} {'ops':>6} {'ops/s':>8} {'server CPU ms/op':>17} {'errors':>6}  steps p50/p99 ms"
    )
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in results:
        steps = "  ".join(f"{k} {v['p50_ms']}/{v['p99_ms']}" for k, v in r["steps"].items())
        cpu = r["server_cpu_ms_per_op"] if r["server_cpu_ms_per_op"] is not None else "-"
        print(
            f"{r['workload']:24} {r['concurrency']:>3} {r['operations']:>6} {r['throughput_per_s']:>8} {cpu:>17} "
            f"{r['errors']:>6}  {steps}",
            file=out,
        )
        if r["postgres_cpu_ms_per_op"] is not None:
            print(
                f"{'':24} {'':>3} {'':>6} {'':>8} {'PostgreSQL CPU ms/op':>17}: {r['postgres_cpu_ms_per_op']}", file=out
            )
        if r["first_error"]:
            print(f"{'':24} first error: {r['first_error']}", file=out)
    if memory:
        print(file=out)
        print(
            "peak resident memory per worker (VmHWM): "
            + ", ".join(f"pid {pid} {mb:.1f} MB" for pid, mb in sorted(memory.items())),
            file=out,
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the provider, e.g. http://127.0.0.1:8000 (also its issuer)")
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", required=True)
    parser.add_argument("--scope", default="openid profile email")
    parser.add_argument(
        "--user-pattern",
        default="bench-{n}@bench.example",
        help="tenant emails; {n} is the virtual user's number, from 1",
    )
    parser.add_argument("--password", required=True, help="the tenants' password")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--concurrency", default="1,4,16", help="W2's virtual users, comma-separated levels")
    parser.add_argument("--w1-concurrency", type=int, default=4, help="W1's virtual users")
    parser.add_argument("--w3-concurrency", type=int, default=4, help="W3's virtual users")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each run")
    parser.add_argument(
        "--codes-per-user",
        type=int,
        default=600,
        help="W3: codes minted per user beforehand (the server's code lifetime must cover minting and the run)",
    )
    parser.add_argument("--server-pid", type=int, help="the gunicorn master: CPU time and memory of its tree")
    parser.add_argument("--postgres", action="store_true", help="report PostgreSQL's CPU on its own line")
    parser.add_argument("--json", dest="json_path", help="also write the results as JSON to this file")
    options = parser.parse_args(argv)
    options.url = options.url.rstrip("/")
    levels = [int(c) for c in options.concurrency.split(",")]

    settings = Settings(
        options.url,
        options.client_id,
        options.client_secret,
        options.redirect_uri,
        options.scope,
        options.password,
        options.user_pattern,
    )
    keys = KeySet(options.url)
    setup = describe_setup(options)
    results = []
    runs = {"W1": [options.w1_concurrency], "W2": levels, "W3": [options.w3_concurrency]}
    for name in (n.strip() for n in options.workloads.split(",")):
        for concurrency in runs[name]:
            result = WORKLOADS[name](settings, concurrency, options, keys).summary()
            results.append(result)
            print(
                f"{result['workload']} c={concurrency}: {result['throughput_per_s']}/s, "
                f"server CPU {result['server_cpu_ms_per_op']} ms/op, errors {result['errors']}",
                file=sys.stderr,
            )
    setup["loadavg_at_end"] = Path("/proc/loadavg").read_text().split()[0]
    memory = worker_peak_rss_mb(options.server_pid) if options.server_pid else None
    print_table(setup, results, memory, sys.stdout)
    if options.json_path:
        Path(options.json_path).write_text(
            json.dumps({"setup": setup, "results": results, "worker_peak_rss_mb": memory}, indent=2)
        )
    return 1 if any(r["errors"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
