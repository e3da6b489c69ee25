"""Apache Kafka's JSON message schemas, as they ship inside its jars on Maven Central.

``python -m tools.schema_jars`` puts the jars below in ``compat_tests/.deps/schemas-<version>/``
(not committed), each checked against the SHA-1 pinned here, which is the one Maven Central
publishes next to the jar (``<jar>.sha1``). A jar the reference broker's libs already hold
(``compat_tests/.deps/kafka-<version>/libs``) is copied from there instead of downloaded.
``tools/gen_messages.py`` reads the schemas straight out of the jars.

Where Kafka keeps them (4.4.0):
  * kafka-clients: every request/response and the client-side data schemas
    (``common/message``: consumer protocol, control records, KRaft snapshot records);
  * kafka-metadata: the ``__cluster_metadata`` record types (``common/metadata``);
  * kafka-raft: ``QuorumStateData`` (the quorum-state file);
  * kafka-group-coordinator: the ``__consumer_offsets`` records of classic, consumer,
    share and streams groups;
  * kafka-share-coordinator: the ``__share_group_state`` snapshot and update records;
  * kafka-transaction-coordinator: the ``__transaction_state`` records.
kafka-server-common holds no schema (its MetadataVersion is Java code), so it is not here.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from zipfile import ZipFile

ROOT = Path(__file__).resolve().parent.parent
KAFKA_VERSION = "4.4.0"
CACHE = ROOT / "compat_tests" / ".deps" / f"schemas-{KAFKA_VERSION}"
REFERENCE_LIBS = ROOT / "compat_tests" / ".deps" / f"kafka-{KAFKA_VERSION}" / "libs"
MAVEN = "https://repo1.maven.org/maven2/org/apache/kafka"

#: artifact -> SHA-1 of its 4.4.0 jar, as published by Maven Central.
JARS: dict[str, str] = {
    "kafka-clients": "1d2ebc2a3f0ecce03faa288c42d4e8f998aac47d",
    "kafka-metadata": "5ade78a65abb3870b33f669a5a0b449de52093a2",
    "kafka-raft": "a8da7a1d71c6b4ad3f96cdb3af977df216d595df",
    "kafka-group-coordinator": "07dfc73a2de9499589557071cbd595f6e14694eb",
    "kafka-share-coordinator": "3e4b92a3a179eb435f3807b567a83611b4eb0baf",
    "kafka-transaction-coordinator": "32fc9c405002f44bc06eb266df42fa82dde13823",
}


def jar_path(artifact: str) -> Path:
    return CACHE / f"{artifact}-{KAFKA_VERSION}.jar"


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def missing() -> list[str]:
    """The artifacts whose jar is absent from the cache or differs from the pinned one."""
    return [a for a, sha in JARS.items() if not jar_path(a).exists() or _sha1(jar_path(a)) != sha]


def fetch() -> None:
    """Bring every jar into the cache, verified; raise if one cannot be had intact."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for artifact in missing():
        sha, dest = JARS[artifact], jar_path(artifact)
        tmp = dest.with_suffix(".part")
        local = REFERENCE_LIBS / dest.name
        if local.exists() and _sha1(local) == sha:
            shutil.copyfile(local, tmp)
        else:
            url = f"{MAVEN}/{artifact}/{KAFKA_VERSION}/{dest.name}"
            with urllib.request.urlopen(url + ".sha1", timeout=60) as r:
                published = r.read().decode().split()[0]
            if published != sha:
                raise RuntimeError(f"{url}.sha1 says {published}, pinned {sha}")
            with urllib.request.urlopen(url, timeout=300) as r, open(tmp, "wb") as out:
                shutil.copyfileobj(r, out)
        if _sha1(tmp) != sha:
            tmp.unlink()
            raise RuntimeError(f"{dest.name}: SHA-1 differs from Maven Central's {sha}")
        tmp.replace(dest)


def schema_files() -> Iterator[tuple[str, str, str]]:
    """Every schema: (artifact, path inside the jar, JSON text), jars in ``JARS`` order."""
    for artifact in JARS:
        with ZipFile(jar_path(artifact)) as z:
            for name in sorted(z.namelist()):
                if name.endswith(".json") and name.startswith("common/"):
                    yield artifact, name, z.read(name).decode()


if __name__ == "__main__":
    fetch()
    print(f"Kafka {KAFKA_VERSION} schema jars verified in {CACHE}")
    sys.exit(0)
