"""``gpu-milvus``: the package's command line, with subcommands.

* ``gpu-milvus bench [options]``: the benchmark suite (``gpu_milvus.benchmarks.cli``;
  ``gpu-milvus bench --help``);
* ``gpu-milvus demo [options]``: the AsyncMilvusClient tutorial flow (``gpu_milvus.demo``).
"""

from __future__ import annotations

import sys

USAGE = "usage: gpu-milvus {bench,demo} [options]   (gpu-milvus SUBCOMMAND --help for more)"


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to a subcommand; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\n" + USAGE)
        return 0 if args else 2
    cmd, rest = args[0], args[1:]
    if cmd == "bench":
        from gpu_milvus.benchmarks.cli import main as bench_main

        return bench_main(rest, reexec=True)
    if cmd == "demo":
        from gpu_milvus import demo

        sys.argv = ["gpu-milvus demo", *rest]  # demo.main() parses sys.argv
        demo.main()
        return 0
    print(f"gpu-milvus: unknown subcommand {cmd!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
