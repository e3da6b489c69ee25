"""``kafkapy storage``: Kafka's ``kafka-storage.sh`` (``StorageTool``) for kafkapy nodes.

Verbs and flags are Kafka 4.1's: ``random-uuid``; ``format`` (``--config/-c``,
``--cluster-id/-t``, ``--ignore-formatted/-g``, ``--release-version/-r``,
``--feature/-f``, and one of ``--standalone/-s``, ``--no-initial-controllers/-N``,
``--initial-controllers/-I``); ``info`` (``--config/-c``); ``version-mapping``
(``--release-version/-r``); ``feature-dependencies`` (``--feature/-f``). Output lines, error messages and exit codes (0, or 1 with
the message on standard error) are the tool's. ``--add-scram`` is not offered:
kafkapy has no SCRAM credentials in its metadata.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from kafkapy.tools.formatter import (
    META_PROPERTIES,
    DynamicVoter,
    Formatter,
    FormatterError,
    parse_dynamic_voters,
    random_uuid,
    read_properties_file,
)


class _Parser(argparse.ArgumentParser):
    """argparse4j's behaviour: a usage error exits 1, not 2."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser(prog: str = "kafkapy storage") -> argparse.ArgumentParser:
    """The ``kafkapy storage`` argument parser (``StorageTool.parseArguments``)."""
    parser = _Parser(prog=prog, description="The Kafka storage tool.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    info = sub.add_parser("info", help="Get information about the Kafka log directories on this node.")
    _config_argument(info)
    fmt = sub.add_parser("format", help="Format the Kafka log directories on this node.")
    _config_argument(fmt)
    fmt.add_argument("--cluster-id", "-t", required=True, help="The cluster ID to use.")
    fmt.add_argument("--ignore-formatted", "-g", action="store_true",
                     help="When this option is passed, the format command will skip over already formatted "
                          "directories rather than failing.")
    fmt.add_argument("--release-version", "-r",
                     help="The release version to use for the initial feature settings. The minimum is 3.3-IV3; "
                          "the default is 4.1-IV1")
    fmt.add_argument("--feature", "-f", action="append", default=[],
                     help="The setting to use for a specific feature, in feature=level format. For example: "
                          "`kraft.version=1`.")
    fmt.add_argument("--add-scram", "-S", action="append", default=[],
                     help="A SCRAM_CREDENTIAL to add to the __cluster_metadata log e.g. "
                          "'SCRAM-SHA-256=[name=alice,password=alice-secret]' "
                          "'SCRAM-SHA-512=[name=alice,iterations=8192,salt=\"N3E=\",saltedpassword=\"YCE=\"]'")
    quorum = fmt.add_mutually_exclusive_group()
    quorum.add_argument("--standalone", "-s", action="store_true",
                        help="Used to initialize a controller as a single-node dynamic quorum. When setting this "
                             "flag, the controller.quorum.voters config must not be set, and "
                             "controller.quorum.bootstrap.servers is set instead.")
    quorum.add_argument("--no-initial-controllers", "-N", action="store_true",
                        help="Used to initialize a server without specifying a dynamic quorum. When setting this "
                             "flag, the controller.quorum.voters config should not be set, and "
                             "controller.quorum.bootstrap.servers is set instead.")
    quorum.add_argument("--initial-controllers", "-I",
                        help="Used to initialize a server with the specified dynamic quorum. The argument is a "
                             "comma-separated list of id@hostname:port:directory. The same values must be used "
                             "to format all nodes.")
    mapping = sub.add_parser("version-mapping", help="Look up the corresponding features for a given metadata "
                             "version.")
    mapping.add_argument("--release-version", "-r", help="The release version to use for the corresponding "
                         "feature mapping. The minimum is 3.3-IV3; the default is 4.1-IV1")
    dependencies = sub.add_parser("feature-dependencies", help="Look up dependencies for a given feature "
                                  "version. If the feature is not known or the version not yet defined, an error "
                                  "is thrown. Multiple features can be specified.")
    dependencies.add_argument("--feature", "-f", action="append", required=True,
                              help="The features and their versions to look up dependencies for, in "
                                   "feature=version format. For example: `metadata.version=5`.")
    sub.add_parser("random-uuid", help="Print a random UUID.")
    return parser


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", "-c", required=True, help="The Kafka configuration file to use.")


def load_config(path: str) -> Any:
    """The ``BrokerConfig`` of a ``server.properties`` file (no quick-start defaults).

    Raises:
        FormatterError: the file cannot be read or holds a bad value.
    """
    from kafkapy.cli import serve_properties
    from kafkapy.config import BrokerConfig, ConfigError

    try:
        return BrokerConfig.from_properties(serve_properties(path, ()))
    except OSError as exc:
        raise FormatterError(f"Cannot read {path}: {exc.strerror or exc}") from None
    except ConfigError as exc:
        raise FormatterError(str(exc)) from None


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run one ``kafkapy storage`` command; the exit status (``StorageTool.main``)."""
    stream = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        if args.command == "random-uuid":
            print(random_uuid(), file=stream)
            return 0
        if args.command == "version-mapping":
            return version_mapping(args.release_version, stream)
        if args.command == "feature-dependencies":
            return feature_dependencies(args.feature, stream)
        config = load_config(args.config)
        if args.command == "info":
            return info(config, stream)
        run_format(args, config, stream)
        return 0
    except FormatterError as exc:
        print(exc, file=sys.stderr)
        return 1


def run_format(args: argparse.Namespace, config: Any, stream: TextIO) -> None:
    """``StorageTool.runFormatCommand``: check the flags against the configuration, then format.

    Raises:
        FormatterError: with Kafka's message.
    """
    from kafkapy.tools.node_storage import metadata_log_dir
    from kafkapy.tools.scram_arguments import parse_add_scram

    if not config.process_roles:
        raise FormatterError("The kafka configuration file appears to be for a legacy cluster. Formatting is "
                             "only supported for clusters in KRaft mode.")
    if config.node_id is None or config.node_id < 0:
        raise FormatterError("You must specify a valid non-negative node ID.")
    if not config.controller_listeners:
        raise FormatterError("You must specify the name of the initial controller listener.")
    static = bool(config.controller_quorum_voters)
    initial: dict[int, DynamicVoter] | None = None
    if args.initial_controllers is not None:
        try:
            initial = parse_dynamic_voters(args.initial_controllers)
        except ValueError as exc:
            raise FormatterError(str(exc)) from None
    if args.standalone:
        initial = _standalone_voter(config)
    if (args.standalone or args.initial_controllers is not None) and static:
        raise FormatterError("You cannot specify controller.quorum.voters and format the node with "
                             "--initial-controllers or --standalone. If you want to use dynamic quorum, please "
                             "remove controller.quorum.voters and specify controller.quorum.bootstrap.servers "
                             "instead.")
    if not args.no_initial_controllers and "controller" in config.process_roles and not static and initial is None:
        raise FormatterError("Because controller.quorum.voters is not set on this controller, you must specify "
                             "one of the following: --standalone, --initial-controllers, or "
                             "--no-initial-controllers.")
    features: dict[str, int] = {}
    for item in args.feature:
        name, sep, level = item.partition("=")
        if not sep:
            raise FormatterError(f"Can't parse feature=level string {item}: equals sign not found.")
        if not level.strip().lstrip("-").isdigit():
            raise FormatterError(f"Can't parse feature=level string {item}: unable to parse {level.strip()} "
                                 "as a short.")
        features[name.strip()] = int(level)
    formatter = Formatter(
        node_id=config.node_id, cluster_id=args.cluster_id, directories=config.data_dirs,
        metadata_log_dir=metadata_log_dir(config), controller_listener=config.controller_listeners[0],
        release_version=args.release_version, features=features, initial_controllers=initial,
        ignore_formatted=args.ignore_formatted, static_voters=static,
        scram_records=parse_add_scram(args.add_scram),
        out=lambda line: print(line, file=stream))
    formatter.run()


def _standalone_voter(config: Any) -> dict[int, DynamicVoter]:
    """``createStandaloneDynamicVoters``: this node on its first advertised controller listener."""
    from kafkapy.server.listeners import parse_listeners

    if "controller" not in config.process_roles:
        raise FormatterError("You can only use --standalone on a controller.")
    name = config.controller_listeners[0]
    advertised = [lst for lst in parse_listeners(config.advertised_listeners or "") if lst.name == name]
    bound = [lst for lst in parse_listeners(config.listeners) if lst.name == name]
    listener = (advertised or bound or [None])[0]
    if listener is None:
        raise FormatterError("No controller listeners found.")
    return {config.node_id: DynamicVoter(config.node_id, listener.host or "localhost", listener.port, random_uuid())}


def info(config: Any, stream: TextIO) -> int:
    """``StorageTool.infoCommand``: the directories, the first ``meta.properties``, problems."""
    from kafkapy.tools.node_storage import storage_directories

    directories = storage_directories(config)
    problems: list[str] = []
    found: list[str] = []
    first: dict[str, str] | None = None
    for directory in directories:
        if not os.path.isdir(directory):
            problems.append(f"{directory} {'is not a directory' if os.path.exists(directory) else 'does not exist'}")
            continue
        found.append(directory)
        try:
            props = read_properties_file(os.path.join(directory, META_PROPERTIES))
        except OSError as exc:
            problems.append(f"Error loading {os.path.join(directory, META_PROPERTIES)}: {exc}")
            continue
        if props is None:
            problems.append(f"{directory} is not formatted.")
        elif first is None:
            first = props
        elif first.get("cluster.id") != props.get("cluster.id"):
            problems.append("Mismatched cluster IDs between storage directories.")
        elif first.get("node.id") != props.get("node.id"):
            problems.append("Mismatched node IDs between storage directories.")
    if first is not None and first.get("version") == "0":
        problems.append("The kafka configuration file appears to be for a cluster in KRaft mode, but the "
                        "directories are formatted for legacy mode.")
    if not directories:
        print("No directories specified.", file=stream)
        return 0
    if found:
        print("Found log directory:" if len(found) == 1 else "Found log directories:", file=stream)
        for directory in found:
            print(f"  {directory}", file=stream)
        print("", file=stream)
    if first is not None:
        shown = ", ".join(f"{key}={value}" for key, value in sorted(first.items()))
        print(f"Found metadata: {{{shown}}}", file=stream)
        print("", file=stream)
    if problems:
        print("Found problem:" if len(problems) == 1 else "Found problems:", file=stream)
        for problem in problems:
            print(f"  {problem}", file=stream)
        print("", file=stream)
        return 1
    return 0


def version_mapping(release: str | None, stream: TextIO) -> int:
    """``StorageTool.runVersionMappingCommand``: ``metadata.version`` and each feature's default."""
    from kafkapy.kraft.metadata.features import METADATA_VERSION_DEFAULT
    from kafkapy.tools.versions import FEATURE_MAX, default_level, metadata_version_level, release_name

    release = release or release_name(METADATA_VERSION_DEFAULT)
    try:
        level = metadata_version_level(release)
    except ValueError as exc:
        raise FormatterError(str(exc)) from None
    print(f"metadata.version={level} ({release})", file=stream)
    for name in FEATURE_MAX:
        print(f"{name}={default_level(name, level)}", file=stream)
    return 0


def feature_dependencies(features: Sequence[str], stream: TextIO) -> int:
    """``StorageTool.runFeatureDependenciesCommand``; the features kafkapy implements
    depend on no other (Kafka's ``TransactionVersion``, ``GroupVersion``, ``KRaftVersion``)."""
    from kafkapy.kraft.metadata.features import METADATA_VERSION
    from kafkapy.tools.versions import FEATURE_MAX, RELEASE_VERSIONS, release_name

    for item in features:
        name, _, level_text = item.partition("=")
        try:
            level = int(level_text)
        except ValueError:
            raise FormatterError(f"Invalid version format: {level_text} for feature {name}") from None
        if name == METADATA_VERSION:
            if level not in RELEASE_VERSIONS.values():
                raise FormatterError(f"Unknown metadata.version {level}")
            print(f"{name}={level} ({release_name(level)}) has no dependencies.", file=stream)
        elif name in FEATURE_MAX:
            if not 0 <= level <= FEATURE_MAX[name]:
                raise FormatterError(f"Feature level {level} is not supported for feature {name}")
            print(f"{name}={level} has no dependencies.", file=stream)
        else:
            raise FormatterError(f"Unknown feature: {name}")
    return 0


__all__ = ["build_parser", "feature_dependencies", "info", "load_config", "main", "run_format", "version_mapping"]
