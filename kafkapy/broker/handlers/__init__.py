"""One module per API family, each opening with its API key, versions and what is not
implemented (kfake's layout); :data:`kafkapy.broker.registry.API_TABLE` lists them.

A module is imported on the first request of one of its APIs, not with this package
(:mod:`kafkapy.broker.registry`), so that a node starts answering sooner; handlers of
the first requests (ApiVersions, Metadata) import their message classes when first
called for the same reason.
"""
