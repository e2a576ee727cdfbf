"""``mcp-gatekeeper serve``, ``check-config``, ``admin``, ``paths`` and ``probe``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from . import __version__
from .admin.cli import add_admin_commands, run_admin
from .config import CONFIG_PATH_ENV, Config, ConfigError, load_config
from .paths import AUTHORIZATION_SERVER_PATHS
from .probe import probe

EXIT_BAD_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-gatekeeper",
        description="OAuth 2.1 for self-hosted MCP servers, behind your gateway's forward-auth.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "run the service"),
        ("check-config", "validate a configuration file and print every problem"),
        ("admin", "list or remove clients, end a user's grants (on the running service)"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument(
            "--config", help=f"YAML configuration file (default: ${CONFIG_PATH_ENV})"
        )
    add_admin_commands(commands.choices["admin"])
    commands.add_parser("paths", help="print the paths a gateway routes to mcp-gatekeeper")
    probe = commands.add_parser(
        "probe", help="check an MCP URL through its gateway as an MCP client would"
    )
    probe.add_argument("url", help="the MCP URL clients use, e.g. https://mcp.example.com/mcp")
    probe.add_argument("--token", help="also check that this access token gets through")
    probe.add_argument("--ca-file", help="CA bundle for a private CA (PEM)")
    probe.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    probe.add_argument("--json", action="store_true", help="print the report as JSON")
    serve = commands.choices["serve"]
    serve.add_argument("--host", help="listen address (overrides server.host)")
    serve.add_argument("--port", type=int, help="listen port (overrides server.port)")
    return parser


def _load_or_report(
    path: str | None, overrides: Mapping[str, object] | None = None
) -> Config | None:
    try:
        return load_config(path, overrides=overrides)
    except ConfigError as exc:
        count = len(exc.problems)
        print(f"mcp-gatekeeper: the configuration has {count} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return None


def print_paths() -> None:
    """JSON, so charts and scripts can read it: one entry per path, exact or prefix."""
    entries = [
        {"path": routed.path, "match": routed.match} for routed in AUTHORIZATION_SERVER_PATHS
    ]
    print(json.dumps(entries, indent=2))


def run_probe(args: argparse.Namespace) -> int:
    """Exit 1 if a check failed (warnings alone pass), so it can gate a rollout."""
    parts = urlsplit(args.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        print(
            f"mcp-gatekeeper probe: {args.url!r} is not an MCP URL (https://host[:port]/path)",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    report = asyncio.run(
        probe(args.url, token=args.token, verify=args.ca_file or True, timeout=args.timeout)
    )
    print(report.model_dump_json(indent=2) if args.json else report.text())
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "paths":
        print_paths()
        return 0
    if args.command == "probe":
        return run_probe(args)
    # --host and --port are settings like any other: validated with the file and environment.
    overrides = {
        name: value
        for name, value in (
            ("server.host", getattr(args, "host", None)),
            ("server.port", getattr(args, "port", None)),
        )
        if value is not None
    }
    config = _load_or_report(args.config, overrides)
    if config is None:
        return EXIT_BAD_CONFIG
    if args.command == "check-config":
        hosts = ", ".join(entry.host for entry in config.proxy.hosts)
        print(f"configuration OK: {len(config.proxy.hosts)} MCP host(s): {hosts}")
        return 0
    if args.command == "admin":
        return run_admin(config, args)
    from .server import serve

    serve(config, config_path=args.config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
