"""The server side of the on-premises agent relay (issue 15).

An agent (the ``clarity-agent`` program, top-level ``agent/``) runs inside a customer's
network and long-polls ``/agent/v1/poll`` over outbound HTTPS; a connection marked
"through an agent" sends its e.net calls into a Redis queue the agent drains
(``relay``), through a requests transport adapter (``transport``), so the connector's
calls, retries and unknown outcomes keep their meaning. The protocol is in the README's
"On-premises agent" section.
"""
