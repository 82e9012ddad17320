"""Salesforce's Pub/Sub API (gRPC): stubs generated from Salesforce's own
pubsub_api.proto (CC0, copied here) by scripts/gen_pubsub_stubs.sh.

Import the messages and the client stub from here::

    from connectors.salesforce.pubsub import pubsub_api_pb2 as pb2
    from connectors.salesforce.pubsub import pubsub_api_pb2_grpc as pb2_grpc

    stub = pb2_grpc.PubSubStub(channel)
    stub.GetTopic(pb2.TopicRequest(topic_name="/data/OpportunityChangeEvent"), metadata=...)
"""
