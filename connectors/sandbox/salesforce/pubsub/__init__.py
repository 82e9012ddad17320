"""The Salesforce sandbox's Pub/Sub API: Salesforce's gRPC event API on loopback.

``schemas`` builds the Avro schemas of change events and platform events and encodes
them; ``stream`` keeps the org's event bus (replay ids, retention) and turns committed
writes into change events; ``server`` serves ``GetTopic``, ``GetSchema`` and
``Subscribe`` with the generated stubs in ``connectors/salesforce/pubsub/``.
"""
