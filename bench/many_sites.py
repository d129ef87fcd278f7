"""Many sites: the outbound benchmark on 20 sites at once, each with its own rate limit.

    python -m bench.many_sites                     # 5,000 changes over 20 sites, 250 ms latency
    python -m bench.many_sites --sites 20 --changes 2000 --latency-ms 50

Reported: aggregate changes/s, and per site its changes divided by the time until its last operation
finished: min and max, so a starved site shows as a low minimum (min/max far below 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from bench._workload import parse_mix
from bench.outbound import as_json, report, run_outbound, stack_arguments, stack_options


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--changes", type=int, default=5000)
    parser.add_argument("--mix", default=None)
    stack_arguments(parser)
    parser.set_defaults(concurrency=128, connections=64)
    args = parser.parse_args(argv)
    options = stack_options(args)
    result = run_outbound(
        options,
        changes=args.changes,
        mix=parse_mix(args.mix) if args.mix else None,
        sites=args.sites,
        workers=args.workers,
    )
    print(report(result, options, args.workers, f"many sites: {args.sites} sites at once"))
    if args.json:
        args.json.write_text(json.dumps(as_json(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
