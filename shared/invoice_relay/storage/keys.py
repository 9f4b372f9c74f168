"""Key design of the single state table. Every item's PK/SK (and GSI1 keys) are built here and only here.

| item                    | PK                          | SK                              | GSI1PK                      | GSI1SK              |
|-------------------------|-----------------------------|---------------------------------|-----------------------------|---------------------|
| connector configuration | CONNECTOR#<cid>             | CONFIG                          | CONNECTORS                  | <cid>               |
| poll cursor             | CONNECTOR#<cid>             | CURSOR#<name>                   |                             |                     |
| lease (mutual exclusion)| CONNECTOR#<cid>             | LEASE#<name>                    |                             |                     |
| run                     | CONNECTOR#<cid>             | RUN#<started iso>#<run id>      | RUN#<run id>                | RUN                 |
| run / document event    | RUN#<run id>                | EVENT#<iso ts>#<seq>            | DOC#<cid>#<source id>       | <iso ts>            |
| document state          | CONNECTOR#<cid>             | DOC#<source id>                 | DOCSTATE#<cid>#<state> (*) | <updated>#<src id>  |
|   ... by number (GSI2)  |                             |                                 | GSI2PK NUMBER#<number>      | GSI2SK <cid>#<src>  |
| staged batch (a page)   | CONNECTOR#<cid>             | BATCH#<iso ts>#<run id>#<page>  |                             |                     |
| cross reference         | XREF#<cid>#<system>#<key>   | XREF                            |                             |                     |
| OAuth state (CSRF)      | OAUTHSTATE#<state>          | STATE                           |                             |                     |
| bundle                  | CONNECTOR#<cid>             | BUNDLE#<bundle id>              | RUN#<run id>                | BUNDLE#<bundle id>  |
| entry sent in a bundle  | CONNECTOR#<cid>             | BENTRY#<booking entry id>       | BUNDLE#<cid>#<bundle id>    | <entry id>          |
| work held (connector)   | CONNECTOR#<cid>             | HELD#<work key>                 |                             |                     |
| work waiting for a doc  | CONNECTOR#<cid>             | WAIT#<dependency>|<work key>    |                             |                     |
| dead letter             | CONNECTOR#<cid>             | DEAD#<work key>                 |                             |                     |

(*) only while a document waits for a write-back (`exported`, `rejected`): GSI1 is sparse for documents, so
a document on the happy path (staged → done) never writes the index. The export finds its staged documents
through the staged batches, one per archived listing page, in the connector's partition. A document's
log events are queried through GSI1 by DOC#...; a run by id through GSI1 by RUN#.... Work held while
its connector cannot work is queried by the HELD# prefix of the connector's partition. GSI2 (keys only)
answers "where is invoice 1042?" across connectors: a document's number never changes, so its index entry
is written once, when the document is first stored. A dead letter is a delivery the queue gave up on
(`DEAD#`), filed in its connector's partition for the management API to show and replay.
"""

from __future__ import annotations


def connector_pk(connector_id: str) -> str:
    return f"CONNECTOR#{connector_id}"


CONFIG_SK = "CONFIG"
CONNECTORS_INDEX_PK = "CONNECTORS"


def cursor_sk(name: str) -> str:
    return f"CURSOR#{name}"


def lease_sk(name: str) -> str:
    return f"LEASE#{name}"


def run_sk(started_iso: str, run_id: str) -> str:
    return f"RUN#{started_iso}#{run_id}"


def run_index_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def run_events_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def event_sk(iso_ts: str, seq: int) -> str:
    return f"EVENT#{iso_ts}#{seq:06d}"


def document_pk(connector_id: str) -> str:
    return connector_pk(connector_id)


def document_sk(source_id: str) -> str:
    return f"DOC#{source_id}"


STAGED_BATCH_PREFIX = "BATCH#"


def staged_batch_sk(iso_ts: str, run_id: str, page: int) -> str:
    return f"{STAGED_BATCH_PREFIX}{iso_ts}#{run_id}#{page:06d}"


def document_events_index_pk(connector_id: str, source_id: str) -> str:
    return f"DOC#{connector_id}#{source_id}"


def document_state_index_pk(connector_id: str, state: str) -> str:
    return f"DOCSTATE#{connector_id}#{state}"


def document_number_index_pk(number: str) -> str:
    return f"NUMBER#{number}"


def document_number_index_sk(connector_id: str, source_id: str) -> str:
    return f"{connector_id}#{source_id}"


DEAD_LETTER_PREFIX = "DEAD#"


def dead_letter_sk(work_key: str) -> str:
    return f"{DEAD_LETTER_PREFIX}{work_key}"


def xref_pk(connector_id: str, system: str, key: str) -> str:
    return f"XREF#{connector_id}#{system}#{key}"


XREF_SK = "XREF"


def oauth_state_pk(state: str) -> str:
    return f"OAUTHSTATE#{state}"


OAUTH_STATE_SK = "STATE"


def bundle_sk(bundle_id: str) -> str:
    return f"BUNDLE#{bundle_id}"


def bundled_entry_sk(entry_id: str) -> str:
    return f"BENTRY#{entry_id}"


def bundle_entries_index_pk(connector_id: str, bundle_id: str) -> str:
    return f"BUNDLE#{connector_id}#{bundle_id}"


HELD_PREFIX = "HELD#"
WAITING_PREFIX = "WAIT#"


def held_sk(work_key: str) -> str:
    return f"{HELD_PREFIX}{work_key}"


def waiting_prefix(dependency: str) -> str:
    """Sort-key prefix of the work waiting for `dependency`; the `|` ends the dependency, so waiting for
    order 12 never matches work waiting for order 123."""
    return f"{WAITING_PREFIX}{dependency}|"


def waiting_sk(dependency: str, work_key: str) -> str:
    return f"{waiting_prefix(dependency)}{work_key}"
