"""CRC-32C (Castagnoli), the checksum of record batches and producer snapshots.

The function is the C extension of the ``crc32c`` package, loaded without running the
package's ``__init__``: that reads the package's own version through
``importlib.metadata`` and imports its command-line module, about 30 ms of a start-up
that should answer its first Metadata request within 200 ms. If the extension cannot be
found that way the package is imported as usual.
"""

from __future__ import annotations

from collections.abc import Callable


def _load() -> Callable[..., int]:
    import importlib.machinery
    import importlib.util
    import os

    try:
        package = importlib.util.find_spec("crc32c")  # finds, does not import
        if package is not None and package.origin is not None:
            directory = os.path.dirname(package.origin)
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = os.path.join(directory, "_crc32c" + suffix)
                if os.path.exists(path):
                    spec = importlib.util.spec_from_file_location("crc32c._crc32c", path)
                    if spec is None or spec.loader is None:
                        break
                    module = importlib.util.module_from_spec(spec)
                    spec.loader.exec_module(module)
                    return module.crc32c  # type: ignore[no-any-return]
    except (ImportError, OSError):
        pass
    from crc32c import crc32c as packaged

    return packaged


#: ``crc32c(data, value=0) -> int``, as the ``crc32c`` package's.
crc32c = _load()
