"""StoreComposer: what the configured store offers, collected once at start (tusd's StoreComposer).

The service asks the composer, never the store, whether a capability is there: each one is a
field that is None when the store lacks it, so a request costs no isinstance check. The
``Tus-Extension`` header is derived from the same fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ..protocol import constants as c
from ..protocol.errors import FeatureNotImplemented
from .ports import (
    Concater,
    Expirer,
    LengthDeferrer,
    PlaintextDiscarder,
    RangeReader,
    Store,
    Terminater,
    UploadLister,
)

T = TypeVar("T")


@dataclass(frozen=True)
class StoreComposer:
    core: Store
    terminater: Terminater | None = None
    concater: Concater | None = None
    length_deferrer: LengthDeferrer | None = None
    expirer: Expirer | None = None
    reader: RangeReader | None = None
    discarder: PlaintextDiscarder | None = None
    lister: UploadLister | None = None

    @classmethod
    def of(cls, store: Store) -> StoreComposer:
        """Every capability ``store`` implements (its class is asked once, here)."""
        return cls(
            core=store,
            terminater=store if isinstance(store, Terminater) else None,
            concater=store if isinstance(store, Concater) else None,
            length_deferrer=store if isinstance(store, LengthDeferrer) else None,
            expirer=store if isinstance(store, Expirer) else None,
            reader=store if isinstance(store, RangeReader) else None,
            discarder=store if isinstance(store, PlaintextDiscarder) else None,
            lister=store if isinstance(store, UploadLister) else None,
        )

    @property
    def expires(self) -> bool:
        """Uploads can carry an expiry: stored by the expirer, removed by the terminater."""
        return self.expirer is not None and self.terminater is not None

    def extensions(self, *, expiry_seconds: float) -> list[str]:
        """``Tus-Extension``, in the order of ``protocol.constants.ALL_EXTENSIONS``. Creation
        (with upload) is the core, checksums are verified by the service for every store."""
        offered = {
            c.EXT_CREATION: True,
            c.EXT_CREATION_WITH_UPLOAD: True,
            c.EXT_CREATION_DEFER_LENGTH: self.length_deferrer is not None,
            c.EXT_TERMINATION: self.terminater is not None,
            c.EXT_CHECKSUM: True,
            c.EXT_EXPIRATION: self.expires and expiry_seconds > 0,
            c.EXT_CONCATENATION: self.concater is not None,
        }
        return [name for name in c.ALL_EXTENSIONS if offered[name]]

    def capabilities(self) -> str:
        """One line for the startup log: ``terminater=yes concater=no ...``."""
        names = ("terminater", "concater", "length_deferrer", "expirer", "reader", "discarder", "lister")
        return " ".join(f"{name}={'yes' if getattr(self, name) is not None else 'no'}" for name in names)


def require(capability: T | None, what: str) -> T:
    """The capability, or 501 ERR_NOT_IMPLEMENTED naming what the store cannot do (tusd)."""
    if capability is None:
        raise FeatureNotImplemented(f"this server's upload store does not support {what}")
    return capability
