#!/usr/bin/env python3
"""The straightforward pyPreservica way to read an archive's metadata, for `benches/peer.rs`.

List the entities updated in the last century (everything), and for each asset read the
asset and each of its metadata fragments, one call after another. Connection details come
from PEER_SERVER, PEER_USERNAME, PEER_PASSWORD and PEER_TENANT (the emulator's). Prints
`peer.pypreservica_assets N` and `peer.pypreservica_s SECONDS`.
"""

import os
import sys
import time

for var in ("NO_PROXY", "no_proxy"):
    os.environ[var] = ",".join(filter(None, [os.environ.get(var), "127.0.0.1", "localhost"]))

try:
    from pyPreservica import EntityAPI, EntityType
except ImportError as e:  # reported by the benchmark, which then skips the comparison
    sys.exit(f"pyPreservica is not installed ({e}); pip install 'pyPreservica==4.2.2'")

client = EntityAPI(
    username=os.environ["PEER_USERNAME"],
    password=os.environ["PEER_PASSWORD"],
    tenant=os.environ["PEER_TENANT"],
    server=os.environ["PEER_SERVER"],
    protocol="http",
    credentials_path=os.devnull,
)
started = time.monotonic()
count = 0
for entity in client.updated_entities(previous_days=36500):
    if entity.entity_type != EntityType.ASSET:
        continue
    asset = client.asset(entity.reference)
    for url in asset.metadata:
        client.metadata(url)
    count += 1
print(f"peer.pypreservica_assets {count}")
print(f"peer.pypreservica_s {time.monotonic() - started:.2f}")
