"""The reference oracle (compat_tests/oracle.py) in the suite: kafkapy's raw answers to
the request corpus, and to the secure corpus (SaslHandshake, SaslAuthenticate, ACLs,
unauthorized requests) under the same settings, equal Apache Kafka 4.1.2's once
normalised, except the differences oracle_differences.toml lists with their reasons."""

from __future__ import annotations

import re

import pytest

from compat_tests import oracle
from tests.reference import needs_reference

pytestmark = needs_reference


@pytest.mark.parametrize("secure", [False, True], ids=["corpus", "secure-corpus"])
def test_kafkapy_answers_as_apache_kafka(secure: bool, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--start-reference", "--start-kafkapy"] + (["--secure"] if secure else [])
    code = oracle.main(arguments)
    report = capsys.readouterr().out
    assert code == 0, report
    summary = re.search(r"(\d+) same, (\d+) known differences, (\d+) different", report)
    assert summary is not None, report
    same, known, different = map(int, summary.groups())
    corpus = oracle.SECURE_CORPUS if secure else oracle.CORPUS
    assert (different, same + known) == (0, len(corpus)), report  # every step played and compared
