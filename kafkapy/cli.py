"""The ``kafkapy`` command: ``kafkapy serve`` starts a broker (and its controller).

``kafkapy serve`` takes Kafka's configuration: a ``server.properties`` file (as
``kafka-server-start.sh server.properties``, or through ``--config``) and any key through
repeated ``--override key=value``, both with Kafka's names; keys the file does not set
have Kafka's defaults. Without a file it starts what Kafka's own quick start does — a
combined broker+controller, node 1, clients on 127.0.0.1:9092, the controller on
127.0.0.1:9093, data in ``./kafkapy-data`` (``--memory`` keeps everything in memory),
with the overrides over those. ``kafkapy storage`` is Kafka's ``kafka-storage.sh``
(:mod:`kafkapy.tools.storage`).

Start-up time matters (a Metadata answer well under 200 ms after the process starts),
so this module imports only the standard library's argument parser; the broker is
imported once the arguments are known.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def parse_properties(text: str) -> dict[str, str]:
    """Parse Java ``.properties`` text (``java.util.Properties.load``) into a dict.

    Handles ``#``/``!`` comments, ``=``, ``:`` or whitespace separators, backslash line
    continuations and the ``\\t \\n \\r \\f \\uXXXX`` escapes. Later keys win.
    """
    props: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        # Join continuation lines: an odd number of trailing backslashes continues.
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(" \t\f")
            i += 1
        if _continues(line):
            line = line[:-1]
        key, value = _split_key_value(line)
        props[_unescape(key)] = _unescape(value)
    return props


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    pos = 0
    n = len(line)
    while pos < n:
        c = line[pos]
        if c == "\\":
            pos += 2
            continue
        if c in "=: \t\f":
            break
        pos += 1
    key = line[:pos]
    rest = line[pos:].lstrip(" \t\f")
    if rest[:1] in ("=", ":") and (pos >= n or line[pos] in " \t\f=:"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(s: str) -> str:
    if "\\" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\" or i + 1 == len(s):
            out.append(c)
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "u" and i + 6 <= len(s):
            out.append(chr(int(s[i + 2 : i + 6], 16)))
            i += 6
        else:
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
    return "".join(out)


def parse_override(item: str) -> tuple[str, str]:
    """Split one ``--override key=value`` argument.

    Raises:
        argparse.ArgumentTypeError: if there is no ``=`` or the key is empty.
    """
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value, got {item!r}")
    return key.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``kafkapy`` command."""
    import kafkapy

    parser = argparse.ArgumentParser(prog="kafkapy", description="A Kafka-compatible broker on trio.")
    parser.add_argument("--version", action="version", version=f"kafkapy {kafkapy.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_arguments(sub.add_parser("serve", help="start a broker (combined broker+controller by default)",
                                    description=_SERVE_DESCRIPTION))
    sub.add_parser("storage", help="format and inspect data directories (Kafka's kafka-storage.sh)",
                   add_help=False, description="kafkapy storage {random-uuid,format,info,version-mapping} ...")
    configs = sub.add_parser("configs", help="print the configuration reference (Markdown)",
                             description="Every configuration kafkapy accepts, with Kafka's names and defaults.")
    configs.add_argument("--scope", choices=["broker", "topic"], help="only one scope's table")
    return parser


_SERVE_DESCRIPTION = "Start a kafkapy node. Configuration uses Apache Kafka's names and defaults."


def _serve_arguments(serve: argparse.ArgumentParser) -> None:
    """``kafkapy serve``'s arguments, on the full parser's subparser or on a parser alone."""
    serve.add_argument("properties", nargs="?", metavar="server.properties",
                       help="a server.properties file (Kafka's format), as kafka-server-start.sh takes it")
    serve.add_argument("--config", metavar="FILE", help="the same file, given as an option")
    serve.add_argument(
        "--override",
        metavar="KEY=VALUE",
        action="append",
        type=parse_override,
        default=[],
        help="set one configuration key; repeatable; wins over --config",
    )
    serve.add_argument("--memory", action="store_true", help="keep all data in memory (nothing on disk)")
    serve.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="logging level (default INFO)",
    )


def serve_properties(config_file: str | None, overrides: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The properties ``kafkapy serve`` runs with: the file, then the overrides.

    Without a file the node fills in the quick-start defaults for keys the overrides
    leave unset (:func:`kafkapy.node.quickstart_properties`); with one, Kafka's defaults.
    """
    props: dict[str, str] = {}
    if config_file is not None:
        with open(config_file, encoding="latin-1") as f:  # Properties.load(InputStream) reads ISO-8859-1
            props.update(parse_properties(f.read()))
    props.update(dict(overrides))
    return props


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kafkapy`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["storage"]:
        from kafkapy.tools.storage import main as storage_main

        return storage_main(argv[1:])
    if argv[:1] == ["serve"]:
        # The serve parser alone, as the full one would make it: each argparse parser
        # costs milliseconds of gettext lookups, and ``kafkapy serve`` starts in under 200 ms.
        parser = argparse.ArgumentParser(prog="kafkapy serve", description=_SERVE_DESCRIPTION)
        _serve_arguments(parser)
        args = parser.parse_args(argv[1:])
        args.command = "serve"
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
    if args.command == "serve":
        if args.properties is not None and args.config is not None:
            parser.error("give the server.properties file once: as an argument or with --config")
        config_file = args.properties if args.properties is not None else args.config
        try:
            props = serve_properties(config_file, args.override)
        except OSError as exc:
            print(f"kafkapy: cannot read config: {exc}", file=sys.stderr)
            return 2
        # No cyclic garbage collection while the node starts (serve_forever turns it
        # back on once the node is ready): importing and opening create objects by the
        # hundred thousand, few of them garbage, and collecting them costs about a tenth
        # of the start (more with 10,000 partitions to load).
        import gc

        gc.disable()
        from kafkapy.node import serve_forever

        return serve_forever(props, memory=args.memory, log_level=args.log_level,
                             quickstart=config_file is None)
    if args.command == "configs":
        from kafkapy.config import Scope
        from kafkapy.config_reference import render, render_all

        print(render(Scope(args.scope)) if args.scope else render_all(), end="\n")
        return 0
    return 2  # unreachable: argparse requires a command


if __name__ == "__main__":
    sys.exit(main())
