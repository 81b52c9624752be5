"""`python -m tools.dev.bench`: every figure, or one with --loadgen-only / --gateway-only."""

from __future__ import annotations

import argparse
import sys

from tools.dev import bench
from tools.dev.bench.cold import measure_cold
from tools.dev.bench.gateway import print_gateway
from tools.dev.bench.generator import print_loadgen
from tools.dev.bench.warm import measure_warm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=bench.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cold-pairs", type=int, default=10, help="(handler, bare) fresh-interpreter pairs")
    parser.add_argument("--warm-pairs", type=int, default=15, help="(handler, decode+hash) 4 MiB pairs")
    parser.add_argument("--loadgen-rate", type=float, default=4000.0, help="req/s the generator is asked for")
    parser.add_argument("--loadgen-seconds", type=float, default=3.0, help="length of each generator run")
    parser.add_argument("--loadgen-pairs", type=int, default=3, help="(unsigned, signed) generator run pairs")
    parser.add_argument("--loadgen-only", action="store_true", help="only (c): the load generator's figure")
    parser.add_argument("--gateway-rate", type=float, default=4000.0, help="req/s offered to the gateway")
    parser.add_argument("--gateway-seconds", type=float, default=3.0, help="length of the gateway flood")
    parser.add_argument("--gateway-only", action="store_true", help="only (d): the local gateway's figure")
    args = parser.parse_args(argv)

    if args.loadgen_only:
        print_loadgen(args.loadgen_rate, args.loadgen_seconds, args.loadgen_pairs)
        return 0
    if args.gateway_only:
        print_gateway(args.gateway_rate, args.gateway_seconds)
        return 0
    traced, untraced = measure_cold(args.cold_pairs)
    warm = measure_warm(args.warm_pairs)
    print(f"Python {sys.version.split()[0]} on {sys.platform}; CPU time via time.process_time")
    for ratio in (traced, warm, untraced):
        print("\n".join(ratio.lines()))
    print("headline: cold init with tracing on (as deployed); the tracing-off line is for comparison only")
    print_loadgen(args.loadgen_rate, args.loadgen_seconds, args.loadgen_pairs)
    print_gateway(args.gateway_rate, args.gateway_seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
