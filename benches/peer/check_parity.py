#!/usr/bin/env python3
"""Checks that the FastAPI peer answers exactly as Aegis does before they are benchmarked.

Usage: check_parity.py AEGIS_BASE_URL PEER_BASE_URL BEARER_TOKEN

Both servers must read the same data dir. For every case the two responses must have the same
status and, once parsed with json.loads, the same value (same items, same order, same numbers).
Also checks that a missing and a tampered token get 401 with code UNAUTHORIZED from both.
Prints one line per case; on a mismatch prints a diff and exits 1 (2 when a server cannot be
reached). Standard library only, so any python3 can run it.
"""

from __future__ import annotations

import difflib
import json
import sys
import urllib.error
import urllib.request

# (path and query, whether the whole body must match; False: status and "code" only)
OK_CASES = [
    "/api/v1/techniques",
    "/api/v1/techniques?tactic=execution",
    "/api/v1/techniques?status=in_progress",
    "/api/v1/techniques?review_required=false",
    "/api/v1/metrics/by-tactic",
    # The other filters Aegis supports, and combinations.
    "/api/v1/techniques?review_required=true",
    "/api/v1/techniques?status=validated",
    "/api/v1/techniques?status=partial&tactic=TA0002",
    "/api/v1/techniques?tactic=Defense%20Evasion",
    "/api/v1/techniques?platform=Linux",
    "/api/v1/techniques?q=powershell",
    "/api/v1/techniques?q=t1059.",
    "/api/v1/techniques?include_deprecated=true",
    "/api/v1/techniques?include_deprecated=true&status=not_evaluated&tactic=persistence",
]
ERROR_CASES = [
    ("/api/v1/techniques?tactic=no-such-tactic", True),
    ("/api/v1/techniques?status=done", False),
]


def fetch(url: str, token: str | None) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def pretty(value: object) -> list[str]:
    return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False).splitlines()


def tampered(token: str) -> str:
    """The same token with its signature's first character changed (the first base64url
    character carries six whole bits of the signature, so the signature is wrong)."""
    header, payload, signature = token.split(".")
    first = "A" if signature[0] != "A" else "B"
    return f"{header}.{payload}.{first}{signature[1:]}"


class Checker:
    def __init__(self, aegis: str, peer: str) -> None:
        self.aegis = aegis.rstrip("/")
        self.peer = peer.rstrip("/")
        self.failures = 0

    def compare(
        self, path: str, token: str | None, expect_status: int | None, whole_body: bool = True, note: str = ""
    ) -> None:
        a_status, a_body = fetch(self.aegis + path, token)
        p_status, p_body = fetch(self.peer + path, token)
        problems = []
        if a_status != p_status:
            problems.append(f"status: aegis {a_status}, peer {p_status}")
        if expect_status is not None and a_status != expect_status:
            problems.append(f"aegis answered {a_status}, expected {expect_status}")
        try:
            a_value, p_value = json.loads(a_body), json.loads(p_body)
        except ValueError as err:
            problems.append(f"a body is not JSON: {err}")
            a_value = p_value = None
        if a_value is not None:
            if not whole_body:
                a_value = {"code": a_value.get("code")} if isinstance(a_value, dict) else a_value
                p_value = {"code": p_value.get("code")} if isinstance(p_value, dict) else p_value
            if a_value != p_value:
                problems.append("bodies differ (- aegis, + peer):")
                diff = list(difflib.unified_diff(pretty(a_value), pretty(p_value), "aegis", "peer", lineterm="", n=2))
                problems.extend(diff[:80] + ([f"... {len(diff) - 80} more diff lines"] if len(diff) > 80 else []))
        size = f"{len(a_value)} items" if isinstance(a_value, list) else f"{a_status}"
        bytes_note = ", byte-identical" if a_body == p_body else ""
        label = path + (f" [{note}]" if note else "")
        if problems:
            self.failures += 1
            print(f"FAIL {label}")
            for line in problems:
                print(f"     {line}")
        else:
            print(f"ok   {label} ({size}{bytes_note})")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    _, aegis, peer, token = argv
    checker = Checker(aegis, peer)
    try:
        for path in OK_CASES:
            checker.compare(path, token, 200)
        for path, whole_body in ERROR_CASES:
            checker.compare(path, token, 400, whole_body)
        for path in ("/api/v1/techniques", "/api/v1/metrics/by-tactic"):
            checker.compare(path, None, 401, note="no token")
            checker.compare(path, tampered(token), 401, note="tampered token")
    except (urllib.error.URLError, OSError) as err:
        print(f"cannot reach a server: {err}", file=sys.stderr)
        return 2
    total = len(OK_CASES) + len(ERROR_CASES) + 4
    print(f"parity: {total - checker.failures} passed, {checker.failures} failed")
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
