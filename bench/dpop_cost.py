"""A DPoP-bound cached check against a bearer cached check, side by side on one core.

    .venv/bin/python bench/dpop_cost.py [--reps 3] [--seconds 3]

The service (``bench/server.py``) runs pinned to one core, wrk on the other. Bearer: one cached
token, as ``versus_go.py`` measures it. DPoP: one cached bound token, and every request with
its own proof (a proof is accepted once), signed before each run by a client key (ES256, the
algorithm clients use most, and Ed25519) and fed to wrk from a file. Printed: requests per
second of each, and the cost of a DPoP check over a bearer check (bearer rps / DPoP rps).
Target (issue 16): at most 1.5x. Then the same per check in process, without HTTP, by
algorithm (RS256 verifies fastest, EdDSA slowest with this machine's OpenSSL).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from loadgen import median, run_wrk
from side_by_side import CORE, arguments, pinned_service

from mcp_gatekeeper.tokens.dpop import ProofVerifier

# The client's side of DPoP lives with the tests (tests/dpop_proofs.py): the same signer.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.dpop_proofs import DpopKey

PATH = "/authenticate/mcp"
CONNECTIONS = 16
#: Proofs per run: more than a run can use at any plausible rate (each is accepted once).
PROOFS_PER_SECOND = 40_000

#: Clients (key and bound token each): one key may hold only a share of the replay table.
CLIENTS = 8

WRK_PROOFS = """\
local lines = {{}}
for line in io.lines("{proofs}") do lines[#lines + 1] = line end
local requests, pos = {{}}, 0
function init(args)
  for i, line in ipairs(lines) do
    local token, proof = line:match("([^ ]+) ([^ ]+)")
    requests[i] = wrk.format("POST", "{path}", {{
      Host = "{host}", Authorization = "DPoP " .. token, DPoP = proof, ["Content-Length"] = "0"}})
  end
end
function request()
  pos = pos + 1
  if pos > #requests then pos = 1 end
  return requests[pos]
end
"""


def proof_script(work: Path, clients: list[tuple[DpopKey, str]], host: str, count: int) -> Path:
    """``count`` requests' token and proof, the clients taking turns."""
    url = f"https://{host}/mcp"  # the host's canonical resource: not loopback, so https
    now = time.time()
    alg = clients[0][0].alg
    proofs = work / f"proofs-{alg}.txt"
    with proofs.open("w") as out:
        for i in range(count):
            key, token = clients[i % len(clients)]
            out.write(f"{token} {key.proof('POST', url, access_token=token, iat=now)}\n")
    script = work / f"proofs-{alg}.lua"
    script.write_text(WRK_PROOFS.format(proofs=proofs, path=PATH, host=host))
    return script


def in_process(count: int = 2000) -> None:
    verifier = ProofVerifier(max_age=60, leeway=5)
    url, token = "https://bench.example.test/mcp", "header.payload.signature"
    for alg in ("ES256", "RS256", "EdDSA"):
        key = DpopKey(alg)
        now = time.time()
        proofs = [key.proof("POST", url, access_token=token, iat=now) for _ in range(count)]
        started = time.perf_counter()
        for proof in proofs:
            verifier.verify(proof, method="POST", url=url, now=now, access_token=token)
        cost = (time.perf_counter() - started) / count * 1e6
        print(f"in process: one {alg} proof verified in {cost:5.1f} us")


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    with tempfile.TemporaryDirectory() as tmp, pinned_service(Path(tmp)) as service:
        work = Path(tmp)
        os.sched_setaffinity(0, os.sched_getaffinity(0) - {CORE})
        url = f"http://127.0.0.1:{service.server.port}{PATH}"
        clients = {
            alg: [
                (key, service.server.command(f"bound {key.thumbprint}")["token"])
                for key in (DpopKey(alg) for _ in range(CLIENTS))
            ]
            for alg in ("ES256", "EdDSA")
        }
        bearer_headers = [f"Host: {service.host}", f"Authorization: Bearer {service.token}"]
        ratios: dict[str, list[float]] = {alg: [] for alg in clients}
        for rep in range(args.reps):
            shown = []
            for alg, pairs in clients.items():
                bearer = run_wrk(
                    url, seconds=args.seconds, headers=bearer_headers, connections=CONNECTIONS
                )
                count = PROOFS_PER_SECOND * args.seconds
                script = proof_script(work, pairs, service.host, count)
                dpop = run_wrk(url, seconds=args.seconds, script=script, connections=CONNECTIONS)
                for name, result in (("bearer", bearer), (alg, dpop)):
                    if result.non_2xx:
                        raise SystemExit(f"{name}: {result.non_2xx} answers other than 200")
                ratios[alg].append(bearer.rps / dpop.rps)
                shown.append(f"bearer {bearer.rps:7.0f} rps, DPoP {alg} {dpop.rps:7.0f} rps")
            print(f"rep {rep + 1}: " + "; ".join(shown), flush=True)
        for alg, values in ratios.items():
            ratio = median(values)
            print(f"cost of a DPoP ({alg}) cached check over a bearer one: median {ratio:.2f}x")
    in_process()


if __name__ == "__main__":
    main()
