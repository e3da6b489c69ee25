"""The reference oracle (compat_tests/oracle.py) in the suite: kafkapy's raw answers to
the request corpus, and to the secure corpus (SaslHandshake, SaslAuthenticate, ACLs,
unauthorized requests) under the same settings, equal Apache Kafka's once normalised,
except the differences oracle_differences.toml lists with their reasons. The share-group
and streams-group corpus (compat_tests/oracle_share_streams.py) is compared with Apache
Kafka 4.4.0, the first release that finalizes both features on a new cluster."""

from __future__ import annotations

import re
import shutil

import pytest

from compat_tests import oracle, oracle_share_streams
from compat_tests.brokers import DEPS, java
from tests.reference import needs_reference

_VERSION = oracle_share_streams.VERSION
_SHARE_STREAMS_JAR = DEPS / f"kafka-{_VERSION}" / "libs" / f"kafka_2.13-{_VERSION}.jar"
needs_share_streams_reference = pytest.mark.skipif(
    not _SHARE_STREAMS_JAR.exists() or shutil.which(java()) is None,
    reason=f"Apache Kafka {_VERSION} (compat_tests/install.sh) or java is missing")


def _played(arguments: list[str], corpus: list[oracle.Step], capsys: pytest.CaptureFixture[str]) -> None:
    code = oracle.main(arguments)
    report = capsys.readouterr().out
    assert code == 0, report
    summary = re.search(r"(\d+) same, (\d+) known differences, (\d+) different", report)
    assert summary is not None, report
    same, known, different = map(int, summary.groups())
    assert (different, same + known) == (0, len(corpus)), report  # every step played and compared


@needs_reference
@pytest.mark.parametrize("secure", [False, True], ids=["corpus", "secure-corpus"])
def test_kafkapy_answers_as_apache_kafka(secure: bool, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--start-reference", "--start-kafkapy"] + (["--secure"] if secure else [])
    _played(arguments, oracle.SECURE_CORPUS if secure else oracle.CORPUS, capsys)


@needs_share_streams_reference
def test_kafkapy_answers_share_and_streams_groups_as_apache_kafka(capsys: pytest.CaptureFixture[str]) -> None:
    _played(["--start-reference", "--start-kafkapy", "--share-streams"], oracle_share_streams.CORPUS, capsys)
