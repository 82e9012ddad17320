"""clarity-agent: relays Clarity Connect's SYSPRO e.net calls from inside a customer's network.

It opens no port: it long-polls the Clarity Connect server over outbound HTTPS, checks
every relayed call against its own configuration (only its SYSPRO e.net base URLs, only
e.net's paths, bounded sizes and times), performs it, and posts the answer back. In the
recommended mode it holds the SYSPRO operator's password and logs on itself, so the
password and the session id never leave the customer's network. Standard library and
``requests`` only, so it installs with pip on Windows and Linux.
"""

__version__ = "1.0.0"
