"""The SYSPRO sandbox (e.net REST service): ``app`` (routes and business objects),
``auth`` (logon and sessions), ``schema`` (tables, keys, awkward records), ``query``
(the XML ``Where`` of COMFND/COMBRW) and ``seed`` (the demo data)."""
